"""The one door (rag/api.py) beyond asking: what the index holds, and an article by any of its names."""

from __future__ import annotations

import pytest

from rag.errors import ArticleNotFoundError
from tests.conftest import SEED


def test_stats_and_articles_agree_with_the_index(seed_app):
    stats = seed_app.stats()
    assert stats.articles == 1 and stats.segments >= 1 and stats.chunks > 0
    assert str(SEED.resolve()) in stats.files
    (summary,) = seed_app.articles()
    assert summary.chunks == stats.chunks and summary.source.endswith(SEED.name)
    assert summary.title and str(SEED.resolve()) not in summary.title
    assert seed_app.article_ids() == {summary.id}


def test_an_article_by_id_prefix_or_file_name(seed_app):
    (summary,) = seed_app.articles()
    for name in (summary.id, summary.id[:8], SEED.name, summary.source):
        article = seed_app.article(name)
        assert article.id == summary.id and article.lines[11].startswith(SEED.read_text().split("\n")[11][:30])
    with pytest.raises(ArticleNotFoundError, match=r"no indexed article is 'nothing\.txt'"):
        seed_app.article("nothing.txt")
    with pytest.raises(ArticleNotFoundError):
        seed_app.article(summary.id[:3])  # too short to be taken as an id's beginning


def test_a_file_is_read_as_index_would_read_it_within_the_limits(make_app, tmp_path):
    from rag.ingest.loading import LoadError

    app = make_app()
    (article,) = app.read_file(SEED)
    assert article.title and article.lines[11] == SEED.read_text(encoding="utf-8").split("\n")[11]
    (named,) = app.read_file(SEED, source="upload.txt")
    assert named.id == article.id and named.source == "upload.txt"
    with pytest.raises(LoadError, match="CITELINE_MAX_ARTICLE_BYTES"):  # the seed is 4.7 kB
        make_app(max_article_bytes=1000).read_file(SEED)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(LoadError, match="empty"):
        app.read_file(tmp_path / "empty.txt")
    assert not app.has_index()  # reading is not indexing


def test_warm_up_freezes_what_it_loaded_and_a_replaced_index_reader_is_freed_without_the_collector(make_app,
                                                                                                    tmp_path):
    import gc
    import weakref

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Harbour reopens\n\nThe harbour of Velmont reopened on Monday after the storm.\n",
                                  encoding="utf-8")
    app = make_app()
    app.index([folder], progress=False)
    app.warm_up()
    assert gc.get_freeze_count() > 0  # the models and the index are out of the collector's full collections
    assert app.ask("When did the harbour of Velmont reopen?").citations[0].line_start == 3
    old = weakref.ref(app.reader())
    (folder / "b.txt").write_text("Ferry returns\n\nThe Velmont ferry returned to service on Tuesday.\n",
                                  encoding="utf-8")
    app.index([folder], progress=False)
    gc.disable()  # frozen objects are never collected: the old generation must go by reference counting alone
    try:
        assert app.reader() is not None and old() is None
    finally:
        gc.enable()


def test_a_warm_reader_analyses_the_question_in_the_asking_thread(seed_app, monkeypatch):
    from types import SimpleNamespace

    import rag.api as api_module

    seed_app.warm_up()
    assert seed_app.answer_reader().warm

    def no_thread(*args, **kwargs):
        raise AssertionError("a warm Citeline started a thread to analyse the question")

    monkeypatch.setattr(api_module, "threading", SimpleNamespace(Thread=no_thread))
    answer = seed_app.ask("Who was killed at Camp Taji?")
    assert answer.citations[0].line_start == 12
    assert answer.timings_ms["answer"] > 0 and answer.timings_ms["total"] >= answer.timings_ms["retrieve"]
