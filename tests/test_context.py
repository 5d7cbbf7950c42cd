"""A sentence's surroundings (rag/answer/context.py): the title and nearby lines the reader credits names in."""

from __future__ import annotations

from rag.answer.context import name_score, surroundings
from rag.schema import Article
from rag.text.terms import term_set

TEXT = ("Rockets hit Camp Taji\n\nTwo Americans were killed at Camp Taji, officials said.\n\nThe base lies north of"
        " Baghdad.\n\nU.S. officials vowed retaliation.\n\nMore follows.")


def test_the_surroundings_are_the_title_and_the_lines_around_a_line_not_the_line_itself():
    article = Article("a1", "a.txt", "Rockets hit Camp Taji", TEXT, furniture=[7])
    text, terms = surroundings(article, 5, {}, reporting=False)
    assert text.splitlines()[0] == "rockets hit camp taji"
    assert "two americans were killed" in text
    assert "north of baghdad" not in text  # the line itself
    assert "vowed retaliation" not in text  # furniture
    assert "more follows" not in text  # beyond two lines
    # the terms are those of the joined text, though they are taken line by line (and cached per line)
    assert terms == term_set(text)
    reporting_text, _ = surroundings(article, 5, {}, reporting=True)  # two reporting lines either side
    assert "north of baghdad" in reporting_text and "more follows" in reporting_text
    assert "vowed retaliation" not in reporting_text


def test_a_name_counts_fully_in_the_sentence_and_partly_around_it():
    assert name_score(["camp taji"], "two were killed at camp taji.", "", near=0.7) == 1.0
    assert name_score(["camp taji"], "two were killed there.", "rockets hit camp taji", near=0.7) == 0.7
    assert name_score(["camp taji"], "two were killed there.", "rockets hit a base", near=0.7) == 0.0
    assert name_score([], "anything", "", near=0.7) == 1.0
