"""Evaluation metrics on hand-made cases whose values are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.eval.metrics import (
    AnswerMetrics,
    CitationMetrics,
    RetrievalMetrics,
    abstention_scores,
    answer_contains,
    exact_match,
    fraction_recall_at_k,
    latency_summary,
    lines_overlap,
    ndcg_at_k,
    normalize_answer,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)

# --------------------------------------------------------------------------- ranking


def test_first_relevant_at_rank_three() -> None:
    ranked = ["x", "y", "gold", "z"]
    assert reciprocal_rank(ranked, {"gold"}) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, {"gold"}, 1) == 0.0
    assert recall_at_k(ranked, {"gold"}, 2) == 0.0
    assert recall_at_k(ranked, {"gold"}, 3) == 1.0
    assert recall_at_k(ranked, {"gold"}, 5) == 1.0


def test_reciprocal_rank_is_zero_beyond_k() -> None:
    assert reciprocal_rank(["x", "y", "gold"], {"gold"}, k=2) == 0.0
    assert reciprocal_rank(["gold"], ["gold"], k=1) == 1.0


def test_recall_is_hit_rate_but_fraction_recall_counts_golds() -> None:
    ranked = ["a", "x", "b", "y", "c"]
    relevant = {"a", "b", "c", "d"}
    assert recall_at_k(ranked, relevant, 1) == 1.0
    assert fraction_recall_at_k(ranked, relevant, 1) == pytest.approx(1 / 4)
    assert fraction_recall_at_k(ranked, relevant, 3) == pytest.approx(2 / 4)
    assert fraction_recall_at_k(ranked, relevant, 10) == pytest.approx(3 / 4)


def test_duplicates_count_only_at_their_first_position() -> None:
    # Repeats (e.g. several chunks of one article) take no slot: "gold" is the 2nd distinct id.
    ranked = ["x", "x", "x", "gold"]
    assert recall_at_k(ranked, {"gold"}, 2) == 1.0
    assert reciprocal_rank(ranked, {"gold"}) == pytest.approx(1 / 2)
    # ...and a repeated relevant id is not counted twice.
    assert fraction_recall_at_k(["a", "a", "x"], {"a", "b"}, 3) == pytest.approx(1 / 2)
    assert ndcg_at_k(["a", "a"], {"a", "b"}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_ndcg_by_hand() -> None:
    # Relevant {a, b, c}, ranking x a y b, k = 4: hits at ranks 2 and 4.
    # DCG  = 1/log2(3) + 1/log2(5)            = 0.630930 + 0.430677           = 1.061606
    # IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.630930 + 0.5 (min(3, 4) = 3 ideal hits) = 2.130930
    # nDCG = 1.061606 / 2.130930 = 0.498189
    assert ndcg_at_k(["x", "a", "y", "b"], {"a", "b", "c"}, k=4) == pytest.approx(0.498189, abs=1e-6)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # Three golds but k = 2: the ideal has two hits, so two hits at the top is perfect.
    assert ndcg_at_k(["a", "b", "c"], {"a", "b", "c"}, k=2) == pytest.approx(1.0)
    # One gold at rank 3: 1/log2(4) / 1 = 0.5.
    assert ndcg_at_k(["x", "y", "a"], {"a"}) == pytest.approx(0.5)
    assert ndcg_at_k(["x", "y"], {"a"}) == 0.0


@pytest.mark.parametrize("metric", [recall_at_k, fraction_recall_at_k, reciprocal_rank, ndcg_at_k])
def test_empty_relevant_is_an_error(metric) -> None:
    with pytest.raises(ValueError, match="relevant is empty"):
        metric(["a", "b"], set(), 5)


@pytest.mark.parametrize("metric", [recall_at_k, fraction_recall_at_k, reciprocal_rank, ndcg_at_k])
@pytest.mark.parametrize("k", [0, -1, 1.5])
def test_bad_k_is_an_error(metric, k) -> None:
    with pytest.raises(ValueError, match="k must be an integer"):
        metric(["a"], {"a"}, k)


def test_numpy_integer_k_is_accepted() -> None:
    assert recall_at_k(["x", "a"], {"a"}, np.int64(2)) == 1.0


def test_a_bare_string_is_not_taken_for_a_collection() -> None:
    with pytest.raises(TypeError):
        recall_at_k(["abc"], "abc", 1)
    with pytest.raises(TypeError):
        recall_at_k("abc", {"a"}, 1)


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The  Cat!", "cat"),
        ("A theater, an apple and THE end.", "theater apple and end"),
        ("“Hello,” she said — ‘an’ answer…", "hello she said answer"),
        ("U.S.A.", "usa"),
        ("Don't", "dont"),
        ("  \t\n ", ""),
        ("$5 + 3", "5 3"),
    ],
)
def test_normalize_answer(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized


def test_exact_match() -> None:
    assert exact_match("The Cat.", ["cat"]) == 1.0
    assert exact_match("“Cat”", ["dog", "the cat"]) == 1.0
    assert exact_match("the cat sat", ["cat"]) == 0.0


def test_token_f1() -> None:
    # pred tokens: big red dog (3), gold: red dog (2), overlap 2 -> P = 2/3, R = 1, F1 = 2*(2/3*1)/(2/3+1) = 0.8.
    assert token_f1("the big red dog", ["red dog"]) == pytest.approx(0.8)
    assert token_f1("the big red dog", ["blue cat", "red dog"]) == pytest.approx(0.8)
    # Counter overlap: "dog dog" vs "dog" shares one token -> P = 1/2, R = 1, F1 = 2/3.
    assert token_f1("dog dog", ["dog"]) == pytest.approx(2 / 3)
    assert token_f1("cat", ["dog"]) == 0.0
    assert token_f1("The red dog!", ["red dog"]) == pytest.approx(1.0)


def test_empty_sides_follow_squad() -> None:
    assert token_f1("", ["cat"]) == 0.0
    assert token_f1("cat", [""]) == 0.0
    # Golds that normalise to "" leave the question unanswerable: only an empty prediction scores.
    assert token_f1("", ["the"]) == 1.0
    assert token_f1("", []) == 1.0
    assert exact_match("", []) == 1.0
    assert exact_match("cat", ["", "The"]) == 0.0
    # An empty gold does not spoil a real one.
    assert exact_match("cat", ["", "cat"]) == 1.0


def test_answer_contains_whole_tokens() -> None:
    assert answer_contains("It happened in 2018.", ["18"]) == 0.0
    assert answer_contains("It happened in 2018.", ["2018"]) == 1.0
    assert answer_contains("The red dog barked.", ["Red dog"]) == 1.0
    assert answer_contains("The dog was red.", ["red dog"]) == 0.0
    assert answer_contains("“Paris”, she said.", ["paris"]) == 1.0
    assert answer_contains("anything at all", ["the"]) == 0.0
    assert answer_contains("anything at all", []) == 0.0
    assert answer_contains("", ["cat"]) == 0.0


def test_answer_golds_must_be_a_list() -> None:
    with pytest.raises(TypeError):
        exact_match("cat", "cat")
    with pytest.raises(TypeError):
        answer_contains("cat", "cat")


# --------------------------------------------------------------------------- abstention


def test_abstention_scores_on_a_small_table() -> None:
    # pred  T T F F T  -> 3 abstentions
    # truth T F T F F  -> 2 unanswerable; both true only at index 0
    # precision 1/3, recall 1/2, F1 = 2*(1/6)/(5/6) = 0.4, rate 3/5
    scores = abstention_scores([True, True, False, False, True], [True, False, True, False, False])
    assert scores == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": 0.4, "abstain_rate": 0.6, "count": 5.0})


def test_never_abstaining_gives_zero_precision() -> None:
    scores = abstention_scores([False, False], [True, False])
    assert scores == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "abstain_rate": 0.0, "count": 2.0}


def test_abstention_edge_cases() -> None:
    assert abstention_scores([], []) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "abstain_rate": 0.0, "count": 0.0}
    assert abstention_scores(np.array([True, False]), np.array([True, False]))["f1"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ in length"):
        abstention_scores([True], [True, False])


# --------------------------------------------------------------------------- latency


def test_latency_summary_on_one_to_hundred() -> None:
    # Linear: p50 sits halfway between 50 and 51; p95 at index 0.95*99 = 94.05 -> 95 + 0.05*(96-95) = 95.05.
    summary = latency_summary([float(value) for value in range(1, 101)])
    assert summary == pytest.approx({"p50": 50.5, "p95": 95.05, "mean": 50.5, "max": 100.0})
    assert all(type(value) is float for value in summary.values())


def test_latency_summary_edge_cases() -> None:
    assert latency_summary([]) == {}
    assert latency_summary([7.0]) == {"p50": 7.0, "p95": 7.0, "mean": 7.0, "max": 7.0}
    with pytest.raises(ValueError, match="finite"):
        latency_summary([1.0, float("nan")])


# --------------------------------------------------------------------------- metric objects


def test_retrieval_metrics_values_and_keys() -> None:
    rankings = [["x", "y", "g"], ["a", "b"], ["q"]]
    relevant = [{"g"}, {"a"}, set()]  # the third is unanswerable: skipped, not counted
    scores = RetrievalMetrics()(rankings, relevant)
    # recall@1 = (0 + 1)/2; MRR = (1/3 + 1)/2 = 2/3; nDCG = (1/log2(4) + 1)/2 = 0.75
    assert scores == pytest.approx(
        {"recall@1": 0.5, "recall@5": 1.0, "recall@10": 1.0, "mrr@10": 2 / 3, "ndcg@10": 0.75, "count": 2.0}
    )
    assert list(scores) == ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "count"]


def test_retrieval_metrics_prefix_and_settings() -> None:
    metric = RetrievalMetrics(ks=(3, 1, 3), mrr_k=2, ndcg_k=5)
    scores = metric([["x", "y", "g"]], [["g"]], prefix="article_")
    assert scores == pytest.approx(
        {
            "article_recall@1": 0.0,
            "article_recall@3": 1.0,
            "article_mrr@2": 0.0,
            "article_ndcg@5": 0.5,
            "article_count": 1.0,
        }
    )


def test_retrieval_metrics_with_nothing_scored() -> None:
    scores = RetrievalMetrics(ks=(1,))([["a"]], [[]], prefix="chunk_")
    assert scores == {"chunk_recall@1": 0.0, "chunk_mrr@10": 0.0, "chunk_ndcg@10": 0.0, "chunk_count": 0.0}


@pytest.mark.parametrize(
    "settings",
    [{"ks": ()}, {"ks": (0, 5)}, {"ks": (1.5,)}, {"ks": "5"}, {"mrr_k": 0}, {"ndcg_k": -3}],
)
def test_retrieval_metrics_rejects_bad_settings(settings) -> None:
    with pytest.raises(ValueError):
        RetrievalMetrics(**settings)


def test_retrieval_metrics_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        RetrievalMetrics()([["a"], ["b"]], [{"a"}])


def test_answer_metrics() -> None:
    predictions = ["The red dog.", "It was in 2018.", "Paris, France", "whatever", "something"]
    golds = [["red dog"], ["18"], ["Paris"], [], ["The"]]  # the last two have no gold answer: skipped
    scores = AnswerMetrics()(predictions, golds)
    # contains: 1, 0, 1 -> 2/3; EM: 1, 0, 0 -> 1/3; F1: 1, 0, 2*(1/2*1)/(1/2+1) = 2/3 -> (1 + 0 + 2/3)/3 = 5/9
    assert scores == pytest.approx({"contains": 2 / 3, "exact_match": 1 / 3, "f1": 5 / 9, "count": 3.0})
    assert AnswerMetrics()(predictions, golds, prefix="llm_")["llm_f1"] == pytest.approx(5 / 9)


def test_answer_metrics_with_nothing_scored() -> None:
    assert AnswerMetrics()([], []) == {"contains": 0.0, "exact_match": 0.0, "f1": 0.0, "count": 0.0}
    with pytest.raises(ValueError, match="differ in length"):
        AnswerMetrics()(["a"], [])


def test_citation_metrics() -> None:
    cited = [["a", "b", "a"], ["x"], [], ["z"]]
    relevant = [{"a"}, {"y"}, {"q"}, set()]  # the last is skipped
    scores = CitationMetrics()(cited, relevant)
    # Pooled: 3 + 1 + 0 = 4 citations, 2 of them (both "a") relevant -> 0.5. Correct answers: 1 of 3.
    assert scores == pytest.approx({"citation_precision": 0.5, "answers_with_correct_citation": 1 / 3, "count": 3.0})


def test_citation_metrics_edge_cases() -> None:
    assert CitationMetrics()([[], []], [{"a"}, {"b"}]) == {
        "citation_precision": 0.0,
        "answers_with_correct_citation": 0.0,
        "count": 2.0,
    }
    assert CitationMetrics()([["a"]], [set()]) == {
        "citation_precision": 0.0,
        "answers_with_correct_citation": 0.0,
        "count": 0.0,
    }
    assert CitationMetrics()([["a"]], [{"a"}], prefix="p_") == {
        "p_citation_precision": 1.0,
        "p_answers_with_correct_citation": 1.0,
        "p_count": 1.0,
    }


def test_lines_overlap() -> None:
    assert lines_overlap(1, 3, 3, 5) is True  # share line 3 (ranges are inclusive)
    assert lines_overlap(3, 5, 1, 3) is True
    assert lines_overlap(4, 4, 1, 10) is True
    assert lines_overlap(1, 2, 3, 4) is False
    assert lines_overlap(7, 9, 3, 6) is False
    with pytest.raises(ValueError):
        lines_overlap(5, 3, 1, 2)
