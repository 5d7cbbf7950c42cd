"""Candidate rules of the reader (rag/answer/candidates.py) that need no index: which mentions a sentence gives,
and what a candidate is called."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rag.answer.candidates import CandidateExtractor, full_name
from rag.answer.question import analyse
from rag.ingest.nlp import NOUN_PHRASE
from rag.schema import Article, Chunk, Hit, Span


def _mentions(*pairs: tuple[str, str]) -> list:
    return [SimpleNamespace(text=text, label=label) for text, label in pairs]


@pytest.mark.parametrize(
    ("text", "label", "mentions", "expected"),
    [
        ("Harris", "PERSON", [("Harris", "PERSON"), ("Kamala Harris", "PERSON"), ("Harris", "PERSON")],
         "Kamala Harris"),
        ("Lions", "ORG", [("Lions", "ORG"), ("the Detroit Lions", "ORG")], "Detroit Lions"),
        # the longer form given most often wins over a rarer one
        ("Biden", "PERSON", [("Joe Biden", "PERSON"), ("Joe Biden", "PERSON"), ("Hunter Biden", "PERSON")],
         "Joe Biden"),
        # titles, storms and pairs are not a longer form of the name
        ("Dixon", "PERSON", [("Superintendent Talisa Dixon", "PERSON")], "Dixon"),
        ("Ernesto", "ORG", [("Hurricane Ernesto", "ORG")], "Ernesto"),
        ("Affleck", "PERSON", [("Jennifer Lopez and Ben Affleck", "PERSON")], "Affleck"),
        # another kind of entity, a place, or a longer name of another label keeps the text as stated
        ("Mexico", "GPE", [("Mexico City", "GPE")], "Mexico"),
        ("Starliner", "PRODUCT", [("CST-100 Starliner", "PRODUCT")], "Starliner"),
        ("Maresca", "PERSON", [("Ilona Maresca", "NP")], "Maresca"),
        # a name already long, or a form more than two words longer, stays as it is
        ("Ketanji Brown Jackson", "PERSON", [("Justice Ketanji Brown Jackson", "PERSON")], "Ketanji Brown Jackson"),
        ("Jackson", "PERSON", [("Ketanji Onyika Brown Jackson", "PERSON")], "Jackson"),
    ],
)
def test_a_name_is_given_in_full_as_its_mentions_state_it(text, label, mentions, expected):
    assert full_name(text, label, _mentions(*mentions)) == expected


def test_an_amount_is_the_figure_even_where_the_parser_missed_it():
    """RealTimeQA's answers are figures ("$9,000", "33,000"): a sum the English pipeline left inside a longer
    phrase becomes a mention of its own, and "around" stays in the quoted sentence, not in the short answer."""
    line = "Merchan gave Trump a $9,000 fine and potential jail time, and around 33,000 workers went on strike."
    article = Article("a1", "a.txt", "Fines", f"Fines\n\n{line}")
    hit = Hit(Chunk("a1", 3, 3, line), article, score=1.0, rank=1)
    fine, around = line.index("$9,000"), line.index("around")
    spans = [Span(3, fine, line.index(", and"), NOUN_PHRASE, "obj", "gave"),
             Span(3, around, line.index(" workers"), "CARDINAL", "nummod", "workers")]
    extractor = CandidateExtractor(lambda article, number, parse=True: spans if number == 3 else [])
    mentions = extractor.extract(analyse("How much was Donald Trump fined?"), [hit]).mentions
    labels = {m.text: m.label for m in mentions}
    assert labels["$9,000"] == "MONEY" and labels["$9,000 fine and potential jail time"] == NOUN_PHRASE
    assert labels["33,000"] == "CARDINAL" and not any(text.startswith("around") for text in labels)
    assert {m.key for m in mentions if m.label == "CARDINAL"} == {"33000"}


def test_phrases_of_a_kind_that_cannot_answer_are_counted_but_not_weighed():
    """With the reader's answer typing, a sentence's place names are not scored for "how much" (half of all
    mentions are of a kind that cannot answer), but the sentence still counts as stating a phrase; every other
    mention is the same as without the typing."""
    line = "In Manhattan, Merchan gave Trump a $9,000 fine."
    article = Article("a1", "a.txt", "Fines", f"Fines\n\n{line}")
    hit = Hit(Chunk("a1", 3, 3, line), article, score=1.0, rank=1)
    spans = [Span(3, line.index("Manhattan"), line.index(","), "GPE", "pobj", "in"),
             Span(3, line.index("$9,000"), line.index(" fine"), "MONEY", "nmod", "fine")]
    extractor = CandidateExtractor(lambda article, number, parse=True: spans if number == 3 else [])
    question = analyse("How much was Donald Trump fined?")
    everything = extractor.extract(question, [hit])
    typed = extractor.extract(question, [hit], lambda label: label == "MONEY")
    assert {m.label for m in everything.mentions} == {"GPE", "MONEY"}
    assert [m.text for m in typed.mentions] == ["$9,000"]
    assert typed.mentions[0].features.tolist() == everything.mentions[1].features.tolist()
    assert [v.sentence.line for v in typed.mentioned] == [v.sentence.line for v in everything.mentioned] == [3]
    nothing = extractor.extract(question, [hit], lambda label: False)
    assert nothing.mentions == [] and len(nothing.mentioned) == 1
