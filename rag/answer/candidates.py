"""Candidate answers: the entities, numbers, dates and noun phrases of the sentences of the retrieved passages,
each mention with the evidence the learned reader weighs, grouped by what they say.

A mention is one phrase in one sentence; a candidate is every mention of the same answer ("Kamala Harris",
"Harris") across the passages read, so that the articles agreeing on it are counted.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from rag.answer.context import name_score, reporting_lines, surroundings
from rag.answer.places import place_fit
from rag.answer.question import LABEL_CLASS, Question, singular
from rag.ingest.chunking import Sentence, line_sentences
from rag.ingest.nlp import AMOUNTS, APPROXIMATE, NOUN_PHRASE
from rag.schema import Article, Hit, Span
from rag.text.normalize import contains_run, normalize_answer
from rag.text.terms import STOPWORDS, lower_each, stem, term_set

# Credit for a question's name stated in the lines around a sentence (see rag/answer/context.py) rather than in it.
NEAR_NAME = 0.7
# Words either side of a mention within which the question's words count as "near" it.
WINDOW = 8
# Words either side of a mention that are compared with the words either side of the question's wh-phrase.
SLOT_WINDOW = 5
MAX_MENTION_WORDS = 10
_TOKEN = re.compile(r"[A-Za-z0-9$€£%]+(?:['’.,-][A-Za-z0-9]+)*")
_TRIM = " \t\"'“”‘’()[],.;:"
_DASH = re.compile(r"^.*\s[–—−-]\s+")  # "NEW YORK − Columbia University": the dateline is not the answer
# Sums and shares the English pipeline sometimes leaves inside a longer phrase ("a $9,000 fine and jail time").
_AMOUNT = re.compile(r"(?P<MONEY>(?<![\w$€£])[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s(?:million|billion|trillion))?(?![\w]))"
                     r"|(?P<PERCENT>(?<![\w.])\d+(?:\.\d+)?(?:%|\spercent\b))")
_DIGIT = re.compile(r"\d")
_LONGEST_APPROXIMATE = max(len(words) for words in APPROXIMATE)

# The evidence of one mention, in this order.
MENTION_FEATURES = (
    "class_match",  # the mention's entity class is the class the question asks for
    "is_noun_phrase",  # a noun phrase rather than a named entity
    "sentence_terms",  # share of the question's words (rarer ones weigh more) in the sentence
    "context_terms",  # ... found only in the lines around it or the title
    "names",  # the question's names in the sentence or near it
    "proximity",  # 1 / (1 + words between the mention and the nearest question word)
    "window_terms",  # share of the question's words within WINDOW words of the mention
    "focus_near",  # the question's focus noun ("city", "singer"; "rockets" of "how many rockets") beside it
    "similarity",  # the passage's cosine to the question
    "article_rank",  # 1 / the article's rank
    "hit_rank",  # 1 / the passage's rank
    "article_score",  # the article's retrieval score over the best article's
    "line_position",  # 1 / (1 + the line's position among the article's reporting lines)
    "question_overlap",  # share of the mention's words that are the question's
    "words",  # the mention's length in words
    "capitalised",
    "has_digit",
    "in_title",  # the mention appears in its article's title
    "sentence_start",  # the mention opens its sentence (often the subject)
    "preposition",  # the word before it is the one before the question's wh-phrase ("in" which city)
    "verb_near",  # one of the question's verbs within WINDOW words
    "weighted_window",  # as window_terms, rarer words weighing more
    "left_match",  # share of the words before the question's wh-phrase found just before the mention
    "right_match",  # share of the words after it found just after the mention
    "role_match",  # it plays the grammatical role the wh-phrase plays in the question (subject, object of "in")
    "head_match",  # the word governing it is one of the question's words ("appointed" <- "appoint")
    "slot_match",  # both: it fills the wh-phrase's slot of the question's verb ("[X] were killed" for "who was killed")
    "label_prior",  # learned P(its entity label | what the question asks), set by the reader
    "title_fit",  # in_title x label_prior: a headline name counts when it is of the kind asked for
    "sentence_fit",  # sentence_terms x label_prior: so does a name in a sentence that matches the question
    "place_fits",  # a country for "which country", a state for "which state" (rag/answer/places.py)
    "place_misfits",  # ... anything else for those; a country or a state for "which city"
)
# The evidence of a candidate: its mentions' scores (set by the reader) and how widely it is stated.
CANDIDATE_FEATURES = (
    "best_mention",  # the best mention's score (a logit)
    "mention_mass",  # log of the summed exp(score) of its mentions: many good mentions beat one
    "label_prior",  # the best label probability among its mentions
    "mentions",  # log(1 + mentions)
    "articles",  # articles among those read that state it
    "article_share",  # ... over the articles read
    "in_top_article",  # the best-ranked article states it
    "mean_sentence_terms",
    "mean_proximity",
)
M = {name: i for i, name in enumerate(MENTION_FEATURES)}
# Positions of the mention features, as constants for the inner loop.
_ARTICLE_RANK = M["article_rank"]
_ARTICLE_SCORE = M["article_score"]
_CAPITALISED = M["capitalised"]
_CLASS_MATCH = M["class_match"]
_CONTEXT_TERMS = M["context_terms"]
_FOCUS_NEAR = M["focus_near"]
_HAS_DIGIT = M["has_digit"]
_HEAD_MATCH = M["head_match"]
_HIT_RANK = M["hit_rank"]
_IN_TITLE = M["in_title"]
_IS_NOUN_PHRASE = M["is_noun_phrase"]
_LEFT_MATCH = M["left_match"]
_LINE_POSITION = M["line_position"]
_NAMES = M["names"]
_PLACE_FITS = M["place_fits"]
_PLACE_MISFITS = M["place_misfits"]
_PREPOSITION = M["preposition"]
_PROXIMITY = M["proximity"]
_QUESTION_OVERLAP = M["question_overlap"]
_RIGHT_MATCH = M["right_match"]
_ROLE_MATCH = M["role_match"]
_SENTENCE_START = M["sentence_start"]
_SENTENCE_TERMS = M["sentence_terms"]
_SIMILARITY = M["similarity"]
_SLOT_MATCH = M["slot_match"]
_VERB_NEAR = M["verb_near"]
_WEIGHTED_WINDOW = M["weighted_window"]
_WINDOW_TERMS = M["window_terms"]
_WORDS = M["words"]


# In an index that holds no annotations, a sentence of an article's lead is parsed at question time when it shares
# this much of the question's words.
CLOSE_READING = 0.3

SpanLookup = Callable[[Article, int, bool], Sequence[Span]]


@dataclass
class Mention:
    text: str
    key: str  # what it says, normalised: mentions with the same key are the same answer
    label: str
    article: Article
    sentence: Sentence
    span: Span
    hit_rank: int
    article_rank: int
    features: np.ndarray  # a list while its extraction is filled (`_as_rows`)
    score: float = 0.0  # the reader's logit for this mention

    @property
    def line(self) -> int:
        return self.sentence.line


def set_label_prior(mention: Mention, probability: float) -> None:
    """The label probability and the features that weigh other evidence by it (known once the priors are)."""
    f = mention.features
    f[M["label_prior"]] = probability
    f[M["title_fit"]] = f[M["in_title"]] * probability
    f[M["sentence_fit"]] = f[M["sentence_terms"]] * probability


def with_label_priors(mentions: Sequence[Mention], probability: Callable[[str], float]) -> np.ndarray:
    """`set_label_prior` for many mentions at once: their features as one matrix, a row each, the mentions'
    `features` becoming views of their rows (a question weighs a few hundred; one at a time it cost 1 to 2 ms)."""
    table = np.stack([m.features for m in mentions])
    by_label = {label: probability(label) for label in dict.fromkeys(m.label for m in mentions)}
    priors = np.array([by_label[m.label] for m in mentions])
    table[:, M["label_prior"]] = priors
    table[:, M["title_fit"]] = table[:, M["in_title"]] * priors
    table[:, M["sentence_fit"]] = table[:, M["sentence_terms"]] * priors
    for mention, row in zip(mentions, table, strict=True):
        mention.features = row
    return table


@dataclass
class Candidate:
    """One answer and every mention of it in the passages read, best mention first."""

    key: str
    text: str
    label: str
    mentions: list[Mention]
    features: np.ndarray = field(default_factory=lambda: np.zeros(len(CANDIDATE_FEATURES)))
    probability: float = 0.0  # the reader's probability that this is the answer

    @property
    def articles(self) -> list[str]:
        return list(dict.fromkeys(m.article.id for m in self.mentions))

    @property
    def best(self) -> Mention:
        return self.mentions[0]

    @property
    def answer_class(self) -> str:
        return LABEL_CLASS.get(self.label, "THING")


@dataclass
class _SentenceView:
    """A sentence's tokens (offsets within its line), their stems, and where the question's words stand."""

    hit: Hit
    sentence: Sentence
    article_rank: int
    line_position: int
    starts: list[int]
    ends: list[int]
    words: list[str]
    stems: list[str]
    term_positions: list[int]  # token positions holding a question term
    verb_positions: list[int]  # ... one of the question's verbs
    focus_positions: list[int]  # ... the question's focus noun ("singer", "rockets")
    sentence_terms: float
    context_terms: float
    names: float


class _Phrase(NamedTuple):
    """A span's words as an answer gives them: its text, its key, its tokens first..last in the sentence."""

    text: str
    key: str
    first: int
    last: int
    overlap: float  # share of its content words that are the question's


