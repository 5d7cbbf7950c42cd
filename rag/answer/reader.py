"""The reader: from the retrieved passages to a short answer, the lines that state it, and how sure it is.

In the tradition of factoid QA systems: the question is analysed (rag/answer/question.py), the phrases of the
passages' sentences that could answer it become candidates (rag/answer/candidates.py), and learned scorers
(rag/answer/reader_model.py, fitted on RealTimeQA 2024 by `rag train-reader`) rank them: each mention on its type,
its place in its sentence and the sentence's match with the question, then each answer on its best mentions
and on how many articles state it. A last scorer judges, from the whole reading, whether the passages answer
the question at all; below `min_confidence` the answer abstains.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.answer.candidates import (
    Candidate,
    CandidateExtractor,
    Extraction,
    M,
    group,
    with_label_priors,
)
from rag.answer.places import countries, states
from rag.answer.question import Question, analyse
from rag.answer.reader_model import ANSWERABLE_FEATURES, CHOICE_FEATURES, ReaderModel
from rag.ingest.nlp import Annotator, lead_lines
from rag.schema import Annotation, Article, Hit, LineSpans, Span
from rag.text.normalize import normalize_answer

# A second answer of the same kind, from other articles, stated in a sentence that matches the question at least
# as well as the best answer's, and not much less likely, is reported as a disagreement rather than dropped.
RIVAL_RATIO = 0.15
# Mentions whose label probability for the question's kind is below this are not answers (see `typed`).
TYPE_FLOOR = 0.05
# Lines parsed at question time (in indexes built before articles were annotated) are kept for the next questions.
PARSED_LINES_KEPT = 20_000

def typed(mentions: list) -> list:
    """Answer typing: only phrases of a kind that answered such questions in training can be the answer (a place
    is not the answer to "how many", a date not to "who"). The kinds are the learned label probabilities."""
    return [m for m in mentions if m.features[M["label_prior"]] >= TYPE_FLOOR]


@dataclass
class Reading:
    """What the reader found: answers best first, and whether the passages answer the question."""

    question: Question
    candidates: list[Candidate] = field(default_factory=list)
    confidence: float = 0.0  # P(the passages answer the question, and the best candidate is that answer)
    threshold: float = 0.5
    extraction: Extraction | None = None
    extractor: CandidateExtractor | None = None

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def answered(self) -> bool:
        return self.best is not None and self.confidence >= self.threshold

    def rivals(self) -> list[Candidate]:
        """Answers of the same kind that other articles give instead: two casualty counts, two names."""
        best = self.best
        if best is None:
            return []
        theirs = set(best.articles)
        match = best.best.features[M["sentence_terms"]]
        return [c for c in self.candidates[1:5]
                if c.answer_class == best.answer_class and c.probability >= RIVAL_RATIO * best.probability
                and c.best.features[M["sentence_terms"]] >= match and not theirs & set(c.articles)
                and not _same_answer(c.key, best.key)]


@dataclass
class ChoiceReading:
    """The choice the passages support best, or none; every choice's score."""

    choice: str
    index: int  # -1 when no choice is supported
    scores: list[float]
    evidence: list  # the mentions that support the chosen choice, best first


def _same_answer(a: str, b: str) -> bool:
    return a == b or f" {a} " in f" {b} " or f" {b} " in f" {a} "


# What the index says of an article's lead: IndexReader.line_spans (as questions read it) or .annotation.
Annotated = Annotation | LineSpans


