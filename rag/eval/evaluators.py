"""Scores of `rag eval`, one family of metrics per evaluator, over the records rag/eval/evaluation.py writes.

In the shape of sentence-transformers' evaluators: each is called with the records and returns a
`dict[str, float]`, names its `primary_metric`, and `SequentialEvaluator` composes them into one summary. A record is
one question as `Citeline.ask` answered it (see `Evaluator._record`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.eval.metrics import (
    AnswerMetrics,
    CitationMetrics,
    RetrievalMetrics,
    abstention_scores,
    exact_match,
    latency_summary,
)

Record = dict[str, Any]
LATENCY_STAGES = ("retrieve", "answer", "total")


def answerable(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if not r["unanswerable"]]


def with_answers(records: Sequence[Record]) -> list[Record]:
    """The answerable questions that have gold answer texts."""
    return [r for r in answerable(records) if r["answers"]]


class RecordEvaluator:
    """One family of metrics; an empty dict when the records hold nothing it can score."""

    primary_metric = ""

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        raise NotImplementedError


class ArticleRetrievalEvaluator(RecordEvaluator):
    """Recall, MRR and nDCG of the articles ranked for each answerable question."""

    primary_metric = "article_recall@5"

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        asked = answerable(records)
        return RetrievalMetrics()([r["ranked_articles"] for r in asked], [set(r["gold_articles"]) for r in asked],
                                  prefix="article_")


class LineRetrievalEvaluator(RecordEvaluator):
    """The same over passages, where the set marks the gold lines."""

    primary_metric = "line_recall@5"

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        lined = [r for r in answerable(records) if r["gold_lines"]]
        if not lined:
            return {}
        return RetrievalMetrics()([r["line_ranking"] for r in lined], [{"gold"}] * len(lined), prefix="line_")


class AnswerEvaluator(RecordEvaluator):
    """Whether the answer (short answer and sentences) contains, or is, a gold answer."""

    primary_metric = "contains"

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        scored = with_answers(records)
        if not scored:
            return {}
        return AnswerMetrics()([r["prediction"] for r in scored], [r["answers"] for r in scored])


class CitationEvaluator(RecordEvaluator):
    """How many cited articles (and lines) are gold ones, over the questions answered."""

    primary_metric = "citation_precision"

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        answered = [r for r in answerable(records) if not r["abstained"]]
        if not answered:
            return {}
        scores = CitationMetrics()([r["cited"] for r in answered], [set(r["gold_articles"]) for r in answered])
        lined = [r for r in answered if r["gold_lines"]]
        if lined:
            scores.update(CitationMetrics()([r["cited_lines"] for r in lined], [{"gold"}] * len(lined),
                                            prefix="line_"))
        return scores


class GroundingEvaluator(RecordEvaluator):
    """Sentences supported by the lines they cite, and citations that point at nothing or misquote."""

    primary_metric = "supported_sentences"

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        scores: dict[str, float] = {}
        sentences = sum(r["sentences"] for r in records)
        if sentences:
            scores["supported_sentences"] = sum(r["sentences_supported"] for r in records) / sentences
        scores["citation_errors"] = float(sum(r["citation_errors"] for r in records))
        return scores


class ShortAnswerEvaluator(RecordEvaluator):
    """The short answer against the gold answers (none given counts as wrong), and the cited lines' text."""

    primary_metric = "short_exact_match"

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        scored = with_answers(records)
        if not scored:
            return {}
        golds = [r["answers"] for r in scored]
        shorts = AnswerMetrics()([r["short_answer"] for r in scored], golds)
        scores = {f"short_{name}": shorts[name] for name in ("exact_match", "f1", "contains")}
        scores["short_answer_rate"] = sum(1 for r in scored if r["short_answer"]) / len(scored)
        scores["cited_contains"] = AnswerMetrics()([r["cited_text"] for r in scored], golds)["contains"]
        return scores


class ChoiceEvaluator(RecordEvaluator):
    """Multiple choice: the share of questions asked with their choices answered with the right one."""

    primary_metric = "choice_accuracy"

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        chosen = [r for r in with_answers(records) if r["choice"] is not None]
        if not chosen:
            return {}
        return {"choice_accuracy": sum(exact_match(r["choice"], r["answers"]) for r in chosen) / len(chosen),
                "choice_none_rate": sum(1 for r in chosen if not r["choice"]) / len(chosen)}


class AbstentionEvaluator(RecordEvaluator):
    """Saying "not in the indexed articles" where the set marks the question unanswerable, and only there."""

    primary_metric = "abstain_f1"

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        scored = abstention_scores([r["abstained"] for r in records], [bool(r["unanswerable"]) for r in records])
        return {f"abstain_{name}": value for name, value in scored.items()}


class LatencyEvaluator(RecordEvaluator):
    """p50 and p95 of each stage's time, as `Citeline.ask` measured it."""

    primary_metric = "latency_total_p50_ms"

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        scores: dict[str, float] = {}
        for stage in LATENCY_STAGES:
            for name, value in latency_summary([r["timings_ms"][stage] for r in records]).items():
                if name in ("p50", "p95"):
                    scores[f"latency_{stage}_{name}_ms"] = value
        return scores


class SequentialEvaluator(RecordEvaluator):
    """Evaluators run in turn, their scores in one dict; the primary metric is the first one's."""

    def __init__(self, evaluators: Sequence[RecordEvaluator]):
        if not evaluators:
            raise ValueError("give at least one evaluator")
        self.evaluators = list(evaluators)
        self.primary_metric = self.evaluators[0].primary_metric

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        scores: dict[str, float] = {}
        for evaluator in self.evaluators:
            scores.update(evaluator(records))
        return scores


def summary_evaluator(marks_unanswerable: bool) -> SequentialEvaluator:
    """The evaluators of `rag eval`; abstention only for a set that marks unanswerable questions."""
    evaluators: list[RecordEvaluator] = [
        ArticleRetrievalEvaluator(), LineRetrievalEvaluator(), AnswerEvaluator(), CitationEvaluator(),
        GroundingEvaluator(), ShortAnswerEvaluator(), ChoiceEvaluator(),
    ]
    if marks_unanswerable:
        evaluators.append(AbstentionEvaluator())
    evaluators.append(LatencyEvaluator())
    return SequentialEvaluator(evaluators)
