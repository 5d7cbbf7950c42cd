"""Scores of `rag eval`, one family of metrics per evaluator, over the records rag/eval/evaluation.py writes.

In the shape of sentence-transformers' evaluators: each is called with the records and returns a
`dict[str, float]`, names its `primary_metric`, and `SequentialEvaluator` composes them into one summary. A record is
one question as `Citeline.ask` answered it (see `Evaluator._record`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def with_gold_lines(records: Sequence[Record]) -> list[Record]:
    """The answerable questions whose set marks the lines that answer them."""
    return [r for r in answerable(records) if r["gold_lines"]]


def answered(records: Sequence[Record]) -> list[Record]:
    """The answerable questions not abstained on."""
    return [r for r in answerable(records) if not r["abstained"]]


def asked_with_choices(records: Sequence[Record]) -> list[Record]:
    return [r for r in with_answers(records) if r["choice"] is not None]


class RecordEvaluator:
    """One family of metrics over the records it selects (all, unless the class names a selection, as in
    ``class AnswerEvaluator(RecordEvaluator, primary="contains", select=with_answers)``); an empty dict when it
    selects none."""

    primary_metric = ""
    selection: Callable[[Sequence[Record]], list[Record]] = staticmethod(list)

    def __init_subclass__(cls, primary: str = "", select: Callable[[Sequence[Record]], list[Record]] | None = None,
                          **kwargs: Any):
        super().__init_subclass__(**kwargs)
        cls.primary_metric = primary or cls.primary_metric
        if select is not None:
            cls.selection = staticmethod(select)

    def __call__(self, records: Sequence[Record]) -> dict[str, float]:
        selected = self.selection(records)
        return self.score(selected) if selected else {}

    def score(self, records: list[Record]) -> dict[str, float]:
        raise NotImplementedError


class ArticleRetrievalEvaluator(RecordEvaluator, primary="article_recall@5", select=answerable):
    """Recall, MRR and nDCG of the articles ranked for each answerable question."""

    def score(self, records: list[Record]) -> dict[str, float]:
        return RetrievalMetrics()([r["ranked_articles"] for r in records],
                                  [set(r["gold_articles"]) for r in records], prefix="article_")


class LineRetrievalEvaluator(RecordEvaluator, primary="line_recall@5", select=with_gold_lines):
    """The same over passages, where the set marks the gold lines."""

    def score(self, records: list[Record]) -> dict[str, float]:
        return RetrievalMetrics()([r["line_ranking"] for r in records], [{"gold"}] * len(records), prefix="line_")


class AnswerEvaluator(RecordEvaluator, primary="contains", select=with_answers):
    """Whether the answer (short answer and sentences) contains, or is, a gold answer."""

    def score(self, records: list[Record]) -> dict[str, float]:
        return AnswerMetrics()([r["prediction"] for r in records], [r["answers"] for r in records])


class CitationEvaluator(RecordEvaluator, primary="citation_precision", select=answered):
    """How many cited articles (and lines) are gold ones, over the questions answered."""

    def score(self, records: list[Record]) -> dict[str, float]:
        scores = CitationMetrics()([r["cited"] for r in records], [set(r["gold_articles"]) for r in records])
        lined = [r for r in records if r["gold_lines"]]
        if lined:
            scores.update(CitationMetrics()([r["cited_lines"] for r in lined], [{"gold"}] * len(lined),
                                            prefix="line_"))
        return scores


class GroundingEvaluator(RecordEvaluator, primary="supported_sentences"):
    """Sentences supported by the lines they cite, and citations that point at nothing or misquote."""

    def score(self, records: list[Record]) -> dict[str, float]:
        scores: dict[str, float] = {}
        sentences = sum(r["sentences"] for r in records)
        if sentences:
            scores["supported_sentences"] = sum(r["sentences_supported"] for r in records) / sentences
        scores["citation_errors"] = float(sum(r["citation_errors"] for r in records))
        return scores


class ShortAnswerEvaluator(RecordEvaluator, primary="short_exact_match", select=with_answers):
    """The short answer against the gold answers (none given counts as wrong), and the cited lines' text."""

    def score(self, records: list[Record]) -> dict[str, float]:
        golds = [r["answers"] for r in records]
        shorts = AnswerMetrics()([r["short_answer"] for r in records], golds)
        scores = {f"short_{name}": shorts[name] for name in ("exact_match", "f1", "contains")}
        scores["short_answer_rate"] = sum(1 for r in records if r["short_answer"]) / len(records)
        scores["cited_contains"] = AnswerMetrics()([r["cited_text"] for r in records], golds)["contains"]
        return scores


class ChoiceEvaluator(RecordEvaluator, primary="choice_accuracy", select=asked_with_choices):
    """Multiple choice: the share of questions asked with their choices answered with the right one."""

    def score(self, records: list[Record]) -> dict[str, float]:
        return {"choice_accuracy": sum(exact_match(r["choice"], r["answers"]) for r in records) / len(records),
                "choice_none_rate": sum(1 for r in records if not r["choice"]) / len(records)}


class AbstentionEvaluator(RecordEvaluator, primary="abstain_f1"):
    """Saying "not in the indexed articles" where the set marks the question unanswerable, and only there."""

    def score(self, records: list[Record]) -> dict[str, float]:
        scored = abstention_scores([r["abstained"] for r in records], [bool(r["unanswerable"]) for r in records])
        return {f"abstain_{name}": value for name, value in scored.items()}


class LatencyEvaluator(RecordEvaluator, primary="latency_total_p50_ms"):
    """p50 and p95 of each stage's time, as `Citeline.ask` measured it."""

    def score(self, records: list[Record]) -> dict[str, float]:
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