@dataclass
class Extraction:
    """The mentions found in the passages read, and the sentences they were found in."""

    question: Question
    mentions: list[Mention]
    views: list[_SentenceView]
    weights: dict[str, float]
    articles_read: int
    top_score: float
    titles: dict[str, list[str]] = field(default_factory=dict)  # article id -> its title's words
    mentioned: list[_SentenceView] = field(default_factory=list)  # the sentences that state any phrase

    def title_words(self, article: Article) -> list[str]:
        """The article's title as words, tokenised once for every mention of the article."""
        words = self.titles.get(article.id)
        if words is None:
            words = self.titles[article.id] = _words(article.title)
        return words


def term_weights(question: Question, texts: Sequence[frozenset[str]]) -> dict[str, float]:
    """Rarer question words among the sentences read weigh more: a word every sentence shares tells little."""
    total = len(texts)
    return {t: math.log(1.0 + (total + 1) / (sum(1 for s in texts if t in s) + 0.5)) for t in question.terms}


class CandidateExtractor:
    """Reads the sentences of the retrieved passages and lists the mentions of possible answers."""

    def __init__(self, spans: SpanLookup):
        self.spans = spans

    def extract(self, question: Question, hits: Sequence[Hit], wanted: Callable[[str], bool] | None = None
                ) -> Extraction:
        """The mentions of the passages' sentences. `wanted(label)` says which kinds of phrase can answer the
        question (the reader's answer typing): the others are counted but not weighed, which halves the work;
        None weighs every mention (training learns from them all)."""
        sentences = self._sentences(hits)
        weights = term_weights(question, [term_set(s.text) for _, s, _, _ in sentences])
        top_score = max((h.score for h in hits), default=1.0) or 1.0
        context_cache: dict[tuple[str, int], tuple[str, frozenset[str]]] = {}
        views = [self._view(question, hit, sentence, article_rank, line_position, weights, context_cache)
                 for hit, sentence, article_rank, line_position in sentences]
        prefetch = getattr(self.spans, "prefetch", None)
        if prefetch is not None:
            prefetch([(v.hit.article, v.sentence.line) for v in views if v.sentence_terms >= CLOSE_READING])
        extraction = Extraction(question, [], views, weights, len({h.article.id for h in hits}), top_score)
        for view in views:
            found, stated = self._sentence_mentions(extraction, view, extraction.title_words(view.hit.article),
                                                    wanted)
            extraction.mentions.extend(found)
            if stated:
                extraction.mentioned.append(view)
        _as_rows(extraction.mentions)
        return extraction

    def _sentence_mentions(self, extraction: Extraction, view: _SentenceView, title: list[str],
                           wanted: Callable[[str], bool] | None) -> tuple[list[Mention], bool]:
        """The mentions of one sentence (its phrases as annotated or, without annotations, parsed now if it is read
        closely; and the amounts the parser left inside them) that are `wanted`, and whether it states any phrase
        at all."""
        article, sentence = view.hit.article, view.sentence
        spans = self.spans(article, sentence.line, view.sentence_terms >= CLOSE_READING)
        found, stated = [], False
        for span in [*spans, *_missed_amounts(article, sentence, spans)]:
            if span.start >= sentence.start and span.end <= sentence.end:
                weighed = wanted is None or wanted(span.label)
                if not weighed and stated:  # a phrase not weighed only tells whether the sentence states one
                    continue
                phrase = self._phrase(extraction.question, view, span)
                if phrase is None:
                    continue
                stated = True
                if weighed:
                    found.append(self._mention(extraction.question, view, span, phrase, extraction.weights,
                                               extraction.top_score, title))
        return found, stated

    def phrase_mentions(self, extraction: Extraction, phrase: str) -> list[Mention]:
        """Every place the read sentences state `phrase` (a choice of a multiple-choice question), as mentions."""
        wanted = _words(phrase)
        if not wanted:
            return []
        found = []
        width = len(wanted)
        for view in extraction.views:
            for i in range(len(view.words) - width + 1):
                if view.words[i : i + width] != wanted:
                    continue
                start, end = view.starts[i], view.ends[i + width - 1]
                known = [s for s in self.spans(view.hit.article, view.sentence.line, False) if s.start <= start < s.end]
                base = known[0] if known else Span(view.sentence.line, start, end, NOUN_PHRASE)
                span = Span(view.sentence.line, start, end, base.label, base.role, base.head)
                mention = self.mention(extraction.question, view, span, extraction.weights, extraction.top_score,
                                       extraction.title_words(view.hit.article), keep_question_words=True)
                if mention is not None:
                    found.append(mention)
        _as_rows(found)
        return found

    def _sentences(self, hits: Sequence[Hit]) -> list[tuple[Hit, Sentence, int, int]]:
        """Each sentence of the passages once, with its passage, its article's rank and its line's position."""
        seen: set[tuple[str, int, int]] = set()
        out = []
        article_ranks: dict[str, int] = {}
        reporting: dict[str, dict[int, int]] = {}
        for hit in hits:
            article = hit.article
            rank = article_ranks.setdefault(article.id, len(article_ranks) + 1)
            if article.id not in reporting:
                reporting[article.id] = reporting_lines(article)[1]
            for sentence in line_sentences(article, range(hit.chunk.line_start, hit.chunk.line_end + 1)):
                key = (article.id, sentence.line, sentence.start)
                if key not in seen:
                    seen.add(key)
                    out.append((hit, sentence, rank, reporting[article.id].get(sentence.line, 0)))
        return out

    def _view(self, question: Question, hit: Hit, sentence: Sentence, article_rank: int, line_position: int,
              weights: dict[str, float], cache: dict) -> _SentenceView:
        starts, ends, words = _tokens(hit.article.lines[sentence.line - 1], sentence)
        stems = [stem(w) for w in words]
        positions, verbs, focus = _positions(question, words, stems, weights)
        own = {stems[i] for i in positions}
        total = sum(weights.values()) or 1.0
        context_text, context_terms = surroundings(hit.article, sentence.line, cache, reporting=False)
        return _SentenceView(
            hit, sentence, article_rank, line_position, starts, ends, words, stems, positions, verbs, focus,
            sentence_terms=math.fsum(weights[t] for t in own) / total if weights else 1.0,  # see _nearness
            context_terms=sum(w for t, w in weights.items() if t not in own and t in context_terms) / total,
            names=name_score(question.names, sentence.text.lower(), context_text, NEAR_NAME),
        )

    def mention(self, question: Question, view: _SentenceView, span: Span, weights: dict[str, float],
                top_score: float, title: list[str], keep_question_words: bool = False) -> Mention | None:
        """The mention of `span`, its features still a list (see `_as_rows`)."""
        phrase = self._phrase(question, view, span, keep_question_words)
        return None if phrase is None else self._mention(question, view, span, phrase, weights, top_score, title)

    @staticmethod
    def _phrase(question: Question, view: _SentenceView, span: Span, keep_question_words: bool = False
                ) -> _Phrase | None:
        """The span's words as an answer would give them; None when it is no answer (too long, only the
        question's own words)."""
        line_text = view.hit.article.lines[span.line - 1]
        raw = line_text[span.start : span.end]
        dateline = _DASH.match(raw)
        start = span.start + (dateline.end() if dateline else 0)
        first = bisect.bisect_left(view.starts, start)
        last = bisect.bisect_right(view.ends, span.end) - 1
        if span.label in AMOUNTS:
            first = _past_approximation(view.words, first, last)
        if first > last or last - first + 1 > MAX_MENTION_WORDS:
            return None
        text = line_text[view.starts[first] : view.ends[last]].strip(_TRIM)
        content = [w for w in view.words[first : last + 1] if w not in STOPWORDS]
        overlap = sum(1 for w in content if w in question.words) / len(content) if content else 1.0
        key = normalize_answer(text)
        if not key or (overlap >= 1.0 and not keep_question_words):  # words of the question are not answers
            return None
        return _Phrase(text, key, first, last, overlap)

    def _mention(self, question: Question, view: _SentenceView, span: Span, phrase: _Phrase,
                 weights: dict[str, float], top_score: float, title: list[str]) -> Mention:
        hit = view.hit
        return Mention(phrase.text, phrase.key, span.label, hit.article, view.sentence, span, hit.rank,
                       view.article_rank,
                       self._features(question, view, span, phrase.first, phrase.last, phrase.overlap, weights,
                                      top_score, title, phrase.text, phrase.key))

    @staticmethod
    def _features(question: Question, view: _SentenceView, span: Span, first: int, last: int, overlap: float,
                  weights: dict[str, float], top_score: float, title: list[str], text: str, key: str
                  ) -> list:
        """The mention's features as a list (made an array with its extraction's others: `_as_rows`)."""
        hit, words = view.hit, view.words
        f = [0.0] * len(MENTION_FEATURES)  # a list while it is filled: item by item it is faster than numpy
        f[_CLASS_MATCH] = LABEL_CLASS.get(span.label, "THING") == question.answer_class
        f[_IS_NOUN_PHRASE] = span.label == NOUN_PHRASE
        f[_SENTENCE_TERMS] = view.sentence_terms
        f[_CONTEXT_TERMS] = view.context_terms
        f[_NAMES] = view.names
        f[_SIMILARITY] = max(hit.similarity, 0.0)
        f[_ARTICLE_RANK] = 1.0 / view.article_rank
        f[_HIT_RANK] = 1.0 / max(hit.rank, 1)
        f[_ARTICLE_SCORE] = hit.score / top_score if top_score > 0 else 0.0
        f[_LINE_POSITION] = 1.0 / (1.0 + view.line_position)
        f[_QUESTION_OVERLAP] = overlap
        f[_WORDS] = last - first + 1
        f[_CAPITALISED] = text[:1].isupper()
        f[_HAS_DIGIT] = any(map(str.isdigit, text))
        f[_IN_TITLE] = contains_run(title, words[first : last + 1])
        f[_SENTENCE_START] = first == 0
        _nearness(f, question, view, first, last, weights)
        _cues(f, view, first, last)
        _slot(f, question, view, span, first, last)
        f[_PLACE_FITS], f[_PLACE_MISFITS] = place_fit(question.focus, key)
        return f


