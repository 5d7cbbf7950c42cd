"""`rag train-reader`: fit the reader's scorers on a question set and write them as JSON.

For every question the passages are retrieved exactly as `rag ask` retrieves them, and the reader's candidate
extraction runs over them; a mention or candidate is positive when it matches a gold answer (SQuAD-normalised).
Each question is also asked once more with the articles that hold its answer left out, as a "not in the archive"
question, so the answerability scorer learns what missing answers look like. Scorers are logistic regressions
(scikit-learn, needed for training only); each stage is fitted on scores the previous stage gave out of fold, and
the reported figures are 5-fold cross-validated.

    rag train-reader ../shared/bench/rtqa2024 --use-dates --out rag/models/reader.json
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from rag.answer.candidates import MENTION_FEATURES, CandidateExtractor, Mention, group, set_label_prior
from rag.answer.question import Question, analyse
from rag.answer.reader import Reader, Reading, SpanSource, answerable_features, choice_features, typed
from rag.answer.reader_model import (
    ANSWERABLE_FEATURES,
    CANDIDATE_FEATURES,
    CHOICE_FEATURES,
    FORMAT,
    LabelPriors,
    LinearModel,
    ReaderModel,
)
from rag.errors import CitelineError
from rag.eval.evaluation import Dataset, EvalQuestion, Evaluator
from rag.text.dates import to_date
from rag.text.normalize import normalize_answer

FOLDS = 5
SCALE_FLOOR = 0.25
# Share of "not in the archive" questions the answerability threshold is chosen for (RealTimeQA 2025 has 26 of 250).
UNANSWERABLE_SHARE = 0.1
C_MENTION, C_CANDIDATE, C_ANSWERABLE, C_CHOICE = 1.0, 0.1, 1.0, 1.0


@dataclass
class Example:
    """One question as read: its mentions and their labels, and how they group into candidates."""

    question: Question
    answerable: bool
    golds: set[str]
    mentions: list[Mention]
    hits: list
    articles_read: int
    fold: int
    choices: list[str] = field(default_factory=list)
    choice_mentions: list[list[Mention]] = field(default_factory=list)
    correct_choice: int = -1
    extraction: object = None

    @property
    def labels(self) -> np.ndarray:
        return np.array([_matches(m.key, self.golds) for m in self.mentions], dtype=float)


def _matches(key: str, golds: set[str]) -> bool:
    return key in golds


class ReaderTrainer:
    """Collects examples through a Citeline (its retrieval, its index's annotations) and fits the scorers."""

    def __init__(self, app, dataset: Dataset, passages: int, use_dates: bool = False, seed: int = 0):
        self.app = app
        self.dataset = dataset
        self.passages = passages
        self.use_dates = use_dates
        self.rng = np.random.RandomState(seed)
        self.reader = Reader(lead_chars=app.settings.reader.lead_chars)

    # -- examples -------------------------------------------------------------------------------------------------
    def collect(self, progress: bool = True, log: Callable[[str], None] = print) -> list[Example]:
        from tqdm import tqdm

        questions = [q for q in self.dataset.questions if q.answers or q.unanswerable]
        if len(questions) < FOLDS:
            raise CitelineError(f"training needs at least {FOLDS} questions with answers, the set has {len(questions)}")
        folds = self.rng.permutation(len(questions)) % FOLDS
        evaluator = Evaluator(self.app, self.dataset)
        examples = []
        for fold, q in tqdm(list(zip(folds, questions, strict=True)), desc="Reading", unit="q",
                            disable=None if progress else True):
            examples.extend(self._examples_of(q, int(fold), evaluator))
        positives = sum(1 for e in examples if e.answerable and e.labels.any())
        answerable = sum(1 for e in examples if e.answerable)
        log(f"{answerable} answerable questions, {positives} with the answer among the candidates;"
            f" {len(examples) - answerable} without their answer's articles")
        return examples

    def _examples_of(self, q: EvalQuestion, fold: int, evaluator: Evaluator) -> list[Example]:
        """The question as asked, and once more with its answer's articles left out ("not in the archive")."""
        as_of = to_date(q.date) if self.use_dates and q.date else None
        gold = evaluator.gold_articles(q)
        examples = []
        if not q.unanswerable:
            examples.append(self._example(q, fold, as_of, set(), answerable=True))
        if gold or q.unanswerable:
            examples.append(self._example(q, fold, as_of, gold, answerable=False))
        return examples

    def _example(self, q: EvalQuestion, fold: int, as_of: date | None, left_out: set[str], answerable: bool
                 ) -> Example:
        question = analyse(q.question)
        hits = self.app.retrieve(q.question, self.passages * 4 if left_out else self.passages, as_of=as_of)
        if left_out:
            hits = [h for h in hits if h.article.id not in left_out][: self.passages]
        index = self.app.reader()
        spans = SpanSource(index.line_spans, self.reader.annotator, self.reader.lead_chars, self.reader._parsed,
                           self.reader._lock)
        extractor = CandidateExtractor(spans)
        extraction = extractor.extract(question, hits)
        if not question.factoid and not q.choices:
            extraction.mentions = []
        golds = {normalize_answer(a) for a in q.answers} - {""}
        example = Example(question, answerable, golds, extraction.mentions, hits, extraction.articles_read, fold,
                          extraction=extraction)
        if q.choices:
            example.choices = list(q.choices)
            example.choice_mentions = [extractor.phrase_mentions(extraction, c) for c in q.choices]
            keys = [normalize_answer(c) for c in q.choices]
            example.correct_choice = next((i for i, k in enumerate(keys) if k in golds), -1)
        return example

    # -- fitting --------------------------------------------------------------------------------------------------
    def fit(self, examples: list[Example], log: Callable[[str], None] = print) -> ReaderModel:
        """Cross-validated figures and the abstention threshold from out-of-fold scores, then every scorer fitted
        on the whole set."""
        started = time.perf_counter()
        answerable = [e for e in examples if e.answerable]
        weights = _prior_weights(np.array([e.answerable for e in examples], dtype=float))
        readings = self._out_of_fold_readings(examples, answerable)
        threshold, abstention = self._threshold(examples, readings, weights)
        metrics = {"questions": len(answerable), "exact_match_cv": _exact_match(readings, examples), **abstention}
        choice_x, choice_y, choice_q = _choice_data(examples, readings)
        choice_model = _fit_linear(choice_x, choice_y, C_CHOICE, names=CHOICE_FEATURES) if len(choice_x) else \
            _constant(CHOICE_FEATURES)
        if len(choice_x):
            metrics["choice_accuracy_cv"] = _choice_accuracy(choice_x, choice_y, choice_q, examples)
        priors, mention, candidate, answerable_model = _final_scorers(examples, answerable, weights)
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        log("cross-validated on the training set: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
        return ReaderModel(priors, mention, candidate, answerable_model, choice_model, threshold,
                           {"format": FORMAT, "trained_on": self.dataset.name, "passages": self.passages,
                            "use_dates": self.use_dates, "date": time.strftime("%Y-%m-%d"), "metrics": metrics})

    @staticmethod
    def _out_of_fold_readings(examples: list[Example], answerable: list[Example]) -> list[Reading]:
        """Each question read by label priors and scorers fitted without its fold (mentions scored in place)."""
        for fold in range(FOLDS):  # label priors for each fold's mentions from the other folds' answers
            priors = label_priors([e for e in answerable if e.fold != fold])
            for e in examples:
                if e.fold == fold:
                    _set_priors(e, priors)
        mention_oof = {fold: _fit_linear(*_mention_data([e for e in answerable if e.fold != fold]), C_MENTION,
                                               names=MENTION_FEATURES)
                       for fold in range(FOLDS)}
        for e in examples:
            _score_mentions(e, mention_oof[e.fold])
        candidate_oof = {fold: _fit_linear(*_candidate_data([e for e in answerable if e.fold != fold]), C_CANDIDATE,
                                                 names=CANDIDATE_FEATURES)
                         for fold in range(FOLDS)}
        return [_reading(e, candidate_oof[e.fold]) for e in examples]

    def _threshold(self, examples: list[Example], readings: list[Reading], weights: np.ndarray
                   ) -> tuple[float, dict[str, float]]:
        """The confidence threshold, chosen on out-of-fold confidences (kept in `self.out_of_fold`)."""
        answer_x = np.array([answerable_features(r, e.hits) for r, e in zip(readings, examples, strict=True)])
        answer_y = np.array([e.answerable for e in examples], dtype=float)
        right = np.array([_right(r, e) for r, e in zip(readings, examples, strict=True)], dtype=float)
        folds = np.array([e.fold for e in examples])
        answer_oof = np.zeros(len(examples))
        for fold in range(FOLDS):
            train = folds != fold
            model = _fit_linear(answer_x[train], right[train], C_ANSWERABLE, weights[train], ANSWERABLE_FEATURES)
            answer_oof[folds == fold] = model.probability(answer_x[folds == fold])
        self.out_of_fold = {"confidence": answer_oof, "answerable": answer_y, "right": right}
        return choose_threshold(answer_oof, answer_y, right)


def _final_scorers(examples: list[Example], answerable: list[Example], weights: np.ndarray
                   ) -> tuple[LabelPriors, LinearModel, LinearModel, LinearModel]:
    """Label priors, mention, candidate and answerability scorers fitted on every question."""
    priors = label_priors(answerable)
    for e in examples:
        _set_priors(e, priors)
    mention = _fit_linear(*_mention_data(answerable), C_MENTION, names=MENTION_FEATURES)
    for e in examples:
        _score_mentions(e, mention)
    candidate = _fit_linear(*_candidate_data(answerable), C_CANDIDATE, names=CANDIDATE_FEATURES)
    readings = [_reading(e, candidate) for e in examples]
    answer_x = np.array([answerable_features(r, e.hits) for r, e in zip(readings, examples, strict=True)])
    right = np.array([_right(r, e) for r, e in zip(readings, examples, strict=True)], dtype=float)
    answerable_model = _fit_linear(answer_x, right, C_ANSWERABLE, weights, ANSWERABLE_FEATURES)
    return priors, mention, candidate, answerable_model


def label_priors(examples: list[Example]) -> LabelPriors:
    by_key: dict[str, Counter] = defaultdict(Counter)
    by_class: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for e in examples:
        for m in e.mentions:
            if _matches(m.key, e.golds):
                by_key[e.question.key][m.label] += 1
                by_class[e.question.answer_class][m.label] += 1
                overall[m.label] += 1
    return LabelPriors({k: dict(v) for k, v in by_key.items()}, {k: dict(v) for k, v in by_class.items()},
                       dict(overall))


def _set_priors(e: Example, priors: LabelPriors) -> None:
    q = e.question
    for m in [*e.mentions, *(m for ms in e.choice_mentions for m in ms)]:
        set_label_prior(m, priors.probability(m.label, q.answer_class, q.key))


def _mention_data(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    rows = [m.features for e in examples for m in e.mentions]
    labels = np.concatenate([e.labels for e in examples if e.mentions]) if rows else np.zeros(0)
    return np.array(rows).reshape(-1, len(MENTION_FEATURES)), labels


def _score_mentions(e: Example, model: LinearModel) -> None:
    for mentions in (e.mentions, *e.choice_mentions):
        if mentions:
            for m, score in zip(mentions, model.logit(np.stack([m.features for m in mentions])), strict=True):
                m.score = float(score)


def _candidate_data(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for e in examples:
        for c in group(typed(e.mentions), e.articles_read):
            rows.append(c.features)
            labels.append(_matches(c.key, e.golds) or _matches(normalize_answer(c.text), e.golds))
    return np.array(rows).reshape(-1, len(CANDIDATE_FEATURES)), np.array(labels, dtype=float)


def _reading(e: Example, candidate_model: LinearModel) -> Reading:
    reading = Reading(e.question, extraction=e.extraction)
    candidates = group(typed(e.mentions), e.articles_read)
    if candidates:
        for c, p in zip(candidates, candidate_model.probability(np.stack([c.features for c in candidates])),
                        strict=True):
            c.probability = float(p)
        candidates.sort(key=lambda c: (-c.probability, c.best.hit_rank))
    reading.candidates = candidates
    return reading


def _right(reading: Reading, e: Example) -> bool:
    """The question is answerable and the reader's best answer is a gold answer."""
    best = reading.best
    return e.answerable and best is not None and (_matches(best.key, e.golds)
                                                  or _matches(normalize_answer(best.text), e.golds))


def _exact_match(readings: list[Reading], examples: list[Example]) -> float:
    answerable = [(r, e) for r, e in zip(readings, examples, strict=True) if e.answerable]
    return round(sum(_right(r, e) for r, e in answerable) / max(len(answerable), 1), 4)


def _prior_weights(answerable: np.ndarray) -> np.ndarray:
    """Weights that make "not in the archive" questions UNANSWERABLE_SHARE of the whole, as in a real archive."""
    n_yes, n_no = answerable.sum(), (1 - answerable).sum()
    if not n_yes or not n_no:
        return np.ones_like(answerable)
    return np.where(answerable > 0, (1 - UNANSWERABLE_SHARE) / n_yes, UNANSWERABLE_SHARE / n_no) * len(answerable)


def choose_threshold(confidence: np.ndarray, answerable: np.ndarray, right: np.ndarray
                     ) -> tuple[float, dict[str, float]]:
    """The confidence below which to abstain: the one that gives the most right responses (a right short answer,
    or "not in the archive" for a question whose answer is not there) when such questions are
    UNANSWERABLE_SHARE of all questions. A wrong answer and a needless abstention both count as wrong."""
    if answerable.all() or not answerable.any():
        return 0.0, {}
    yes, no = answerable > 0, answerable == 0
    best = (-1.0, 0.0)
    for t in np.unique(np.round(confidence, 3)):
        abstain = confidence < t
        recall = float((abstain & no).sum() / no.sum())
        answered_right = float((~abstain & (right > 0)).sum() / yes.sum())
        utility = (1 - UNANSWERABLE_SHARE) * answered_right + UNANSWERABLE_SHARE * recall
        if utility > best[0]:
            best = (utility, float(t))
    threshold = best[1]
    abstain = confidence < threshold
    recall = float((abstain & no).sum() / no.sum())
    false_rate = float((abstain & yes).sum() / yes.sum())
    tp, fp = UNANSWERABLE_SHARE * recall, (1 - UNANSWERABLE_SHARE) * false_rate
    return threshold, {"right_responses_cv": round(best[0], 4),
                       "exact_match_at_threshold_cv": round(float((~abstain & (right > 0)).sum() / yes.sum()), 4),
                       "abstain_precision_cv": round(tp / (tp + fp), 4) if tp + fp else 0.0,
                       "abstain_recall_cv": round(recall, 4)}


def _choice_data(examples: list[Example], readings: list[Reading]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, labels, owner = [], [], []
    for i, (e, r) in enumerate(zip(examples, readings, strict=True)):
        if not e.answerable or e.correct_choice < 0:
            continue
        for j, (choice, mentions) in enumerate(zip(e.choices, e.choice_mentions, strict=True)):
            mentions.sort(key=lambda m: -m.score)
            rows.append(choice_features(choice, mentions, r, e.articles_read))
            labels.append(j == e.correct_choice)
            owner.append(i)
    return np.array(rows).reshape(-1, len(CHOICE_FEATURES)), np.array(labels, dtype=float), np.array(owner)


def _choice_accuracy(x: np.ndarray, y: np.ndarray, owner: np.ndarray, examples: list[Example]) -> float:
    folds = np.array([examples[i].fold for i in owner])
    right = 0
    for fold in range(FOLDS):
        model = _fit_linear(x[folds != fold], y[folds != fold], C_CHOICE, names=CHOICE_FEATURES)
        scores = model.probability(x[folds == fold])
        ys, owners = y[folds == fold], owner[folds == fold]
        stated = x[folds == fold][:, CHOICE_FEATURES.index("stated")]
        for q in np.unique(owners):
            rows = np.flatnonzero((owners == q) & (stated > 0))
            right += bool(len(rows)) and ys[rows[np.argmax(scores[rows])]] > 0
    return round(right / len(np.unique(owner)), 4)


def _fit_linear(x: np.ndarray, y: np.ndarray, c: float, weights: np.ndarray | None = None,
                names: tuple[str, ...] = ()) -> LinearModel:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise CitelineError("training the reader needs scikit-learn: pip install -e '.[train]'") from None
    if len(set(y.tolist())) < 2:
        raise CitelineError("the training set gave no right and wrong candidates to learn from; it needs questions"
                            " whose answers appear in the articles")
    # A rare yes/no feature would be blown up by its small spread: no feature is scaled up by more than 1/SCALE_FLOOR.
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), SCALE_FLOOR)
    model = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y, sample_weight=weights)
    return LinearModel(list(names), mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


def _constant(names: tuple[str, ...]) -> LinearModel:
    return LinearModel(list(names), np.zeros(len(names)), np.ones(len(names)), np.zeros(len(names)), 0.0)
