"""Candidate grouping rules of the reader (rag/candidates.py) that need no index: what a candidate is called."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rag.candidates import full_name


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