def _as_rows(mentions: Sequence[Mention]) -> None:
    """Mentions' features (filled as lists, item by item faster than numpy) made rows of one float64 matrix: one
    conversion for an extraction instead of one per mention."""
    if mentions:
        for mention, row in zip(mentions, np.array([m.features for m in mentions], dtype=np.float64), strict=True):
            mention.features = row


def _tokens(line_text: str, sentence: Sentence) -> tuple[list[int], list[int], list[str]]:
    """The sentence's tokens: where each starts and ends in its line, and its lower-cased text."""
    spans = [match.span() for match in _TOKEN.finditer(line_text, sentence.start, sentence.end)]
    if not spans:
        return [], [], []
    words = lower_each([line_text[start:end] for start, end in spans])
    return [start for start, _ in spans], [end for _, end in spans], words


def _positions(question: Question, words: list[str], stems: list[str], weights: dict[str, float]
               ) -> tuple[list[int], list[int], list[int]]:
    """Where the question's words, its verbs and its focus noun stand among a sentence's tokens."""
    terms = [i for i, (w, s) in enumerate(zip(words, stems, strict=True)) if s in weights and w not in STOPWORDS]
    verbs = [i for i, s in enumerate(stems) if s in question.verbs]
    focus = [i for i, w in enumerate(words) if singular(w) == question.focus] if question.focus else []
    return terms, verbs, focus