class SpanSource:
    """The phrases of an article's lead (its first `lead_chars` characters, where news states its answers): marked
    when it was indexed, or, in an index built before articles were annotated, parsed when a question first reads
    a line of it closely. Lines past the lead have no phrases: parsing them at question time changed 8 short answers
    of 540 on RealTimeQA 2024 (exact match the same) and made the slowest questions of an 11,000-article archive
    40 ms slower (BENCHMARKS.md)."""

    def __init__(self, annotations: Callable[[str], Annotated | None], annotator: Annotator, lead_chars: int,
                 parsed: OrderedDict, lock: threading.Lock):
        self.annotations = annotations
        self.annotator = annotator
        self.lead_chars = lead_chars
        self.parsed = parsed  # (article id, line) -> spans, shared by the questions of one Reader
        self.lock = lock
        self._stored: dict[str, Annotated | None] = {}
        self._leads: dict[str, frozenset[int]] = {}

    def __call__(self, article: Article, line: int, parse: bool = True) -> Sequence[Span]:
        stored = self._stored_of(article)
        if stored is not None:
            return stored.spans_on(line)
        return self._parse(article, line) if parse and self._to_parse(article, line) else ()

    def _stored_of(self, article: Article) -> Annotated | None:
        """The article's annotated lead, read from the index once a question; None where the index annotated none
        of its lines."""
        if article.id not in self._stored:
            stored = self.annotations(article.id)
            self._stored[article.id] = stored if stored is not None and stored.lines else None
        return self._stored[article.id]

    def _to_parse(self, article: Article, line: int) -> bool:
        """Whether the line is in the lead of an article the index holds no annotation of."""
        if self._stored_of(article) is not None:
            return False
        lead = self._leads.get(article.id)
        if lead is None:
            lead = self._leads[article.id] = frozenset(lead_lines(article, self.lead_chars))
        return line in lead

    def prefetch(self, wanted: Sequence[tuple[Article, int]]) -> None:
        """Parse, in one batch, the lines a question will read closely that the index holds no annotation of:
        one spaCy call for all of them costs much less than one call each."""
        todo, seen = [], set()
        for article, line in wanted:
            key = (article.id, line)
            with self.lock:
                cached = key in self.parsed
            if not cached and key not in seen and self._to_parse(article, line):
                seen.add(key)
                todo.append((article, line))
        if todo:
            parsed = list(self.annotator.annotate([(line, article.lines[line - 1]) for article, line in todo]))
            self._keep([((article.id, line), spans) for (article, line), spans in zip(todo, parsed, strict=True)])

    def _parse(self, article: Article, line: int) -> list[Span]:
        key = (article.id, line)
        with self.lock:
            if key in self.parsed:
                self.parsed.move_to_end(key)
                return self.parsed[key]
        spans = next(iter(self.annotator.annotate([(line, article.lines[line - 1])])))
        self._keep([(key, spans)])
        return spans

    def _keep(self, parsed: list[tuple[tuple[str, int], list[Span]]]) -> None:
        """Lines parsed here, kept for the next questions (the last PARSED_LINES_KEPT). spaCy runs before the
        lock is taken: other questions keep reading the cache meanwhile."""
        with self.lock:
            for key, spans in parsed:
                self.parsed[key] = spans
            while len(self.parsed) > PARSED_LINES_KEPT:
                self.parsed.popitem(last=False)


class Reader:
    """Finds the short answer in retrieved passages. spaCy and the learned model load once, in `warm_up()`."""

    def __init__(self, model_path: str = "", min_confidence: float | None = None, lead_chars: int = 4000):
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise ValueError("min_confidence must be between 0 and 1")
        self.model_path = model_path
        self._min_confidence = min_confidence
        self.lead_chars = lead_chars
        self.annotator = Annotator(processes=1)
        self._model: ReaderModel | None = None
        self._parsed: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    @property
    def model(self) -> ReaderModel:
        if self._model is None:
            self._model = ReaderModel.load(self.model_path or None)
        return self._model

    @property
    def min_confidence(self) -> float:
        return self.model.min_confidence if self._min_confidence is None else self._min_confidence

    def warm_up(self, place_lists: bool = False) -> None:
        """spaCy and the model; with `place_lists`, the country and state lists too (0.1 s, otherwise paid by the
        first "which country" or "which state" question; a one-shot `rag ask` needs them rarely)."""
        self.annotator.warm_up()
        _ = self.model
        if place_lists:
            countries(), states()

    @property
    def warm(self) -> bool:
        """Loaded, and parsing in this process: a question's analysis then costs only its parse."""
        return self._model is not None and self.annotator.local

    def read(self, question: str | Question, hits: Sequence[Hit],
             annotations: Callable[[str], Annotated | None] = lambda _: None, always: bool = False) -> Reading:
        """Candidates best first, each with its probability, and the confidence that the passages answer.
        Questions that ask for no short answer ("What did X say?") are not read unless `always`."""
        parsed = question if isinstance(question, Question) else analyse(question)
        reading = Reading(parsed, threshold=self.min_confidence)
        if not (parsed.factoid or always) or not hits:
            return reading
        reading.extractor = CandidateExtractor(SpanSource(annotations, self.annotator, self.lead_chars,
                                                          self._parsed, self._lock))
        extraction = reading.extractor.extract(parsed, hits, self._answer_kinds(parsed))
        reading.extraction = extraction
        reading.candidates = self.rank(extraction)
        reading.confidence = self.answerability(reading, hits)
        return reading

    def _answer_kinds(self, question: Question) -> Callable[[str], bool]:
        """Whether a phrase of a label can answer the question (see `typed`), each label judged once."""
        priors, judged = self.model.priors, {}

        def wanted(label: str) -> bool:
            if label not in judged:
                judged[label] = priors.probability(label, question.answer_class, question.key) >= TYPE_FLOOR
            return judged[label]

        return wanted

    def rank(self, extraction: Extraction) -> list[Candidate]:
        """Score every mention, group them into answers, score the answers: best first."""
        mentions = extraction.mentions
        if not mentions:
            return []
        self._score(mentions, extraction.question)
        candidates = group(typed(mentions), extraction.articles_read)
        if not candidates:
            return []
        probabilities = self.model.candidate.probability(np.stack([c.features for c in candidates]))
        for candidate, probability in zip(candidates, probabilities, strict=True):
            candidate.probability = float(probability)
        candidates.sort(key=lambda c: (-c.probability, c.best.hit_rank))
        return candidates

    def _score(self, mentions: list, question: Question) -> None:
        """Each mention's label probability for the question, then its score (a logit) from the mention model."""
        priors = self.model.priors
        table = with_label_priors(mentions, lambda label: priors.probability(label, question.answer_class,
                                                                             question.key))
        for mention, score in zip(mentions, self.model.mention.logit(table).tolist(), strict=True):
            mention.score = score

    def answerability(self, reading: Reading, hits: Sequence[Hit]) -> float:
        features = answerable_features(reading, hits)
        return float(self.model.answerable.probability(features[None, :])[0])

    def choose(self, reading: Reading, choices: Sequence[str]) -> ChoiceReading:
        """The choice the read passages support best; none when no choice is stated in them."""
        extraction = reading.extraction
        if extraction is None or reading.extractor is None or not choices:
            return ChoiceReading("", -1, [0.0] * len(choices), [])
        rows, evidence = [], []
        for choice in choices:
            mentions = reading.extractor.phrase_mentions(extraction, choice)
            if mentions:
                self._score(mentions, reading.question)
                mentions.sort(key=lambda m: -m.score)
            rows.append(choice_features(choice, mentions, reading, extraction.articles_read))
            evidence.append(mentions)
        scores = self.model.choice.probability(np.array(rows)).tolist()
        stated = [i for i, mentions in enumerate(evidence) if mentions]
        if not stated:
            return ChoiceReading("", -1, scores, [])
        best = max(stated, key=lambda i: scores[i])
        return ChoiceReading(choices[best], best, scores, evidence[best])


