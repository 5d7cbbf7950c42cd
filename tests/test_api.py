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