def _nearness(f: list, question: Question, view: _SentenceView, first: int, last: int,
              weights: dict[str, float]) -> None:
    """How close the question's words stand to the mention (words first..last)."""
    if not view.term_positions:  # most sentences hold none of the question's words: nothing is near
        f[_PROXIMITY] = f[_WINDOW_TERMS] = f[_WEIGHTED_WINDOW] = 0.0
        return
    stems = view.stems
    outside = [i for i in view.term_positions if not first <= i <= last]
    distance = min((first - i if i < first else i - last for i in outside), default=None)
    near = {stems[i] for i in outside if first - WINDOW <= i <= last + WINDOW}
    total = sum(weights.values()) or 1.0
    f[_PROXIMITY] = 0.0 if distance is None else 1.0 / (1.0 + distance)
    f[_WINDOW_TERMS] = len(near) / (len(question.terms) or 1)
    # fsum: a sum over a set in its iteration order would differ in the last bit from one process to the next
    # (string hashes are salted), and so would the comparisons made with it (which rival is reported).
    f[_WEIGHTED_WINDOW] = math.fsum(weights[t] for t in near) / total


def _cues(f: list, view: _SentenceView, first: int, last: int) -> None:
    """The question's focus noun beside the mention ("the singer X"), and its verbs within WINDOW words."""
    # The focus noun within 3 words either side, or the mention's own last word ("18 rockets"); positions were
    # found once per sentence, so most mentions (of sentences without either) cost nothing here.
    f[_FOCUS_NEAR] = any(first - 3 <= i <= last + 3 and not first <= i < last for i in view.focus_positions)
    f[_VERB_NEAR] = any(first - WINDOW <= i <= last + WINDOW and not first <= i <= last for i in view.verb_positions)


