from __future__ import annotations

import os

import numpy as np
import pytest

from rag.errors import CitelineError, IndexMismatchError
from rag.index.indexing import index_lock
from rag.index.store import read_manifest
from tests.conftest import BACKENDS, SEED, milvus_collections


def test_unchanged_reindex_embeds_nothing(make_app, copy_seeds):
    app = make_app()
    first = app.index([copy_seeds], progress=False)
    assert first.written and 0 < first.chunks_embedded <= first.chunks_total
    generation = read_manifest(app.index_dir).generation
    calls = app.embedder.calls
    again = app.index([copy_seeds], progress=False)
    assert again.chunks_embedded == 0 and not again.written
    assert app.embedder.calls == calls
    assert read_manifest(app.index_dir).generation == generation
    # Touching a file without changing it: hashed, found equal, still nothing embedded.
    seed = next(copy_seeds.glob("*.txt"))
    os.utime(seed, None)
    touched = app.index([copy_seeds], progress=False)
    assert touched.chunks_embedded == 0 and app.embedder.calls == calls


@pytest.mark.parametrize("backend", BACKENDS)
def test_new_and_changed_files_embed_only_themselves(make_app, copy_seeds, backend):
    app = make_app(vector_store=backend)
    base = app.index([copy_seeds], progress=False)
    seed_vectors = app.reader().all_vectors()
    (copy_seeds / "flood.txt").write_text(
        "Flood hits Harwick\n\nThe river rose two metres overnight in Harwick.\n", encoding="utf-8"
    )
    added = app.index([copy_seeds], progress=False)
    assert added.articles_added == 1 and added.articles_total == 2
    assert added.chunks_embedded == added.chunks_total - base.chunks_total
    # The seed's segment is kept as it was; the new article is a segment of its own, beside it.
    reader = app.reader()
    assert reader.manifest.vector_store["backend"] == backend and reader.size == added.chunks_total
    assert [s.live_articles for s in reader.manifest.segments] == [1, 1]
    rows = reader.chunk_rows_by_article()
    seed_rows = next(r for a, r in rows.items() if reader.article(a).title.startswith("US launches"))
    assert np.allclose(reader.vectors(seed_rows), seed_vectors, atol=1e-6)
    (copy_seeds / "flood.txt").write_text(
        "Flood hits Harwick\n\nThe river rose three metres overnight in Harwick.\n", encoding="utf-8"
    )
    changed = app.index([copy_seeds], progress=False)
    assert changed.articles_added == 1 and changed.articles_removed == 1 and changed.articles_total == 2
    assert changed.chunks_embedded == added.chunks_embedded
    assert "three metres" in app.retrieve("How far did the river rise in Harwick?", 1)[0].chunk.text
    assert "two metres" not in " ".join(h.chunk.text for h in app.retrieve("How far did the river rise?", 20))


def test_duplicate_articles_are_stored_once(make_app, copy_seeds):
    seed = next(copy_seeds.glob("*.txt"))
    (copy_seeds / "again").mkdir()
    (copy_seeds / "again" / "same.txt").write_text(seed.read_text(encoding="utf-8").replace("\n", "\r\n"),
                                                   encoding="utf-8")
    app = make_app()
    report = app.index([copy_seeds], progress=False)
    assert report.articles_total == 1
    assert len(read_manifest(app.index_dir).sources) == 2


def test_prune_drops_articles_whose_files_are_gone(make_app, copy_seeds):
    extra = copy_seeds / "flood.txt"
    extra.write_text("Flood hits Harwick\n\nThe river rose two metres overnight in Harwick.\n", encoding="utf-8")
    app = make_app()
    app.index([copy_seeds], progress=False)
    extra.unlink()
    kept = app.index([copy_seeds], progress=False)
    assert kept.articles_total == 2, "without --prune nothing indexed is dropped"
    pruned = app.index([copy_seeds], prune=True, progress=False)
    assert pruned.articles_total == 1 and pruned.articles_removed == 1 and pruned.chunks_embedded == 0
    assert "harwick" not in " ".join(a.text.lower() for a in app.reader().articles())


