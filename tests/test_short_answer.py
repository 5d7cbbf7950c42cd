from __future__ import annotations

import pytest

from rag.answer.short_answer import question_kind, short_answer
from tests.conftest import seed_line


@pytest.mark.parametrize(
    ("question", "line", "expected"),
    [
        ("Who was killed at Camp Taji?", 12, "Two Americans and a 26-year-old British soldier"),
        ("How many rockets were fired?", 12, "around 18"),
        ("How many people were wounded at Camp Taji?", 12, "14"),
        ("Who was killed in Jurf al-Sakher?", 24, "Two Iraqi federal policeman"),
        ("How many US forces are stationed in Iraq?", 52, "some 5,200"),
        ("When was Qasem Soleimani killed?", 46, "on 3 January"),
        ("Who killed Qasem Soleimani?", 46, "a US airstrike"),
        ("Where was the rocket attack?", 10, "on Baghdad's Camp Taji"),
    ],
)
def test_short_answers_on_the_seed(question, line, expected):
    found = short_answer(question, seed_line(line))
    assert found == expected and len(found.split()) <= 12


def test_no_short_answer_where_none_is_asked_for():
    assert question_kind("What did Ben Wallace say?") == ""
    assert short_answer("What did Ben Wallace say?", seed_line(40)) == ""


def test_short_answer_is_in_the_json(seed_app):
    data = seed_app.ask("When was the rocket attack on Camp Taji?").to_dict()
    assert data["short_answer"] == "Wednesday" and data["citations"][0]["line_start"] == 10
    assert 0.0 <= data["confidence"] <= 1.0