def _slot(f: list, question: Question, view: _SentenceView, span: Span, first: int, last: int) -> None:
    """Whether the mention stands where the question's wh-phrase stands: the same words either side, the same
    preposition before it, the same grammatical role under the same word."""
    words, stems = view.words, view.stems
    f[_PREPOSITION] = bool(question.preposition) and first > 0 and words[first - 1] == question.preposition
    if question.left:
        f[_LEFT_MATCH] = len(question.left.intersection(stems[max(0, first - SLOT_WINDOW) : first])) / len(
            question.left)
    if question.right:
        f[_RIGHT_MATCH] = len(question.right.intersection(stems[last + 1 : last + 1 + SLOT_WINDOW])) / len(
            question.right)
    head = stem(span.head) if span.head else ""
    f[_ROLE_MATCH] = bool(question.role) and span.role == question.role
    f[_HEAD_MATCH] = bool(head) and (head == question.head or head in question.verbs or head in question.terms)
    f[_SLOT_MATCH] = f[_ROLE_MATCH] * f[_HEAD_MATCH]


def _words(text: str) -> list[str]:
    """The text's tokens as a sentence view holds them (lower case), to compare runs of words."""
    return [w.lower() for w in _TOKEN.findall(text)]


def _missed_amounts(article: Article, sentence: Sentence, spans: Sequence[Span]) -> list[Span]:
    """Sums and percentages of the sentence that no amount entity covers, as amount spans of their own."""
    line_text = article.lines[sentence.line - 1]
    found: list[Span] = []
    if not _DIGIT.search(line_text, sentence.start, sentence.end):  # both kinds hold a digit; the pattern,
        return found  # opening with look-behinds, is tried at every position of the sentence
    for match in _AMOUNT.finditer(line_text, sentence.start, sentence.end):
        start, end = match.span()
        if not any(s.label in AMOUNTS and s.start <= start and end <= s.end for s in spans):
            found.append(Span(sentence.line, start, end, match.lastgroup, "", ""))
    return found


