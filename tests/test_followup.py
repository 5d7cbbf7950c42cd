from __future__ import annotations

import pytest

from rag.followup import rewrite

CAMP = "Who was killed at Camp Taji?"


@pytest.mark.parametrize(
    ("follow_up", "expected"),
    [
        ("And how many were wounded?", "How many were wounded at Camp Taji?"),
        ("how many rockets hit it?", "How many rockets hit it at Camp Taji?"),
        ("What about Jurf al-Sakher?", "Who was killed at Jurf al-Sakher?"),
        ("Who is Mark Esper?", "Who is Mark Esper?"),
        ("How many were wounded at Camp Taji?", "How many were wounded at Camp Taji?"),
    ],
)
def test_rewrite(follow_up, expected):
    assert rewrite(follow_up, [CAMP]) == expected


def test_first_question_is_left_alone():
    assert rewrite("And how many were wounded?", []) == "And how many were wounded?"


def test_follow_up_answers_about_the_earlier_subject(seed_app):
    question = rewrite("And how many were wounded?", [CAMP])
    answer = seed_app.ask(question)
    assert not answer.abstained and answer.citations[0].line_start == 12
