"""Evaluation metrics for retrieval, answers, citations, abstention and latency.

Plain functions score one question; the metric objects (in the style of sentence-transformers' evaluators)
score a whole run and return a flat ``dict[str, float]`` that can be merged into one report.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from rag.text.normalize import contains_run, normalize_answer

__all__ = [
    "AnswerMetrics",
    "CitationMetrics",
    "RetrievalMetrics",
    "abstention_scores",
    "answer_contains",
    "contains_run",
    "exact_match",
    "fraction_recall_at_k",
    "latency_summary",
    "lines_overlap",
    "ndcg_at_k",
    "normalize_answer",
    "recall_at_k",
    "reciprocal_rank",
    "token_f1",
]


# --------------------------------------------------------------------------- ranking


def _check_k(k: int, name: str = "k") -> int:
    # operator.index accepts numpy integers but not floats, so "k=5.0" is caught rather than truncated.
    try:
        value = operator.index(k)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= 1, got {k!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {k!r}")
    return value


def _not_a_string(value: object, name: str) -> None:
    # A bare string is a Sequence of characters: scoring it would silently give nonsense.
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be a collection of strings, not a single string: {value!r}")


def _top_k(ranked: Sequence[str], k: int) -> list[str]:
    """The first k distinct ids: a repeated id (e.g. a second chunk of the same article) takes no slot."""
    _not_a_string(ranked, "ranked")
    seen: set[str] = set()
    top: list[str] = []
    for item in ranked:
        if item in seen:
            continue
        seen.add(item)
        top.append(item)
        if len(top) == k:
            break
    return top


def _relevant_set(relevant: Collection[str]) -> set[str]:
    _not_a_string(relevant, "relevant")
    gold = set(relevant)
    if not gold:
        raise ValueError("relevant is empty: skip unanswerable questions instead of scoring them")
    return gold


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 when any relevant id is in the top k, else 0.0.

    This is hit rate / success@k. News-QA papers with one gold article per question call it Recall@k, and
    with a single relevant id it equals `fraction_recall_at_k`.
    """
    k = _check_k(k)
    gold = _relevant_set(relevant)
    return 1.0 if any(item in gold for item in _top_k(ranked, k)) else 0.0


def fraction_recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant ids found in the top k: the textbook recall, for questions with several golds."""
    k = _check_k(k)
    gold = _relevant_set(relevant)
    return sum(1 for item in _top_k(ranked, k) if item in gold) / len(gold)


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """1/rank of the first relevant id within the top k, else 0.0; its mean over questions is MRR@k."""
    k = _check_k(k)
    gold = _relevant_set(relevant)
    for rank, item in enumerate(_top_k(ranked, k), start=1):
        if item in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """nDCG@k with binary gains and a log2 discount, so it rewards every relevant id and its position.

    The ideal ranking puts min(len(relevant), k) relevant ids first.
    """
    k = _check_k(k)
    gold = _relevant_set(relevant)
    dcg = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(_top_k(ranked, k), start=1) if item in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


# --------------------------------------------------------------------------- answers

def _tokens(s: str) -> list[str]:
    return normalize_answer(s).split() if s else []


def _gold_answers(golds: Sequence[str]) -> list[str]:
    """Golds that survive normalisation; none left means unanswerable, scored as gold "" as SQuAD v2 does."""
    _not_a_string(golds, "golds")
    kept = [gold for gold in golds if normalize_answer(gold)]
    return kept or [""]


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold.

    Golds that normalise to "" are dropped; with none left only an empty prediction matches (SQuAD v2).
    """
    pred = normalize_answer(prediction)
    return max(1.0 if pred == normalize_answer(gold) else 0.0 for gold in _gold_answers(golds))


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return 1.0 if pred_tokens == gold_tokens else 0.0
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Official SQuAD token F1 (bag-of-tokens overlap), max over golds: partial credit for near-miss answers.

    Golds are handled as in `exact_match`.
    """
    pred = _tokens(prediction)
    return max(_f1(pred, _tokens(gold)) for gold in _gold_answers(golds))


def answer_contains(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when a normalised gold appears in the normalised prediction as a contiguous run of whole tokens.

    Generated answers are full sentences, so EM is too strict for them; whole tokens keep gold "18" from
    matching "2018". Golds that normalise to "" never count, so no golds gives 0.0.
    """
    _not_a_string(golds, "golds")
    pred = _tokens(prediction)
    return 1.0 if any(contains_run(pred, gold) for gold in map(_tokens, golds) if gold) else 0.0


