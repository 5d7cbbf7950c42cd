from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date

import numpy as np
import pytest

from rag.api import Citeline
from rag.errors import CitelineError, IndexMismatchError, IndexWriteError, SettingsError
from rag.index.store import MANIFEST, open_index, read_manifest
from rag.settings import Settings
from tests.conftest import BACKENDS, ROOT, SEED, milvus_collections, run_rag, seed_line


@pytest.fixture(scope="module", params=["faiss", "milvus"])
def seed_store(request, embedder, tmp_path_factory):
    """The seed article indexed into each vector store."""
    app = Citeline(Settings(index_dir=tmp_path_factory.mktemp(f"seed-{request.param}"), vector_store=request.param),
                   embedder=embedder)
    app.index([SEED], progress=False)
    yield app
    app.close()


def test_round_trip(seed_store, embedder):
    reader = open_index(seed_store.index_dir, embedder.name, embedder.dimension)
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
    assert np.allclose(reader.all_vectors()[[0]], reader.vectors([0]), atol=1e-6)
    # Nothing on disk is a pickle: the manifest is JSON, metadata is SQLite, vectors FAISS's format or Milvus's.
    files = {p.name for p in seed_store.index_dir.iterdir()}
    assert MANIFEST in files and manifest.segments[0].chunks_file in files
    store = manifest.vector_store
    if store["backend"] == "faiss":
        # Only the chunks that were embedded (the first dense_chunks of the article) are in the FAISS file.
        assert store == {"backend": "faiss", "file": "vectors-000001.faiss", "index": "flat", "rows": reader.size,
                         "vectors": 4} and store["file"] in files
    else:
        assert store == {"backend": "milvus", "uri": "milvus.db", "prefix": "citeline",
                         "collection": "citeline_g000001", "metric": "IP", "index": "flat", "vectors": 4}
        assert milvus_collections(seed_store.index_dir) == {"citeline_g000001": 4}
        assert not [name for name in files if name.startswith("vectors-")]
    assert json.loads((seed_store.index_dir / MANIFEST).read_text())["vector_store"] == store
    reader.close()


def test_a_manifest_without_a_vector_store_record_is_a_flat_faiss_index(seed_app, embedder, tmp_path):
    """Indexes written before the vector store record (same format version) still open."""
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(seed_app.index_dir, index_dir)
    data = json.loads((index_dir / MANIFEST).read_text())
    del data["vector_store"]
    (index_dir / MANIFEST).write_text(json.dumps(data))
    reader = open_index(index_dir, embedder.name, embedder.dimension)
    assert reader.manifest.vector_store == {"backend": "faiss", "index": "flat"}
    assert reader.size == data["counts"]["chunks"] and reader.search(reader.vectors([1])[0], 1)[0][0] == 1
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


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stage", ["write_sqlite", "atomic_write_text"])  # before and after the vectors are written
def test_failed_build_leaves_the_previous_index(make_app, monkeypatch, tmp_path, backend, stage):
    app = make_app(vector_store=backend)
    app.index([SEED], progress=False)
    before = read_manifest(app.index_dir)
    extra = tmp_path / "extra.txt"
    extra.write_text("Flood hits Harwick\n\nThe river rose two metres overnight in Harwick.", encoding="utf-8")

    import rag.index.segments

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rag.index.segments, stage, explode)
    with pytest.raises(IndexWriteError, match=r"cannot write the index.*disk full.*unchanged"):
        app.index([SEED, extra], progress=False)
    monkeypatch.undo()
    after = read_manifest(app.index_dir)
    assert after.generation == before.generation and after.sources == before.sources
    assert not [p for p in app.index_dir.iterdir() if ".tmp" in p.name or p.name == "vectors-000002.faiss"]
    if backend == "milvus":
        assert set(milvus_collections(app.index_dir)) == {"citeline_g000001"}
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
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        yield index_dir, process
    finally:  # the build and the workers it started (spaCy's outlive a killed parent otherwise)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait_for_temporary_files(index_dir, process, timeout: float = 240.0) -> bool:
    """True as soon as the build has started writing its new generation (temporary files beside the index)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if any(".tmp" in p.name for p in index_dir.iterdir()):
            return True
        time.sleep(0.002)
    return False


@pytest.mark.parametrize("point", ["starting", "loading the model", "embedding", "writing"])
@pytest.mark.slow
def test_killed_build_leaves_the_previous_index(big_build, embedder, point, tmp_path):
    """A real `rag index` killed with SIGKILL at several moments: while Python starts (0.3 s), while it loads the
    model (2 s), while it embeds (9 s), and the moment its new generation's files appear."""
    index_dir, process = big_build
    before = read_manifest(index_dir)
    if point == "writing":
        assert _wait_for_temporary_files(index_dir, process), "the build never started writing"
    else:
        time.sleep({"starting": 0.3, "loading the model": 2, "embedding": 9}[point])
    assert process.poll() is None, "the build finished before it could be killed; give it more work"
    os.killpg(process.pid, signal.SIGKILL)  # as `kill -9` of a job: the build and its workers
    process.wait(timeout=30)
    after = read_manifest(index_dir)
    assert after.generation == before.generation and after.counts == before.counts
    reader = open_index(index_dir, embedder.name, embedder.dimension)
    assert reader.size == before.counts["chunks"] and len(reader.articles()) == 1
    assert reader.bm25.size == reader.size and reader.search(reader.vectors([0])[0], 1)[0][0] == 0
    reader.close()
    # The next build goes through and clears what the killed one left.
    extra = tmp_path / "extra.txt"
    extra.write_text("Flood hits Harwick\n\nThe river rose two metres overnight in Harwick.", encoding="utf-8")
    app = Citeline(Settings(index_dir=index_dir), embedder=embedder)
    report = app.index([extra], progress=False)
    assert report.written and report.articles_total == 2
    assert not [p for p in index_dir.iterdir() if ".tmp" in p.name]
    assert "two metres" in app.ask("How far did the river rise in Harwick?").answer
    app.close()


