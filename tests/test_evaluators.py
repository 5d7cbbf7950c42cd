"""The metric families of `rag eval` over records as `Evaluator._record` writes them."""

from __future__ import annotations

import pytest

from rag.eval.evaluators import (
    AbstentionEvaluator,
    ArticleRetrievalEvaluator,
    ChoiceEvaluator,
    LineRetrievalEvaluator,
    SequentialEvaluator,
    ShortAnswerEvaluator,
    summary_evaluator,
)


def _record(**changes) -> dict:
    record = {
        "unanswerable": False, "answers": ["Agathe Lindqvist"], "gold_articles": ["a"], "gold_lines": [],
        "ranked_articles": ["b", "a"], "line_ranking": [], "prediction": "Agathe Lindqvist designed it.",
        "short_answer": "Agathe Lindqvist", "cited_text": "designed by the engineer Agathe Lindqvist",
        "abstained": False, "cited": ["a"], "cited_lines": [], "sentences": 2, "sentences_supported": 2,
        "citation_errors": 0, "choice": None, "timings_ms": {"retrieve": 20.0, "answer": 40.0, "total": 60.0},
    }
    record.update(changes)
    return record


RECORDS = [
    _record(),
    _record(short_answer="Tomas Varga", prediction="Tomas Varga cut the ribbon.", ranked_articles=["c", "d"],
            cited=["c"], choice="Tomas Varga", sentences_supported=1),
    _record(unanswerable=True, answers=[], gold_articles=[], abstained=True, short_answer="", prediction=""),
]


def test_each_family_scores_its_own_questions():
    articles = ArticleRetrievalEvaluator()(RECORDS)
    assert articles["article_recall@1"] == 0.0 and articles["article_recall@5"] == 0.5  # answerable ones only
    short = ShortAnswerEvaluator()(RECORDS)
    assert (short["short_exact_match"], short["short_answer_rate"], short["cited_contains"]) == (0.5, 1.0, 1.0)
    assert ChoiceEvaluator()(RECORDS) == {"choice_accuracy": 0.0, "choice_none_rate": 0.0}
    abstention = AbstentionEvaluator()(RECORDS)
    assert abstention["abstain_precision"] == 1.0 and abstention["abstain_recall"] == 1.0


def test_a_family_with_nothing_to_score_says_nothing():
    assert LineRetrievalEvaluator()(RECORDS) == {}  # no set line marks here
    assert ChoiceEvaluator()([_record()]) == {}  # asked without choices


def test_the_summary_is_every_family_in_turn_with_the_first_ones_primary_metric():
    summary = summary_evaluator(marks_unanswerable=True)
    scores = summary(RECORDS)
    assert summary.primary_metric == "article_recall@5"
    assert scores["supported_sentences"] == pytest.approx(5 / 6)
    assert scores["latency_total_p50_ms"] == 60.0
    assert "abstain_f1" in scores and "abstain_f1" not in summary_evaluator(marks_unanswerable=False)(RECORDS)
    with pytest.raises(ValueError):
        SequentialEvaluator([])