# --------------------------------------------------------------------------- abstention


def abstention_scores(predicted_abstain: Sequence[bool], truly_unanswerable: Sequence[bool]) -> dict[str, float]:
    """Precision, recall and F1 of abstaining (abstain is the positive class), plus how often the system abstains.

    A system that never abstains gets precision 0.0 (not undefined), and a set with no unanswerable question
    gets recall 0.0, so the scores are always numbers. Keys: precision, recall, f1, abstain_rate, count.
    """
    if len(predicted_abstain) != len(truly_unanswerable):
        raise ValueError(
            f"predicted_abstain and truly_unanswerable differ in length: "
            f"{len(predicted_abstain)} != {len(truly_unanswerable)}"
        )
    pairs = [(bool(pred), bool(true)) for pred, true in zip(predicted_abstain, truly_unanswerable, strict=True)]
    abstained = sum(pred for pred, _ in pairs)
    unanswerable = sum(true for _, true in pairs)
    correct = sum(pred and true for pred, true in pairs)
    precision = correct / abstained if abstained else 0.0
    recall = correct / unanswerable if unanswerable else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "abstain_rate": abstained / len(pairs) if pairs else 0.0,
        "count": float(len(pairs)),
    }


# --------------------------------------------------------------------------- latency


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 (linear interpolation), mean and max, because tail latency matters as much as the average.

    Empty input gives {} rather than made-up zeros.
    """
    if len(samples_ms) == 0:
        return {}
    values = np.asarray(samples_ms, dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError("latency samples must be finite numbers")
    p50, p95 = np.percentile(values, [50, 95], method="linear")
    return {"p50": float(p50), "p95": float(p95), "mean": float(values.mean()), "max": float(values.max())}


# --------------------------------------------------------------------------- citations


def lines_overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """Whether two inclusive line ranges share a line: a citation is right at line level if it overlaps gold."""
    if a_start > a_end or b_start > b_end:
        raise ValueError(f"line range start after end: {a_start}-{a_end}, {b_start}-{b_end}")
    return a_start <= b_end and b_start <= a_end


# --------------------------------------------------------------------------- metric objects


def _check_lengths(first: Sequence[object], second: Sequence[object], names: str) -> None:
    if len(first) != len(second):
        raise ValueError(f"{names} differ in length: {len(first)} != {len(second)}")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class PairedMetrics:
    """Scores over pairs, one per question (what the system gave, what is right), returned under their names with
    ``prefix`` in front, so several levels of one family can share a dict."""

    pair_names = ("predictions", "golds")  # the two arguments, as errors name them

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __call__(self, given: Sequence[Any], expected: Sequence[Any], prefix: str = "") -> dict[str, float]:
        _check_lengths(given, expected, " and ".join(self.pair_names))
        return {prefix + name: value for name, value in self.compute(given, expected).items()}

    def compute(self, given: Sequence[Any], expected: Sequence[Any]) -> dict[str, float]:
        raise NotImplementedError


class RetrievalMetrics(PairedMetrics):
    """Recall@k (hit rate), MRR@k and nDCG@k over a run, skipping questions with no relevant id.

    Keys: ``recall@{k}`` for each k, ``mrr@{mrr_k}``, ``ndcg@{ndcg_k}``, ``count``, each with ``prefix`` in
    front (``prefix="article_"`` gives ``article_recall@5``), so article- and chunk-level scores can share a dict.
    """

    def __init__(self, ks: Sequence[int] = (1, 5, 10), mrr_k: int = 10, ndcg_k: int = 10) -> None:
        if isinstance(ks, str | bytes) or len(ks) == 0:
            raise ValueError(f"ks must be a non-empty sequence of integers >= 1, got {ks!r}")
        self.ks: tuple[int, ...] = tuple(sorted({_check_k(k, "ks") for k in ks}))
        self.mrr_k = _check_k(mrr_k, "mrr_k")
        self.ndcg_k = _check_k(ndcg_k, "ndcg_k")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ks={self.ks}, mrr_k={self.mrr_k}, ndcg_k={self.ndcg_k})"

    pair_names = ("rankings", "relevant")

    def compute(self, rankings: Sequence[Sequence[str]], relevant: Sequence[Collection[str]]) -> dict[str, float]:
        recalls: dict[int, list[float]] = {k: [] for k in self.ks}
        rrs: list[float] = []
        ndcgs: list[float] = []
        for ranked, gold in zip(rankings, relevant, strict=True):
            _not_a_string(gold, "relevant")
            if not gold:
                continue
            for k in self.ks:
                recalls[k].append(recall_at_k(ranked, gold, k))
            rrs.append(reciprocal_rank(ranked, gold, self.mrr_k))
            ndcgs.append(ndcg_at_k(ranked, gold, self.ndcg_k))
        scores = {f"recall@{k}": _mean(recalls[k]) for k in self.ks}
        scores[f"mrr@{self.mrr_k}"] = _mean(rrs)
        scores[f"ndcg@{self.ndcg_k}"] = _mean(ndcgs)
        scores["count"] = float(len(rrs))
        return scores


class AnswerMetrics(PairedMetrics):
    """Mean answer-contains, exact match and token F1 over the questions that have a (non-empty) gold answer.

    Unanswerable questions are left to `abstention_scores`. Keys: contains, exact_match, f1, count.
    """

    def compute(self, predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
        contains: list[float] = []
        ems: list[float] = []
        f1s: list[float] = []
        for prediction, answers in zip(predictions, golds, strict=True):
            _not_a_string(answers, "golds")
            if not any(normalize_answer(answer) for answer in answers):
                continue
            contains.append(answer_contains(prediction, answers))
            ems.append(exact_match(prediction, answers))
            f1s.append(token_f1(prediction, answers))
        scores = {"contains": _mean(contains), "exact_match": _mean(ems), "f1": _mean(f1s), "count": float(len(ems))}
        return scores


class CitationMetrics(PairedMetrics):
    """Whether answers cite the right articles, skipping questions with no relevant article.

    ``citation_precision`` pools citations over questions (a question citing ten sources weighs ten times one
    citing one) and is 0.0 when nothing was cited; ``answers_with_correct_citation`` is the share of questions
    with at least one citation into a relevant id. For line-level correctness, pass ids of gold line spans
    as ``relevant`` and, as ``cited``, each citation's overlapping span id (found with `lines_overlap`) or any
    other id. Keys: citation_precision, answers_with_correct_citation, count.
    """

    pair_names = ("cited", "relevant")

    def compute(self, cited: Sequence[Sequence[str]], relevant: Sequence[Collection[str]]) -> dict[str, float]:
        citations = 0
        correct_citations = 0
        correct_answers: list[float] = []
        for ids, gold in zip(cited, relevant, strict=True):
            _not_a_string(ids, "cited")
            _not_a_string(gold, "relevant")
            if not gold:
                continue
            gold_set = set(gold)
            hits = sum(1 for item in ids if item in gold_set)
            citations += len(ids)
            correct_citations += hits
            correct_answers.append(1.0 if hits else 0.0)
        scores = {
            "citation_precision": correct_citations / citations if citations else 0.0,
            "answers_with_correct_citation": _mean(correct_answers),
            "count": float(len(correct_answers)),
        }
        return scores
