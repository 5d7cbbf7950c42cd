from __future__ import annotations

import pytest

from rag.errors import BadQuestionError
from rag.retrieve.followup import rewrite

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
    """The API takes the conversation (`history`) and searches the follow-up made self-contained; the answer
    keeps the question as asked and says how it was searched."""
    answer = seed_app.ask("And how many were wounded?", history=[CAMP])
    assert answer.question == "And how many were wounded?"
    assert answer.searched == "How many were wounded at Camp Taji?"
    assert not answer.abstained and answer.citations[0].line_start == 12
    assert seed_app.ask(CAMP, history=[]).searched == ""  # a first question is searched as asked


def test_history_must_be_a_list_of_questions(seed_app):
    with pytest.raises(BadQuestionError, match="history"):
        seed_app.ask("And how many were wounded?", history=CAMP)
    with pytest.raises(TypeError, match="unexpected options: histroy"):
        seed_app.ask("And how many were wounded?", histroy=[CAMP])