def _past_approximation(words: list[str], first: int, last: int) -> int:
    """The first word of an amount after "around", "more than" and the like: the short answer is the figure
    (RealTimeQA's answers never carry the qualifier), and the quoted sentence keeps it."""
    for width in range(_LONGEST_APPROXIMATE, 0, -1):
        if first + width <= last and tuple(words[first : first + width]) in APPROXIMATE:
            return first + width
    return first


# Places are not merged: Mexico is not Mexico City, nor Washington "Oregon and Washington" (22 rtqa2024 answers
# were lost to such merges).
_MERGED_CLASSES = {"PERSON", "ORG", "WORK", "EVENT", "NORP"}


def _inside(short: list[str], long: list[str]) -> bool:
    width = len(short)
    return width < len(long) and any(long[i : i + width] == short for i in range(len(long) - width + 1))


def _merge_keys(mentions: list[Mention]) -> dict[str, str]:
    """A short name inside a longer one of the same kind is the same answer: "Harris" and "Kamala Harris",
    "Morehouse" and "Morehouse College". It joins the longer name stated most often."""
    counts: dict[str, int] = {}
    kinds: dict[str, str] = {}
    for m in mentions:
        kind = LABEL_CLASS.get(m.label, "THING")
        if kind in _MERGED_CLASSES:
            counts[m.key] = counts.get(m.key, 0) + 1
            kinds[m.key] = kind
    keys = sorted(counts, key=lambda k: (-len(k.split()), -counts[k]))
    holding: dict[str, list[str]] = {}  # word -> the keys that hold it, in the order of `keys`
    for k in keys:
        for word in dict.fromkeys(k.split()):
            holding.setdefault(word, []).append(k)
    merged: dict[str, str] = {}
    for short in keys:
        parts = short.split()
        if all(p in STOPWORDS for p in parts):
            continue
        homes = [k for k in holding[parts[0]]
                 if kinds[k] == kinds[short] and k not in merged and _inside(parts, k.split())]
        if homes:
            merged[short] = max(homes, key=lambda k: counts[k])
    return merged