def test_bad_files_are_skipped_and_the_rest_indexed(make_app, copy_seeds):
    (copy_seeds / "empty.txt").write_bytes(b"")
    (copy_seeds / "binary.txt").write_bytes(b"\x00\x01\x02PNG" * 100)
    (copy_seeds / "broken.html").write_bytes(b"\xff\xfe\x00\x00garbage" * 10)
    app = make_app()
    report = app.index([copy_seeds], progress=False)
    reasons = {os.path.basename(path): reason for path, reason in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "broken.html"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["binary.txt"]
    assert report.articles_total == 1


def test_other_chunk_settings_need_a_rebuild(make_app, copy_seeds, tmp_path):
    make_app().index([copy_seeds], progress=False)
    other = make_app(chunk_tokens=128)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        other.index([copy_seeds], progress=False)
    rebuilt = other.index([copy_seeds], rebuild=True, progress=False)
    assert rebuilt.written and read_manifest(other.index_dir).chunking["chunk_tokens"] == 128


def test_a_second_writer_is_refused(make_app, copy_seeds):
    app = make_app()
    with index_lock(app.index_dir), pytest.raises(CitelineError, match="another `rag index`"):
        app.index([SEED], progress=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_remove_takes_an_article_out_of_every_part(make_app, copy_seeds, backend):
    (copy_seeds / "flood.txt").write_text(
        "Flood hits Harwick\n\nThe river rose two metres overnight in Harwick.\n", encoding="utf-8"
    )
    app = make_app(vector_store=backend)
    app.index([copy_seeds], progress=False)
    flood = next(a for a in app.reader().articles() if "Harwick" in a.title)
    flood_vectors = app.reader().vectors(app.reader().chunk_rows_by_article()[flood.id])
    calls = app.embedder.calls
    before = read_manifest(app.index_dir)
    report = app.remove([flood.id])
    assert report.articles_total == 1 and app.embedder.calls == calls
    reader = app.reader()
    assert next(a.title for a in reader.articles()).startswith("US launches")
    # Removing rewrites nothing: the segment stays, its deletion is recorded, and no part of the index finds it.
    [segment] = reader.manifest.segments
    assert segment.id == before.segments[0].id and segment.deleted == [flood.id]
    assert segment.live_chunks == report.chunks_total == segment.chunks - len(flood_vectors)
    assert reader.size == reader.bm25.size == segment.chunks
    assert not reader.bm25.scores("Harwick river metres").any()
    assert not reader.article_bm25.scores("Harwick river metres").any()
    assert flood.id not in reader.chunk_rows_by_article() and flood.id not in reader.annotated_ids()
    with pytest.raises(KeyError):
        reader.article(flood.id)
    left = reader.chunk_rows_by_article().get(flood.id, [])
    assert all(row not in left for row, _ in reader.search(flood_vectors[0], 50))
    assert reader.manifest.vector_store["backend"] == backend
    if backend == "milvus":
        assert set(milvus_collections(app.index_dir)) == {"citeline_g000001"}
    assert all(h.article.id != flood.id for h in app.retrieve("How far did the river rise in Harwick?", 5))
    # Compacting drops it for good: one new segment of the live articles, the seed's vectors carried.
    compacted = app.compact()
    reader = app.reader()
    [segment] = reader.manifest.segments
    assert compacted.written and segment.deleted == [] and segment.chunks == report.chunks_total == reader.size
    kept = reader.all_vectors()
    assert (kept @ flood_vectors.T).max() < 0.999
    if backend == "milvus":
        assert milvus_collections(app.index_dir)[segment.vectors["collection"]] == int(kept.any(axis=1).sum())
    assert not app.compact().written  # one segment without deletions: nothing to do
    manifest = read_manifest(app.index_dir)
    assert manifest.counts["articles"] == 1 and not any("flood" in k for k in manifest.sources)
    with pytest.raises(CitelineError, match="no indexed article"):
        app.remove(["nope"])


def test_dense_chunks_embeds_the_top_of_each_article_and_bm25_finds_the_rest(make_app, copy_seeds, embedder):
    lead = make_app(dense_chunks=2)
    report = lead.index([copy_seeds], progress=False)
    assert report.chunks_total > 2 and report.chunks_embedded == 2
    reader = lead.reader()
    norms = np.linalg.norm(reader.vectors(list(range(reader.size))), axis=1)
    assert np.allclose(norms[:2], 1.0, atol=1e-3) and not norms[2:].any()
    assert read_manifest(lead.index_dir).chunking["dense_chunks"] == 2
    # A fact from the article's last lines lives in a chunk without a vector: BM25 still retrieves it.
    late = next(i for i, line in enumerate(SEED.read_text(encoding="utf-8").split("\n"), 1) if "5,200" in line)
    late_rows = [row for row, chunk in enumerate(reader.chunks(list(range(reader.size)))) if
                 chunk.line_start <= late <= chunk.line_end]
    assert min(late_rows) >= 2  # the line is only in chunks without a vector
    hits = lead.retrieve("How many US forces are stationed across Iraq?", 3)
    assert any(h.chunk.line_start <= late <= h.chunk.line_end for h in hits)
    every = make_app(index_dir=lead.index_dir.parent / "all", dense_chunks=0)
    assert every.index([copy_seeds], progress=False).chunks_embedded == report.chunks_total
    # A different dense_chunks means other vectors: the index asks for a rebuild instead of mixing them.
    with pytest.raises(IndexMismatchError):
        make_app(index_dir=lead.index_dir, dense_chunks=3).index([copy_seeds], progress=False)


def test_identical_chunks_are_embedded_once(make_app, tmp_path):
    folder = tmp_path / "wire"
    folder.mkdir()
    paragraphs = [f"The port of Harwick stayed closed on day {n} of the storm, with winds of {80 + n} mph and"
                  f" ferries to the islands cancelled until further notice, the harbour master said."
                  for n in range(12)]
    body = "Storm closes Harwick port\n\n" + "\n\n".join(paragraphs)
    (folder / "a.txt").write_text(body, encoding="utf-8")
    (folder / "b.txt").write_text(body + "\n\nReporting by the Harwick Herald.", encoding="utf-8")
    app = make_app(dense_chunks=0)
    report = app.index([folder], progress=False)
    reader = app.reader()
    texts = [c.embed_text for c in reader.chunks(list(range(reader.size)))]
    assert report.articles_total == 2 and len(set(texts)) < len(texts)
    assert report.chunks_embedded == len(set(texts))
    vectors = reader.vectors(list(range(reader.size)))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)  # copies share the vector, none is zero
