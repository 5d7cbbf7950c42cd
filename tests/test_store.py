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


@pytest.fixture
def big_build(seed_index_dir, tmp_path):
    """A copy of the seed index, and a folder of 300 distinct articles whose indexing takes a while."""
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
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
        yield index_dir, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.mark.parametrize("seconds", [2, 9])
def test_killed_build_leaves_the_previous_index(big_build, embedder, seconds):
    """A real `rag index` killed with SIGKILL while it loads the model (2 s) and while it embeds (9 s)."""
    index_dir, process = big_build
    before = read_manifest(index_dir)
    time.sleep(seconds)
    assert process.poll() is None, "the build finished before it could be killed; give it more work"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    after = read_manifest(index_dir)
    assert after.generation == before.generation and after.counts == before.counts
    reader = open_index(index_dir, embedder.name, embedder.dimension)
    assert reader.size == before.counts["chunks"] and len(reader.articles()) == 1
    reader.close()


def test_a_running_build_refuses_a_second_and_questions_still_answer(big_build):
    index_dir, process = big_build
    time.sleep(6)
    assert process.poll() is None
    second = subprocess.run([sys.executable, "-m", "rag", "index", str(SEED), "--index-dir", str(index_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and "another `rag index`" in second.stderr and "Traceback" not in second.stderr
    asked = subprocess.run([sys.executable, "-m", "rag", "ask", "Who was killed at Camp Taji?", "--json",
                            "--index-dir", str(index_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert asked.returncode == 0, asked.stderr
    assert any(c["line_start"] == 12 for c in json.loads(asked.stdout)["citations"])
    assert process.poll() is None, "the answer came while the build was still running"