def answerable_features(reading: Reading, hits: Sequence[Hit]) -> np.ndarray:
    candidates = reading.candidates
    similarities = [*sorted((max(h.similarity, 0.0) for h in hits), reverse=True), 0.0, 0.0, 0.0]
    f = dict.fromkeys(ANSWERABLE_FEATURES, 0.0)
    f["similarity_1"] = similarities[0]
    f["similarity_3"] = float(np.mean(similarities[:3]))
    if candidates:
        top = candidates[0]
        best = top.best.features
        f["p1"] = top.probability
        f["p2"] = candidates[1].probability if len(candidates) > 1 else 0.0
        f["margin"] = f["p1"] - f["p2"]
        f["top_articles"] = math.log1p(len(top.articles))
        f["top_sentence_terms"] = best[M["sentence_terms"]]
        f["top_names"] = best[M["names"]]
        f["top_window"] = best[M["weighted_window"]]
        # Over every sentence that states a phrase, whether or not of the kind asked for.
        stated = reading.extraction.mentioned if reading.extraction else []
        f["max_sentence_terms"] = max((v.sentence_terms for v in stated), default=0.0)
        f["max_names"] = max((v.names for v in stated), default=0.0)
        f["mass_5"] = sum(c.probability for c in candidates[:5])
        asked = reading.question.answer_class
        f["class_candidates"] = math.log1p(sum(1 for c in candidates if c.answer_class == asked))
    return np.array([f[name] for name in ANSWERABLE_FEATURES])


def choice_features(choice: str, mentions: list, reading: Reading, articles_read: int) -> list[float]:
    """How the passages support one choice: as a ranked candidate, and where they state it."""
    key = normalize_answer(choice)
    f = dict.fromkeys(CHOICE_FEATURES, 0.0)
    for rank, candidate in enumerate(reading.candidates, start=1):
        if key and _same_answer(candidate.key, key):
            f["candidate_probability"] = candidate.probability
            f["candidate_rank"] = 1.0 / rank
            break
    if mentions:
        scores = np.array([m.score for m in mentions])
        f["best_mention"] = float(scores.max())
        f["mention_mass"] = float(np.log(np.exp(np.clip(scores, -30, 30)).sum()))
        f["mentions"] = math.log1p(len(mentions))
        f["articles"] = len({m.article.id for m in mentions}) / max(articles_read, 1)
        f["best_sentence_terms"] = max(m.features[M["sentence_terms"]] for m in mentions)
        f["best_window"] = max(m.features[M["weighted_window"]] for m in mentions)
        f["in_title"] = max(m.features[M["in_title"]] for m in mentions)
        f["stated"] = 1.0
    else:
        f["best_mention"] = f["mention_mass"] = -10.0
    return [f[name] for name in CHOICE_FEATURES]
