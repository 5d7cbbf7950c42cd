from __future__ import annotations

import pytest

from rag.answer.answering import QuestionParts
from rag.errors import BadQuestionError
from tests.conftest import seed_line


def _cites_line(answer, line: int) -> bool:
    return any(c.line_start <= line <= c.line_end for c in answer.citations)


def _check_citations(answer, app):
    """Every [n] resolves, and every quote is exactly the text of the lines it names."""
    reader = app.reader()
    numbers = {c.n for c in answer.citations}
    import re

    for marker in re.findall(r"\[(\d+)\]", answer.answer):
        assert int(marker) in numbers
    for c in answer.citations:
        article = reader.article(c.article_id)
        assert c.quote == "\n".join(article.lines[c.line_start - 1 : c.line_end])
        assert c.source == article.source and c.title == article.title and c.published == article.published


def test_camp_taji(seed_app):
    answer = seed_app.ask("Who was killed at Camp Taji?")
    assert not answer.abstained
    assert _cites_line(answer, 12)
    cited = next(c for c in answer.citations if c.line_start == 12)
    assert cited.quote == seed_line(12)
    assert "Two Americans" in answer.answer and "British soldier" in answer.answer
    assert 1 <= answer.answer.count("[") <= 3
    _check_citations(answer, seed_app)


def test_jurf_al_sakher(seed_app):
    answer = seed_app.ask("Who was killed in Jurf al-Sakher?")
    assert not answer.abstained and _cites_line(answer, 24)
    assert answer.citations[0].line_start == 24
    _check_citations(answer, seed_app)


def test_not_in_the_sources_abstains(seed_app):
    answer = seed_app.ask("Who won the 2020 Super Bowl?")
    assert answer.abstained
    assert answer.answer.startswith("The indexed articles do not answer")
    assert 1 <= len(answer.citations) <= 3  # the closest passages, still exact
    _check_citations(answer, seed_app)


@pytest.mark.parametrize(
    ("question", "line"),
    [("How many rockets were fired at the base?", 12), ("How many US forces are stationed in Iraq?", 52),
     ("What did Ben Wallace say?", 40)],
)
def test_more_questions_cite_the_right_line(seed_app, question, line):
    answer = seed_app.ask(question)
    assert not answer.abstained and answer.citations[0].line_start == line


def test_furniture_is_never_an_answer(seed_app):
    answer = seed_app.ask("Where can I follow The New Arab on Facebook?")
    article = seed_app.reader().articles()[0]
    if not answer.abstained:
        assert all(c.line_start not in article.furniture for c in answer.citations)


def test_answer_serialises_to_the_contract(seed_app):
    data = seed_app.ask("Who was killed at Camp Taji?").to_dict()
    assert set(data) >= {"question", "answer", "abstained", "citations", "timings_ms"}
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}
    citation = data["citations"][0]
    assert {"n", "source", "title", "published", "line_start", "line_end", "quote"} <= set(citation)
    assert citation["published"] == "2020-03-13"


@pytest.mark.parametrize("question", ["", "   \n\t", "x" * 50_000])
def test_bad_questions(seed_app, question):
    with pytest.raises(BadQuestionError):
        seed_app.ask(question)


def test_question_parts():
    parts = QuestionParts.parse("Who was killed in Jurf al-Sakher?")
    assert parts.names == ["jurf al-sakher"] and parts.terms == ["kill"]