@pytest.mark.slow
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


# -- approximate search above the ANN threshold --------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_above_the_ann_threshold_the_index_is_hnsw_with_checked_recall(make_app, backend):
    app = make_app(vector_store=backend, ann_threshold=4, dense_chunks=0)  # the seed's dozen chunks go HNSW
    report = app.index([SEED], progress=False)
    assert report.chunks_total > 4
    store = read_manifest(app.index_dir).vector_store
    assert store["backend"] == backend and store["index"] == "hnsw"
    assert store["M"] == 32 and store["ef_construction"] == 80 and store["ef_search"] >= 64
    assert store["recall_at_10"] >= 0.99
    answer = app.ask("Who was killed at Camp Taji?")
    assert any(c.line_start <= 12 <= c.line_end for c in answer.citations)
    assert answer.citations[0].quote == seed_line(12)
    filtered = app.ask("Who was killed at Camp Taji?", since=date(2021, 1, 1))
    assert not filtered.citations
    app.close()


def _clustered(rows: int, seed: int) -> np.ndarray:
    """Unit vectors of low intrinsic dimension, as embeddings are (random 384-d noise is not searchable by HNSW)."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(0).standard_normal((12, 384))
    vectors = (rng.standard_normal((rows, 12)) @ basis).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    return np.sort(scores)[::-1][:k]


def test_hnsw_search_filtered_or_not_agrees_with_exact_search(tmp_path, monkeypatch):
    from rag.index import faiss_store

    vectors = _clustered(3000, seed=1)
    record = faiss_store.write(tmp_path, 1, vectors, ann_threshold=1000)
    assert record["index"] == "hnsw" and record["recall_at_10"] >= 0.99
    store = faiss_store.open_store(tmp_path, 1, record, 384)
    assert store.size == 3000 and np.allclose(store.all_vectors(), vectors, atol=1e-6)
    queries = _clustered(30, seed=2)
    mask = np.random.default_rng(3).random(3000) < 0.5

    def recall(allowed: np.ndarray | None) -> float:
        hits = 0
        for query in queries:
            scores = vectors @ query if allowed is None else np.where(allowed, vectors @ query, -np.inf)
            found = store.search(query, 10, allowed)
            assert len(found) == 10 and (allowed is None or all(allowed[r] for r, _ in found))
            hits += sum(s >= _top(scores, 10)[-1] - 1e-5 for _, s in found)
        return hits / (10 * len(queries))

    assert recall(None) >= 0.97
    assert recall(mask) == 1.0  # a filter leaving few rows (here under 25,000) is searched exactly
    monkeypatch.setattr(faiss_store, "EXACT_FILTER_ROWS", 100)
    assert recall(mask) >= 0.97  # ...a wide one walks the graph with the filter
    few = np.zeros(3000, dtype=bool)
    few[[5, 50, 500]] = True
    assert sorted(r for r, _ in store.search(queries[0], 10, few)) == [5, 50, 500]


# -- Milvus -------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_stale_and_orphaned_milvus_collections_are_dropped(make_app, copy_seeds, tmp_path):
    from dataclasses import replace

    from rag.index import milvus_store

    app = make_app(vector_store="milvus")
    app.index([copy_seeds], progress=False)
    index_dir, config = app.index_dir, app.settings.store
    vectors = app.reader().all_vectors()
    # What builds killed after writing their vectors, before their commit, leave behind: collections no manifest
    # names (a killed build writes the next generation; 9 stands for any other number).
    milvus_store.write(index_dir, 2, vectors[:3], config)
    milvus_store.write(index_dir, 9, vectors, config)
    # Another index that keeps its vectors in the same Milvus under the same prefix.
    other = tmp_path / "other-index"
    other.mkdir()
    milvus_store.write(other, 7, vectors, replace(config, milvus_uri=str(index_dir / "milvus.db")))
    with pytest.raises(CitelineError, match="belongs to another index"):
        milvus_store.write(index_dir, 7, vectors, config)
    assert set(milvus_collections(index_dir)) == {f"citeline_g00000{g}" for g in (1, 2, 7, 9)}

    (copy_seeds / "flood.txt").write_text(
        "Flood hits Harwick\n\nThe river rose two metres overnight in Harwick.\n", encoding="utf-8"
    )
    app.index([copy_seeds], progress=False)
    collections = milvus_collections(index_dir)
    # The update is a new segment (2) beside the first; the orphan 9 is gone, the other index's 7 stays.
    assert set(collections) == {"citeline_g000001", "citeline_g000002", "citeline_g000007"}
    assert collections["citeline_g000002"] == read_manifest(index_dir).vector_store["vectors"]  # not the orphan's
    flood = next(a for a in app.reader().articles() if "Harwick" in a.title)
    app.remove([flood.id])  # its segment held nothing else: it leaves the manifest, and goes one change later
    assert [s.id for s in read_manifest(index_dir).segments] == [1]
    assert set(milvus_collections(index_dir)) == {"citeline_g000001", "citeline_g000002", "citeline_g000007"}
    (copy_seeds / "storm.txt").write_text("Storm closes Harwick port\n\nFerries stayed in port.\n", encoding="utf-8")
    app.index([copy_seeds], progress=False)
    assert set(milvus_collections(index_dir)) == {"citeline_g000001", "citeline_g000004", "citeline_g000007"}
    app.close()


@pytest.mark.slow
def test_another_vector_store_needs_a_rebuild_which_moves_the_index(make_app, copy_seeds):
    faiss_app = make_app()
    faiss_app.index([copy_seeds], progress=False)
    milvus_app = make_app(vector_store="milvus")
    with pytest.raises(IndexMismatchError, match=r"keeps its vectors in faiss.*--rebuild"):
        milvus_app.index([copy_seeds], progress=False)
    # Reading follows the manifest, whatever the settings say.
    assert milvus_app.ask("Who was killed at Camp Taji?").citations[0].quote == seed_line(12)
    milvus_app.close()
    rebuilt = milvus_app.index([copy_seeds], rebuild=True, progress=False)
    assert rebuilt.written and read_manifest(milvus_app.index_dir).vector_store["backend"] == "milvus"
    assert milvus_app.ask("Who was killed at Camp Taji?").citations[0].quote == seed_line(12)
    with pytest.raises(IndexMismatchError, match="other_g"):
        make_app(vector_store="milvus", milvus_collection="other").index([copy_seeds], progress=False)
    milvus_app.close()
    # Moving back drops every collection of this index: no later build would look there again.
    faiss_app.index([copy_seeds], rebuild=True, progress=False)
    assert milvus_collections(faiss_app.index_dir) == {}
    assert faiss_app.ask("Who was killed at Camp Taji?").citations[0].quote == seed_line(12)


def test_an_unreachable_milvus_server_is_a_clear_error(make_app, copy_seeds):
    app = make_app(vector_store="milvus", milvus_uri="http://127.0.0.1:9")
    with pytest.raises(CitelineError, match=r"cannot reach Milvus at http://127\.0\.0\.1:9"):
        app.index([copy_seeds], progress=False)
    assert read_manifest(app.index_dir) is None


@pytest.mark.slow
def test_a_milvus_lite_file_open_in_another_process_is_a_clear_error(tmp_path):
    from rag.index import milvus_store

    path = tmp_path / "milvus.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from pymilvus import MilvusClient; MilvusClient({str(path)!r}); print('open',"
         " flush=True); import time; time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(CitelineError, match="open in another process"):
            milvus_store.connect(str(path))
    finally:
        holder.kill()
        holder.wait(timeout=30)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [("vector_store", "chroma", "vector_store must be one of faiss, milvus"),
     ("milvus_uri", "milvus.sqlite", "ending in .db"),
     ("milvus_collection", "bad-name", "milvus_collection must"),
     ("ann_threshold", 0, "ann_threshold must be at least 1")],
)
def test_vector_store_settings_are_checked_at_construction(setting, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings(**{setting: value})
    env = Settings.from_env({"CITELINE_VECTOR_STORE": "milvus", "CITELINE_MILVUS_URI": "http://db:19530"})
    assert env.store.backend == "milvus" and env.store.milvus_uri == "http://db:19530"


@pytest.mark.slow
def test_the_faiss_path_does_not_import_pymilvus(seed_index_dir):
    code = (
        "import sys, numpy as np\n"
        "from rag.api import Citeline\nfrom rag.apps.cli import build_parser\nfrom rag.index.store import open_index\n"
        f"reader = open_index({str(seed_index_dir)!r}, 'all-MiniLM-L6-v2')\n"
        "assert reader.search(np.ones(384, dtype=np.float32), 3)\n"
        "assert 'pymilvus' not in sys.modules and 'rag.index.milvus_store' not in sys.modules\nprint('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.slow
def test_rag_index_and_ask_on_milvus_lite_from_the_command_line(tmp_path):
    index_dir = str(tmp_path / "index")
    built = run_rag("index", str(SEED), "--index-dir", index_dir, "--vector-store", "milvus", "-q")
    assert built.returncode == 0, built.stderr
    assert read_manifest(tmp_path / "index").vector_store["collection"] == "citeline_g000001"
    asked = run_rag("ask", "Who was killed at Camp Taji?", "--json", "--index-dir", index_dir)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["citations"][0]["line_start"] == 12
    unreachable = run_rag("index", str(SEED), "--index-dir", str(tmp_path / "other"), "--vector-store", "milvus",
                          "--milvus-uri", "http://127.0.0.1:9", "-q")
    assert unreachable.returncode == 2 and "http://127.0.0.1:9" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_the_reader_keeps_only_the_most_recent_articles_and_annotations():
    """The store's caches are bounded (a server must not grow with the archive) and remember "no annotation"."""
    from rag.index.store import _MISSING, _Recent

    recent = _Recent(2)
    recent.put("a", 1)
    recent.put("b", None)
    assert recent.get("a") == 1  # "a" is now the most recent
    recent.put("c", 3)
    assert recent.get("b") is _MISSING and recent.get("a") == 1 and recent.get("c") == 3
    recent.put("d", None)
    assert recent.get("d") is None and recent.get("a") is _MISSING


def test_an_articles_rows_are_looked_up_from_the_layout():
    """The layout answers "which chunk rows are this article's" from one sort, as a scan of every row would."""
    from rag.index.store import ArticleLayout

    row_article = np.array([2, 0, 0, 1, 2, 2, 0])
    layout = ArticleLayout(["a", "b", "c", "d"], [""] * 4, [set()] * 4, np.zeros(4, dtype=np.int64), row_article,
                           np.ones(4, dtype=bool), np.ones(7, dtype=bool))
    for position in range(4):
        assert layout.chunk_rows(position).tolist() == np.flatnonzero(row_article == position).tolist()
    assert layout.chunk_rows(3).tolist() == []
