"""rag/index/manifest_check.py: a manifest is read only when each field has the type the index needs; a damaged
one is refused with the field's name (the store turns that into "re-index" advice)."""

from __future__ import annotations

import copy
import json

import pytest

from rag.index.manifest_check import checked


@pytest.fixture(scope="module")
def manifest(seed_index_dir) -> dict:
    return json.loads((seed_index_dir / "manifest.json").read_text(encoding="utf-8"))


def test_a_real_manifest_passes_unchanged(manifest):
    found = checked(manifest)
    assert found["embedder"] == manifest["embedder"] and found["generation"] == manifest["generation"]
    assert found["segments"] and found["vector_store"]["backend"] == "faiss"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(generation=-1), "generation"),
        (lambda m: m["embedder"].update(dimension="384"), "embedder.dimension"),
        (lambda m: m.update(vector_store={"backend": "faiss", "file": "../../etc/passwd"}), "may never leave it"),
        (lambda m: m.update(vector_store={"backend": "chroma"}), "not 'faiss' or 'milvus'"),
        (lambda m: m.update(sources=["a.txt"]), "sources"),
        (lambda m: m.pop("embedder"), "embedder"),
    ],
)
def test_a_damaged_field_is_named(manifest, change, message):
    damaged = copy.deepcopy(manifest)
    change(damaged)
    with pytest.raises(ValueError, match=message):
        checked(damaged)
    with pytest.raises(ValueError, match="the manifest"):
        checked(["not", "a", "dict"])
