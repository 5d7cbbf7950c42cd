from __future__ import annotations

import pytest

from rag.answer.grounding import SupportChecker, facts, split_cited
from tests.conftest import seed_line


def test_split_cited():
    found = split_cited("Two were killed [1]. Fourteen were wounded [1][2]. Unmarked.")
    assert [(s.text, s.markers) for s in found] == [("Two were killed", [1]), ("Fourteen were wounded", [1, 2]),
                                                   ("Unmarked.", [])]


def test_facts_are_names_and_numbers():
    assert facts("Two Americans were killed at Camp Taji by 18 rockets") == {"americans", "camp", "taji", "18"}


@pytest.fixture(scope="module")
def checker(embedder):
    return SupportChecker(embedder)


def test_the_cited_line_itself_is_supported(checker):
    assert checker.supported(seed_line(12), [seed_line(12)])
    assert checker.score(seed_line(12), [seed_line(12)]) > 0.95


def test_paraphrase_is_supported_but_a_new_name_or_number_is_not(checker):
    assert checker.supported("Two Americans and a British soldier were killed in a rocket barrage", [seed_line(12)])
    assert not checker.supported("Two Americans were killed at Camp Taji", [seed_line(12)])
    assert not checker.supported("Two Americans and a British soldier were killed by 40 rockets", [seed_line(12)])
    assert not checker.supported("The Super Bowl was won by Kansas City", [seed_line(12)])
