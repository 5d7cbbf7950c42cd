"""Shared fixtures: one real embedder per session, the seed article, and indexes built from it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.api import Citeline
from rag.embed.embedding import Embedder
from rag.settings import Settings

# The vector backends a test runs against: Milvus Lite starts a server process of its own, so its variants are in
# the slow tier (the fast tier keeps one Milvus Lite store, in tests/test_store.py).
BACKENDS = ("faiss", pytest.param("milvus", marks=pytest.mark.slow, id="milvus"))

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED = next(SEEDS.glob("*.txt"))
BENCH = ROOT.parent / "shared" / "bench"
# The ONNX export of the embedder is made once and reused by every test and every `rag` subprocess.
os.environ.setdefault("CITELINE_MODEL_CACHE", str(ROOT / ".cache" / "models"))


def seed_line(number: int) -> str:
    return SEED.read_text(encoding="utf-8").split("\n")[number - 1]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    model = Embedder(cache_dir=os.environ["CITELINE_MODEL_CACHE"])
    model.warm_up()
    return model


@pytest.fixture
def make_app(embedder, tmp_path):
    """A Citeline on a fresh index folder, sharing the session's embedder."""

    def make(index_dir: Path | None = None, **settings) -> Citeline:
        return Citeline(Settings(index_dir=index_dir or tmp_path / "index", **settings), embedder=embedder)

    return make


@pytest.fixture(scope="session")
def seed_app(embedder, tmp_path_factory) -> Citeline:
    """An index of the seed article, built once."""
    index_dir = tmp_path_factory.mktemp("seed-index")
    app = Citeline(Settings(index_dir=index_dir), embedder=embedder)
    app.index([SEEDS], progress=False)
    return app


@pytest.fixture(scope="session")
def seed_index_dir(seed_app) -> Path:
    return seed_app.index_dir


def run_rag(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """The real `rag` command, as a user runs it."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], cwd=cwd or ROOT, env=full_env, capture_output=True, text=True,
        timeout=timeout,
    )


def ask_json(*args: str, **kwargs) -> dict:
    result = run_rag("ask", *args, "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def milvus_collections(index_dir) -> dict[str, int]:
    """Collections in the index's Milvus Lite file, with their row counts, read through the real client."""
    from rag.index import milvus_store

    uri = str(index_dir / "milvus.db")
    client = milvus_store.connect(uri)
    try:
        return {name: int(client.get_collection_stats(name)["row_count"]) for name in client.list_collections()}
    finally:
        milvus_store.disconnect(client, uri)


@pytest.fixture
def copy_seeds(tmp_path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(SEEDS, target)
    return target
