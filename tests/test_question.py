"""Question analysis on real questions of the kind users and RealTimeQA ask."""

from __future__ import annotations

import pytest

from rag.answer.question import analyse


@pytest.mark.parametrize(
    ("question", "answer_class", "focus"),
    [
        ("Which singer won the most Grammy awards this year?", "PERSON", "singer"),
        ("A cargo ship crashed into the Francis Scott Key Bridge in which city?", "PLACE", "city"),
        ("What company recalled 112,000 vehicles this week?", "ORG", "company"),
        ("How much did the Marisol Beacon cost?", "MONEY", ""),
        ("Which food was linked to a multistate E. coli outbreak?", "THING", "food"),
        ("Who was killed at Camp Taji?", "PERSON", ""),
        ("How many rockets were fired?", "NUMBER", "rocket"),
        ("When will the Real ID be required?", "DATE", ""),
        ("Where did the debate take place?", "PLACE", ""),
        ("What percentage of the vote did the party receive?", "PERCENT", "percentage"),
        ("Which type of livestock is impacted by bird flu?", "THING", "livestock"),
        ("What is the name of the baby penguin that went viral?", "THING", "penguin"),
    ],
)
def test_answer_class_and_focus(question, answer_class, focus):
    parsed = analyse(question)
    assert parsed.answer_class == answer_class
    assert parsed.focus == focus
    assert parsed.factoid


def test_what_a_how_many_question_counts_and_where_its_answer_stands():
    parsed = analyse("How many rockets were fired at the base?")
    assert parsed.counted == "rocket"
    slot = analyse("Who did Emmanuel Macron appoint as prime minister?")
    assert (slot.role, slot.head) == ("obj", "appoint")
    assert "emmanuel macron" in slot.names


@pytest.mark.parametrize("question", ["What did Ben Wallace say?", "Why did the US strike?",
                                      "How did the rockets reach the base?"])
def test_questions_that_ask_for_no_short_answer(question):
    assert not analyse(question).factoid


def test_a_question_is_parsed_without_the_recogniser_and_analysed_as_with_it(monkeypatch):
    from rag.answer import question as question_module
    from rag.ingest import nlp

    asked = ["Who was killed at Camp Taji in Iraq?", "How much did Twitter's new owner Elon Musk pay for it?",
             "Which city in Florida did Hurricane Ian hit first this week?"]
    doc = nlp.parse(asked[0])
    assert doc.has_annotation("DEP") and doc.has_annotation("TAG") and not doc.has_annotation("ENT_IOB")
    quick = [analyse(q) for q in asked]
    whole = nlp.pipeline()
    assert whole(asked[0]).ents  # the pipeline itself still recognises "Camp Taji" and "Iraq"
    monkeypatch.setattr(question_module, "parse", whole)
    assert [analyse(q) for q in asked] == quick
    assert quick[0].answer_class == "PERSON" and quick[2].focus == "city"