# Words that open a longer form of a name without being part of the name: titles, and the kind of storm.
_NOT_NAME = frozenset("president former vice gov governor sen senator rep judge justice dr mr mrs ms sir lawyer"
                      " superintendent secretary chief coach prince king queen pope hurricane storm tropical typhoon"
                      " cyclone".split())
_FULL_NAME_LABELS = ("PERSON", "ORG")


def full_name(text: str, label: str, members: list[Mention]) -> str:
    """News names a person or a body in full once, then by its last words ("Kamala Harris", then "Harris"; "the
    Detroit Lions", then "the Lions"): the answer is the full name its mentions give, at most two words longer.
    On rtqa2024 it made 11 more best answers exact (174 to 185 of 540)."""
    words = text.split()
    if label not in _FULL_NAME_LABELS or not words or len(words) > 2:
        return text
    fuller = []
    for m in members:
        long = m.text.split()
        if long and long[0].lower() == "the":
            long = long[1:]
        if (m.label == label and len(words) < len(long) <= len(words) + 2 and long[-len(words):] == words
                and long[0][:1].isupper() and long[0].lower().rstrip(".") not in _NOT_NAME
                and "and" not in long and "&" not in long):
            fuller.append(" ".join(long))
    return max(dict.fromkeys(fuller), key=lambda t: (fuller.count(t), -len(t))) if fuller else text


