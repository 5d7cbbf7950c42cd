from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rag.errors import IndexMismatchError
from rag.store import MANIFEST, open_index, read_manifest
from tests.conftest import ROOT, SEED, seed_line


def test_round_trip(seed_app, embedder):
    reader = open_index(seed_app.index_dir, embedder.name, embedder.dimension)
    manifest = reader.manifest
    assert manifest.embedder == "all-MiniLM-L6-v2" and manifest.dimension == 384
    assert manifest.counts["articles"] == 1 and manifest.counts["chunks"] == reader.size > 0
    assert manifest.chunking["chunk_tokens"] == 160
    [(key, source)] = manifest.sources.items()
    assert key == str(SEED.resolve()) and len(source["sha256"]) == 64
    [article] = reader.articles()
    assert article.quote(12, 12) == seed_line(12)
    # The stored vectors are the embedder's, normalised: the chunk finds itself first.
    chunk = reader.chunks([0])[0]
    query = embedder.embed([chunk.embed_text])[0]
    assert np.isclose(np.linalg.norm(reader.vectors([0])[0]), 1.0, atol=1e-4)
    assert reader.search(query, 1)[0][0] == 0
    # Nothing on disk is a pickle: the manifest is JSON, metadata is SQLite.
    files = {p.name for p in seed_app.index_dir.iterdir()}
    assert MANIFEST in files and manifest.vectors_file in files and manifest.chunks_file in files
    reader.close()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("embedder", {"name": "some/other-model", "dimension": 384}, "embedder"),
     ("embedder", {"name": "all-MiniLM-L6-v2", "dimension": 768}, "768-dimensional"),
     ("format_version", 99, "format version 99")],
)
def test_mismatched_index_says_to_reindex(make_app, embedder, field, value, message, tmp_path):
    app = make_app()
    app.index([SEED], progress=False)
    path = app.index_dir / MANIFEST
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match=message) as info:
        open_index(app.index_dir, embedder.name, embedder.dimension)
    assert "re-index" in str(info.value)
    with pytest.raises(IndexMismatchError, match="re-index"):
        app.ask("Who was killed at Camp Taji?")


def test_failed_build_leaves_the_previous_index(make_app, monkeypatch, tmp_path):
    app = make_app()
    app.index([SEED], progress=False)
    before = read_manifest(app.index_dir)
    extra = tmp_path / "extra.txt"
    extra.write_text("Flood hits Harwick\n\nThe river rose two metres overnight in Harwick.", encoding="utf-8")

    import rag.store

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rag.store, "_write_sqlite", explode)
    with pytest.raises(OSError, match="disk full"):
        app.index([SEED, extra], progress=False)
    monkeypatch.undo()
    after = read_manifest(app.index_dir)
    assert after.generation == before.generation and after.sources == before.sources
    assert not [p for p in app.index_dir.iterdir() if ".tmp" in p.name]
    answer = app.ask("Who was killed at Camp Taji?")
    assert any(c.line_start <= 12 <= c.line_end for c in answer.citations)


def test_killed_build_leaves_the_previous_index(seed_index_dir, tmp_path, embedder):
    """A real `rag index` process killed with SIGKILL while it embeds a large folder."""
    index_dir = tmp_path / "index"
    import shutil

    shutil.copytree(seed_index_dir, index_dir)
    before = read_manifest(index_dir)
    folder = tmp_path / "many"
    folder.mkdir()
    base = SEED.read_text(encoding="utf-8")
    for i in range(300):
        (folder / f"copy{i:03d}.txt").write_text(f"Copy {i}\n\n{base}\n\nEdition {i}.", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "index", str(folder), "--index-dir", str(index_dir), "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        time.sleep(12)
        assert process.poll() is None, "the build finished before it could be killed; give it more work"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    after = read_manifest(index_dir)
    assert after.generation == before.generation and after.counts == before.counts
    reader = open_index(index_dir, embedder.name, embedder.dimension)
    assert reader.size == before.counts["chunks"]
    reader.close()
