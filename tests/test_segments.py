"""Segments: updates write small segments, removals record deletions, BM25 statistics stay global, small segments
merge (by the policy and by `rag compact`), crash-safely, while questions are answered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rag.errors import IndexMismatchError
from rag.index import segments as segments_module
from rag.index.lexical import Bm25, Postings
from rag.index.store import MANIFEST, open_index, read_manifest
from tests.conftest import ROOT, SEED

TOPICS = ["flood", "ferry", "election", "harvest", "bridge", "storm", "museum", "strike", "rocket", "vaccine",
          "drought", "festival"]


def _article(number: int) -> str:
    topic = TOPICS[number % len(TOPICS)]
    return (f"The {topic} in Harwick{number} town\n\nOfficials said the {topic} of week {number} affected"
            f" {100 + number} people in Harwick{number}, and mayor Ada Zed{number} promised help.\n\nThe {topic}"
            f" was the {'first' if number % 2 else 'second'} this year; the river {TOPICS[(number + 3) % 12]}"
            " committee met on Tuesday.")


def _write(folder, numbers) -> None:
    folder.mkdir(exist_ok=True)
    for number in numbers:
        (folder / f"a{number:03d}.txt").write_text(_article(number), encoding="utf-8")


def _by_article(reader, query: str) -> dict[str, float]:
    """Article BM25 scores by article id, live articles only."""
    layout = reader.layout()
    scores = reader.article_bm25.scores(query)
    return {layout.ids[p]: float(scores[p]) for p in np.flatnonzero(layout.live)}


QUERIES = ["flood in Harwick3", "mayor promised help ferry", "river committee Tuesday election", "storm week 7"]


def test_postings_score_as_bm25s_does_and_segments_as_one_index():
    import bm25s

    from rag.index.lexical import tokenize

    texts = [_article(n) for n in range(30)] + ["the of and"]
    reference = bm25s.BM25()
    reference.index([tokenize(t) for t in texts], show_progress=False)
    whole = Bm25.build(texts)
    split = Bm25([Postings.build(texts[:7]), Postings.build(texts[7:20]), Postings.build(texts[20:])])
    for query in [*QUERIES, "the the"]:
        words = [w for w in tokenize(query) if w in reference.vocab_dict]
        expected = np.asarray(reference.get_scores(words)) if words else np.zeros(len(texts))
        assert np.allclose(whole.scores(query), expected, atol=1e-5)
        assert np.allclose(split.scores(query), expected, atol=1e-5)
    # A deleted document counts in no statistic: the same scores as an index built without it.
    live = [np.ones(7, bool), np.ones(13, bool), np.ones(11, bool)]
    live[1][2] = False
    deleted = Bm25([Postings.build(texts[:7]), Postings.build(texts[7:20]), Postings.build(texts[20:])], live)
    without = Bm25.build(texts[:9] + texts[10:])
    for query in QUERIES:
        scores = deleted.scores(query)
        assert scores[9] == 0 and np.allclose(np.delete(scores, 9), without.scores(query), atol=1e-5)


def test_postings_round_trip_without_pickle(tmp_path):
    postings = Postings.build([_article(n) for n in range(5)])
    postings.save(tmp_path / "p")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["docs.npy", "indptr.npy", "lengths.npy",
                                                                  "tf.npy", "vocab.json"]
    loaded = Postings.load(tmp_path / "p", 5)
    assert np.allclose(Bm25([loaded]).scores("flood Harwick0"), Bm25([postings]).scores("flood Harwick0"))
    with pytest.raises(ValueError, match="holds 5 documents"):
        Postings.load(tmp_path / "p", 6)


def test_updates_write_segments_and_rank_as_a_fresh_build(make_app, tmp_path, monkeypatch):
    monkeypatch.setattr(segments_module, "MERGE_FACTOR", 100)  # no merges: every update stays a segment
    folder = tmp_path / "articles"
    _write(folder, range(12))
    grown = make_app(index_dir=tmp_path / "grown")
    grown.index([folder], progress=False)
    for batch in (range(12, 15), range(15, 18), range(18, 20)):
        _write(folder, batch)
        report = grown.index([folder], progress=False)
        assert report.articles_added == len(batch) and report.chunks_embedded <= 2 * len(batch)
    doomed = [a.id for a in grown.reader().articles() if a.title.startswith(("The ferry in Harwick1 ",
                                                                             "The storm in Harwick17 "))]
    assert len(doomed) == 2
    for article_id in doomed:
        grown.remove(article_id)
    manifest = read_manifest(grown.index_dir)
    assert [s.live_articles for s in manifest.segments] == [11, 3, 2, 2]
    assert manifest.counts["articles"] == 18
    # A fresh build of the same 18 articles.
    fresh_folder = tmp_path / "fresh-articles"
    _write(fresh_folder, [n for n in range(20) if n not in (1, 17)])
    fresh = make_app(index_dir=tmp_path / "fresh")
    fresh.index([fresh_folder], progress=False)
    assert len(read_manifest(fresh.index_dir).segments) == 1
    grown_bm25, fresh_bm25 = (make_app(index_dir=app.index_dir, retrieval_mode="bm25") for app in (grown, fresh))
    for query in QUERIES:
        got, want = _by_article(grown.reader(), query), _by_article(fresh.reader(), query)
        assert got.keys() == want.keys() and all(abs(got[k] - want[k]) < 1e-4 for k in want)
        # BM25 ranks exactly as one index; the embedder's numbers shift a little with the batch a text was
        # embedded in (its dynamic quantisation), so hybrid rankings agree on the articles, not to the digit.
        ranked = [{h.article.id: round(h.score, 4) for h in app.retrieve(query, 10) if h.score > 0}
                  for app in (grown_bm25, fresh_bm25)]
        assert ranked[0] == ranked[1] and ranked[0]
        overlap = {h.article.id for h in grown.retrieve(query, 5)} & {h.article.id for h in fresh.retrieve(query, 5)}
        assert len(overlap) >= 4
    assert all(h.article.id not in doomed for q in ("ferry Harwick1", "storm Harwick17") for h in grown.retrieve(q, 20))


def test_a_large_build_writes_segments_of_bounded_size_that_rank_as_one(make_app, tmp_path, monkeypatch):
    """A build holds one segment's articles at a time (memory grows with a segment, not the archive), commits
    them together, and ranks as a build of one segment does."""
    from rag.index import indexing

    folder = tmp_path / "articles"
    _write(folder, range(11))
    whole = make_app(index_dir=tmp_path / "whole")
    whole.index([folder], progress=False)
    monkeypatch.setattr(indexing, "SEGMENT_ARTICLES", 4)
    monkeypatch.setattr(segments_module, "MERGE_FACTOR", 100)
    split = make_app(index_dir=tmp_path / "split")
    report = split.index([folder], progress=False)
    manifest = read_manifest(split.index_dir)
    assert [s.live_articles for s in manifest.segments] == [4, 4, 3] and report.articles_total == 11
    assert report.chunks_total == read_manifest(whole.index_dir).counts["chunks"]
    assert split.reader().annotated_ids() == whole.reader().annotated_ids()
    for query in QUERIES:
        got, want = _by_article(split.reader(), query), _by_article(whole.reader(), query)
        assert got.keys() == want.keys() and all(abs(got[k] - want[k]) < 1e-4 for k in want)
        # BM25 ranks exactly as one index; dense scores shift a little with the batch a text was embedded in
        # (int8 dynamic quantisation), so hybrid rankings agree on the articles, not to the digit.
        bm25 = [[h.article.id for h in make_app(index_dir=app.index_dir, retrieval_mode="bm25").retrieve(query, 5)]
                for app in (split, whole)]
        assert bm25[0] == bm25[1]
        hybrid = [[h.article.id for h in app.retrieve(query, 5)] for app in (split, whole)]
        assert hybrid[0][0] == hybrid[1][0] and len(set(hybrid[0]) & set(hybrid[1])) >= 4


def test_the_policy_merges_small_segments_and_keeps_annotations(make_app, tmp_path, monkeypatch):
    monkeypatch.setattr(segments_module, "MERGE_FACTOR", 3)
    folder = tmp_path / "articles"
    app = make_app()
    shapes = []
    for number in range(7):
        _write(folder, [number])
        app.index([folder], progress=False)
        shapes.append([s.live_articles for s in read_manifest(app.index_dir).segments])
    # Tier 1 (1-9 live articles) merges when it holds 3 segments.
    assert shapes == [[1], [1, 1], [3], [3, 1], [5], [5, 1], [7]]
    reader = app.reader()
    ids = set(reader.chunk_rows_by_article())
    assert len(ids) == 7 and reader.annotated_ids() == ids
    assert all(reader.annotation(i) is not None and reader.annotation(i).spans for i in ids)
    hits = app.retrieve("How many people did the flood of week 0 affect in Harwick0?", 3)
    assert "Harwick0" in hits[0].chunk.text
    assert not app.compact().written  # one segment, nothing deleted
    gone = sorted(ids)[0]
    app.remove(gone)
    assert app.compact().written
    [segment] = read_manifest(app.index_dir).segments
    assert segment.live_articles == segment.articles == 6 and app.reader().annotated_ids() == ids - {gone}


def test_a_merge_streams_the_segments_it_joins_and_keeps_every_live_chunk_and_vector(make_app, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setattr(segments_module, "MERGE_FACTOR", 1000)
    folder = tmp_path / "articles"
    app = make_app()
    for numbers in ([0, 1, 2], [3], [4], [5]):
        _write(folder, numbers)
        app.index([folder], progress=False)
    reader = app.reader()
    assert len(reader.parts) == 4
    part = reader.parts[0]
    every = part.query("SELECT row, article_id FROM chunks ORDER BY row")
    assert list(part.rows("SELECT row, article_id FROM chunks ORDER BY row", batch=2)) == every and len(every) > 2
    before = {i: [(c.line_start, c.line_end, c.text) for c in reader.chunks_of(i)]
              for i in reader.chunk_rows_by_article()}
    vectors = {i: reader.vectors(rows) for i, rows in reader.chunk_rows_by_article().items()}
    gone = sorted(before)[2]
    app.remove(gone)
    assert app.compact().written
    merged = app.reader()
    assert len(merged.parts) == 1 and set(merged.chunk_rows_by_article()) == set(before) - {gone}
    for article_id, rows in merged.chunk_rows_by_article().items():
        assert [(c.line_start, c.line_end, c.text) for c in merged.chunks_of(article_id)] == before[article_id]
        assert np.array_equal(merged.vectors(rows), vectors[article_id])
    assert app.retrieve("How many people did the flood of week 0 affect in Harwick0?", 1)[0].article.title == \
        "The flood in Harwick0 town"


def test_a_segment_whose_passes_disagree_with_its_counts_is_not_written(make_app, tmp_path):
    from rag.index.segments import Contents, Update
    from rag.index.vector_base import VectorStoreConfig

    app = make_app()
    app.index([SEED], progress=False)
    reader = app.reader()
    articles = [reader.article(i) for i in reader.chunk_rows_by_article()]
    chunks = [c for a in articles for c in reader.chunks_of(a.id)]
    update = Update(app.index_dir)
    before = sorted(p.name for p in app.index_dir.iterdir())
    contents = Contents(len(articles), len(chunks) + 1, lambda: iter(articles), lambda: iter(chunks))
    with pytest.raises(ValueError, match=r"chunks and \d+ articles read"):
        update.write_streamed(contents, np.zeros((len(chunks) + 1, 384), dtype=np.float32), VectorStoreConfig(),
                              384)
    assert sorted(p.name for p in app.index_dir.iterdir()) == before


def test_an_index_of_the_previous_format_says_to_reindex(seed_app, embedder, tmp_path):
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(seed_app.index_dir, index_dir)
    data = json.loads((index_dir / MANIFEST).read_text())
    data["format_version"] = 2
    del data["segments"]
    data["files"] = {"chunks": "chunks-000001.sqlite", "bm25": "bm25-000001"}
    (index_dir / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match=r"format version 2.*reads version 3.*re-index"):
        open_index(index_dir, embedder.name, embedder.dimension)


@pytest.fixture
def segmented(make_app, tmp_path, monkeypatch):
    """An index of the seed and 40 small segments (no merges), and the folder of their articles."""
    monkeypatch.setattr(segments_module, "MERGE_FACTOR", 1000)
    folder = tmp_path / "articles"
    app = make_app()
    app.index([SEED], progress=False)
    for number in range(40):
        _write(folder, [number])
        app.index([SEED, folder], progress=False)
    assert len(read_manifest(app.index_dir).segments) == 41
    return app


@pytest.mark.slow
def test_compaction_killed_at_any_moment_leaves_the_last_manifest_answering(segmented, embedder):
    """`rag compact` killed with SIGKILL at several moments; after each kill the manifest's segments load and
    answer, and a reader opened before keeps answering while a compaction runs."""
    index_dir = segmented.index_dir
    early = open_index(index_dir, embedder.name, embedder.dimension)
    for delay in (0.5, 2.0, 3.5, 5.0):
        before = read_manifest(index_dir)
        process = subprocess.Popen([sys.executable, "-m", "rag", "compact", "--index-dir", str(index_dir)],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True)
        time.sleep(delay)
        finished = process.poll() is not None
        if not finished:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        after = read_manifest(index_dir)
        assert after.generation == before.generation or finished or len(after.segments) == 1
        reader = open_index(index_dir, embedder.name, embedder.dimension)
        assert len(reader.chunk_rows_by_article()) == 41 and reader.bm25.size == reader.size
        hits = segmented.retrieve("How many people did the bridge of week 4 affect in Harwick4?", 3)
        assert "Harwick4" in hits[0].chunk.text
        reader.close()
    assert len(early.chunk_rows_by_article()) == 41 and early.bm25.scores("Harwick4 bridge").any()
    done = subprocess.run([sys.executable, "-m", "rag", "compact", "--index-dir", str(index_dir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(read_manifest(index_dir).segments) == 1
    assert "Harwick4" in segmented.retrieve("How many people did the bridge of week 4 affect?", 3)[0].chunk.text
    assert not [p for p in index_dir.iterdir() if ".tmp" in p.name]



def test_articles_and_their_annotations_are_found_in_their_segment_once_the_layout_is_read(make_app, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setattr(segments_module, "MERGE_FACTOR", 10)  # keep every segment apart
    folder = tmp_path / "articles"
    app = make_app()
    for number in range(3):
        _write(folder, [number])
        app.index([folder], progress=False)
    gone = sorted(app.reader().chunk_rows_by_article())[0]
    app.remove(gone)
    cold = app.reader()
    assert len(cold.parts) >= 2 and cold._layout is None  # (a segment left with no live article is dropped)
    ids = sorted(cold.chunk_rows_by_article())
    before = {i: (cold.article(i).source, cold.annotation(i)) for i in ids}
    fresh = open_index(app.index_dir, app.embedder.name, app.embedder.dimension)
    fresh.layout()  # from now on articles are looked up, not searched for segment by segment
    assert {i: (fresh.article(i).source, fresh.annotation(i)) for i in ids} == before
    with pytest.raises(KeyError):
        fresh.article(gone)
    for article_id in ids:
        by_line = fresh.line_spans(article_id)
        spans = before[article_id][1].spans
        assert by_line.spans == spans and by_line.lines == before[article_id][1].lines
        assert all(by_line.spans_on(line) == [s for s in spans if s.line == line] for line in {s.line for s in spans})


def test_a_search_over_segments_merges_their_results_best_first(make_app, tmp_path, monkeypatch):
    monkeypatch.setattr(segments_module, "MERGE_FACTOR", 10)  # keep every segment apart
    folder = tmp_path / "articles"
    app = make_app(dense_chunks=0)
    for number in range(3):
        _write(folder, [number])
        app.index([folder], progress=False)
    reader = app.reader()
    assert len(reader.parts) == 3
    query = app.embedder.embed_query("How many people did the ferry affect?")
    expected = sorted(((row + int(reader.row_offsets[i]), score)
                       for i, part in enumerate(reader.parts) for row, score in part.vectors.search(query, 4)),
                      key=lambda pair: -pair[1])[:4]
    found = reader.search(query, 4)
    assert found == expected and [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert "ferry" in reader.chunks([found[0][0]])[0].text  # the best chunk is the ferry's (article 1)
    allowed = np.zeros(reader.size, dtype=bool)
    allowed[found[-1][0]] = True  # a filter goes through each store's filtered search
    assert reader.search(query, 4, allowed) == [found[-1]]