def group(mentions: list[Mention], articles_read: int) -> list[Candidate]:
    """Mentions of the same answer become one candidate, its best-scored mention first; its evidence is how
    well its mentions scored and how many articles state it. Ties of label or text go to the better-scored
    mention's (never to a set's order, which changes from one process to the next)."""
    if not mentions:
        return []
    merged = _merge_keys(mentions)
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(mentions):
        groups.setdefault(merged.get(m.key, m.key), []).append(i)
    # Plain floats, read from one matrix: most candidates have one mention, and numpy's per-item cost (reading
    # three features of each mention, writing nine of each candidate) was most of this function's time.
    table = np.stack([m.features for m in mentions])
    priors = table[:, M["label_prior"]].tolist()
    terms = table[:, _SENTENCE_TERMS].tolist()
    proximity = table[:, _PROXIMITY].tolist()
    rows, made = [], []
    for key, members in groups.items():
        if len(members) > 1:
            members.sort(key=lambda i: (-mentions[i].score, mentions[i].hit_rank))
        chosen = [mentions[i] for i in members]
        label, text = _label_and_text(chosen)
        scores = [m.score for m in chosen]
        articles = len({m.article.id for m in chosen}) if len(chosen) > 1 else 1
        rows.append([  # in the order of CANDIDATE_FEATURES
            scores[0],  # best_mention
            # mention_mass: plain floats, as above
            math.log(sum(math.exp(min(max(score, -30.0), 30.0)) for score in scores)),
            max(priors[i] for i in members),  # label_prior
            math.log1p(len(members)),  # mentions
            articles,  # articles
            articles / max(articles_read, 1),  # article_share
            any(m.article_rank == 1 for m in chosen),  # in_top_article
            sum(terms[i] for i in members) / len(members),  # mean_sentence_terms
            sum(proximity[i] for i in members) / len(members),  # mean_proximity
        ])
        made.append((key, text, label, chosen))
    features = np.array(rows, dtype=np.float64)
    return [Candidate(key, text, label, chosen, features[j]) for j, (key, text, label, chosen) in enumerate(made)]


def _label_and_text(members: list[Mention]) -> tuple[str, str]:
    """The label most of a candidate's mentions carry, and the text most give (in full: `full_name`)."""
    if len(members) == 1:  # full_name finds no longer form among a mention's own words
        return members[0].label, members[0].text
    labels = [m.label for m in members]
    label = max(dict.fromkeys(labels), key=lambda lab: (labels.count(lab), lab != NOUN_PHRASE))
    texts = [m.text for m in members]
    return label, full_name(max(dict.fromkeys(texts), key=lambda t: (texts.count(t), len(t))), label, members)
