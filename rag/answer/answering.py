"""Extractive answers: pick the sentences that answer the question and cite the exact lines they stand on.

Every sentence of the retrieved chunks is scored on three things: its embedding against the question's, the
question's content words it contains, and the question's names (the subject) found in the sentence or in the
lines around it. The best one to three sentences become the answer; below `min_support` the answer abstains and
lists the closest passages instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rag.answer.context import name_score, surroundings
from rag.answer.reader import ChoiceReading, Reading
from rag.answer.short_answer import short_answer
from rag.embed.embedding import Embedder
from rag.ingest.chunking import Sentence, line_sentences
from rag.schema import Answer, Article, Citation, Hit
from rag.text.terms import STOPWORDS, names, stem, term_set, terms, words

# Weights of the parts of a sentence's score (they sum to 1).
W_DENSE, W_TERMS, W_NAMES, W_KIND = 0.35, 0.35, 0.15, 0.15
# Credit for a question word or name found only in the lines around a sentence rather than in it.
NEAR_TERM, NEAR_NAME = 0.3, 0.7
# A name the sentence and its surroundings state only in part ("Esper" of "Mark Esper") counts this much.
BY_WORD = 0.4
# Sentences of lower-ranked articles are discounted: retrieval's judgement of the whole article counts too.
ARTICLE_DISCOUNT = 0.15
# A further sentence joins the answer only when it scores nearly as well as the best one.
FOLLOW_RATIO = 0.9
ABSTAIN_PASSAGES = 3


@dataclass
class ScoredSentence:
    """A passage's sentence (what retrieval knew of it first), then the signals `ExtractiveAnswerer.score`
    finds."""

    article: Article
    sentence: Sentence
    hit_rank: int
    article_rank: int = 1
    terms: frozenset[str] = field(default_factory=frozenset)
    chunk_similarity: float = 0.0  # the cosine of the chunk it came from, used when the sentence is not embedded
    dense: float = 0.0
    term_score: float = 0.0
    name_score: float = 1.0
    kind_score: float = 1.0

    @property
    def score(self) -> float:
        """The signals weighed together; sentences of lower-ranked articles discounted."""
        return (W_DENSE * max(self.dense, 0.0) + W_TERMS * self.term_score + W_NAMES * self.name_score
                + W_KIND * self.kind_score) * (1.0 - ARTICLE_DISCOUNT * (1.0 - 1.0 / self.article_rank))


@dataclass
class QuestionParts:
    """The question's subject (its names) and what it asks about them (the other content words)."""

    text: str
    terms: list[str]
    names: list[str]
    kind: str = ""  # "count" or "time" when the question asks for one, else ""
    counted: str = ""  # the stem of what a "how many" question counts ("rocket")

    @classmethod
    def parse(cls, question: str) -> QuestionParts:
        subject = names(question)
        name_terms = {t for name in subject for t in terms(name)}
        asked = [t for t in dict.fromkeys(terms(question)) if t not in name_terms]
        kind, counted = "", ""
        count = _HOW_MANY.search(question)
        if count:
            kind = "count"
            following = [w for w in words(question[count.end():]) if w not in STOPWORDS]
            counted = stem(following[0]) if following else ""
        elif _WHEN.search(question):
            kind = "time"
        # A question that is all subject ("Who is Mark Esper?") is matched on the subject's words.
        return cls(question, asked or list(dict.fromkeys(terms(question))), subject, kind, counted)


class ExtractiveAnswerer:
    """Composes a short answer from retrieved chunks; every sentence carries its line citation."""

    def __init__(self, embedder: Embedder, min_support: float = 0.45, max_sentences: int = 3,
                 embed_sentences: int = 0):
        if not 1 <= max_sentences <= 3:
            raise ValueError("max_sentences must be 1, 2 or 3")
        if embed_sentences < 0:
            raise ValueError("embed_sentences must be 0 (none) or more")
        self.embed_sentences = embed_sentences
        self.embedder = embedder
        self.min_support = min_support
        self.max_sentences = max_sentences

    def candidates(self, hits: list[Hit]) -> list[ScoredSentence]:
        seen: set[tuple[str, int, int]] = set()
        found = []
        article_ranks: dict[str, int] = {}
        for hit in hits:
            article_rank = article_ranks.setdefault(hit.article.id, len(article_ranks) + 1)
            lines = range(hit.chunk.line_start, hit.chunk.line_end + 1)
            for sentence in line_sentences(hit.article, lines):
                key = (hit.article.id, sentence.line, sentence.start)
                if key in seen:
                    continue
                seen.add(key)
                found.append(ScoredSentence(hit.article, sentence, hit.rank, article_rank,
                                            terms=term_set(sentence.text), chunk_similarity=hit.similarity))
        return found

    def score(self, question: QuestionParts, query_vector: np.ndarray, candidates: list[ScoredSentence]) -> None:
        if not candidates:
            return
        weights = _term_weights(question.terms, candidates)
        total_weight = sum(weights.values()) or 1.0
        context_cache: dict[tuple[str, int], tuple[str, frozenset[str]]] = {}
        for candidate in candidates:
            context_text, context_terms = surroundings(candidate.article, candidate.sentence.line, context_cache,
                                                       reporting=True)
            sentence_lower = candidate.sentence.text.lower()
            own = sum(w for t, w in weights.items() if t in candidate.terms)
            near = sum(w for t, w in weights.items() if t not in candidate.terms and t in context_terms)
            candidate.term_score = (own + NEAR_TERM * near) / total_weight if weights else 1.0
            candidate.name_score = name_score(question.names, sentence_lower, context_text, NEAR_NAME, BY_WORD)
            candidate.kind_score = _kind_score(question, candidate.sentence.text)
        # Embedding sentences is the costly part of answering: only the likeliest few by words, names and kind
        # are embedded; the others (all of them when embed_sentences is 0) take their chunk's similarity.
        for candidate in candidates:
            candidate.dense = candidate.chunk_similarity
        if self.embed_sentences:
            chosen = sorted(candidates, key=lambda c: -(W_TERMS * c.term_score + W_NAMES * c.name_score
                                                      + W_KIND * c.kind_score) / c.article_rank ** 0.5)
            chosen = chosen[: self.embed_sentences]
            vectors = self.embedder.embed([c.sentence.text for c in chosen])
            for candidate, similarity in zip(chosen, vectors @ np.asarray(query_vector, dtype=np.float32),
                                             strict=True):
                candidate.dense = float(similarity)

    def _ranked(self, question: str, hits: list[Hit], query_vector: np.ndarray
                ) -> tuple[QuestionParts, list[ScoredSentence]]:
        """The passages' sentences, best match to the question first."""
        parts = QuestionParts.parse(question)
        candidates = self.candidates(hits)
        self.score(parts, query_vector, candidates)
        return parts, sorted(candidates, key=lambda c: (-c.score, c.hit_rank, c.sentence.line))

    def answer(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> Answer:
        parts, ranked = self._ranked(question, hits, query_vector)
        if not ranked or not self.supported(ranked[0], parts):
            return self._abstain(question, hits, ranked)
        chosen = self._chosen(ranked, parts)
        citations: list[Citation] = []
        pieces = []
        for candidate in chosen:
            n = _cite(citations, candidate.article, candidate.sentence.line, candidate.sentence.line)
            pieces.append(f"{candidate.sentence.text} [{n}]")
        return Answer(question=question, answer=" ".join(pieces), abstained=False, citations=citations,
                      short_answer=short_answer(question, chosen[0].sentence.text))

    def best_sentences(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> list[ScoredSentence]:
        """The one to three sentences `answer` would give; none where it would abstain."""
        parts, ranked = self._ranked(question, hits, query_vector)
        if not ranked or not self.supported(ranked[0], parts):
            return []
        return self._chosen(ranked, parts)

    def _chosen(self, ranked: list[ScoredSentence], parts: QuestionParts) -> list[ScoredSentence]:
        chosen = [ranked[0]]
        for candidate in ranked[1:]:
            if len(chosen) >= self.max_sentences:
                break
            if candidate.score < FOLLOW_RATIO * ranked[0].score or not self.supported(candidate, parts):
                break
            if any(_redundant(candidate, c) for c in chosen):
                continue
            chosen.append(candidate)
        return chosen

    def supported(self, candidate: ScoredSentence, parts: QuestionParts) -> bool:
        """Enough evidence that this sentence answers the question, not just shares its topic."""
        if parts.names and candidate.name_score < 0.5:
            return False
        return candidate.score >= self.min_support

    def closest(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> Answer:
        """An abstention that still shows the passages closest to the question, each cited by its best line."""
        parts = QuestionParts.parse(question)
        candidates = self.candidates(hits)
        self.score(parts, query_vector, candidates)
        ranked = sorted(candidates, key=lambda c: (-c.score, c.hit_rank, c.sentence.line))
        return self._abstain(question, hits, ranked)

    def _abstain(self, question: str, hits: list[Hit], ranked: list[ScoredSentence]) -> Answer:
        citations: list[Citation] = []
        used_hits: set[int] = set()
        for candidate in ranked:
            if len(citations) >= ABSTAIN_PASSAGES:
                break
            if candidate.hit_rank in used_hits:
                continue
            used_hits.add(candidate.hit_rank)
            _cite(citations, candidate.article, candidate.sentence.line, candidate.sentence.line)
        if not citations:
            for hit in hits[:ABSTAIN_PASSAGES]:
                _cite(citations, hit.article, hit.chunk.line_start, hit.chunk.line_end)
        text = f"The indexed articles do not answer {_as_clause(question)}"
        if citations:
            markers = ", ".join(f"[{c.n}]" for c in citations)
            text += f" The closest passages are {markers}."
        return Answer(question=question, answer=text, abstained=True, citations=citations)


def _term_weights(question_terms: list[str], candidates: list[ScoredSentence]) -> dict[str, float]:
    """Rarer terms among the candidates weigh more: a word every sentence shares tells little."""
    if not question_terms:
        return {}
    total = len(candidates)
    weights = {}
    for term in question_terms:
        df = sum(1 for c in candidates if term in c.terms)
        weights[term] = float(np.log(1.0 + (total + 1) / (df + 0.5)))
    return weights


_HOW_MANY = re.compile(r"\bhow\s+(?:many|much)\b", re.IGNORECASE)
_WHEN = re.compile(r"^\s*when\b|\bwhat\s+(?:year|date|day|month|time)\b|\bhow\s+long\s+ago\b", re.IGNORECASE)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    "seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?|"
    "thousands?|millions?|billions?|dozens?|several|a few"
)
_NUMBER = re.compile(rf"\b(?:\d[\d,.]*%?|(?:{_NUMBER_WORDS}))\b", re.IGNORECASE)
_TIME = re.compile(
    r"\b(?:(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day|(?:1[89]|20)\d\d|yesterday|today|tonight|"
    r"(?:last|next|this)\s+(?:week|month|year)|\d{1,2}(?::\d\d)?\s*(?:a\.?m\.?|p\.?m\.?))\b",
    re.IGNORECASE,
)


def _kind_score(question: QuestionParts, sentence: str) -> float:
    """Does the sentence hold the kind of thing asked for: a count of the right noun, or a time?"""
    if question.kind == "count":
        if question.counted:
            tokens = words(sentence)
            for i, token in enumerate(tokens):
                if stem(token) == question.counted and any(_NUMBER.fullmatch(t) for t in tokens[max(0, i - 3) : i]):
                    return 1.0
        return 0.5 if _NUMBER.search(sentence) else 0.0
    if question.kind == "time":
        return 1.0 if _TIME.search(sentence) else 0.0
    return 1.0


def _redundant(a: ScoredSentence, b: ScoredSentence) -> bool:
    if a.article.id == b.article.id and a.sentence.line == b.sentence.line and a.sentence.start == b.sentence.start:
        return True
    union = a.terms | b.terms
    return bool(union) and len(a.terms & b.terms) / len(union) > 0.6


def _cite(citations: list[Citation], article: Article, line_start: int, line_end: int) -> int:
    for citation in citations:
        if (citation.article_id, citation.line_start, citation.line_end) == (article.id, line_start, line_end):
            return citation.n
    n = len(citations) + 1
    citations.append(
        Citation(
            n=n,
            source=article.source,
            title=article.title,
            published=article.published,
            line_start=line_start,
            line_end=line_end,
            quote=article.quote(line_start, line_end),
            url=article.url,
            article_id=article.id,
        )
    )
    return n


def _as_clause(question: str) -> str:
    """The question quoted as asked, closing the sentence: a clause made from it ("do not say how much did the
    Marisol Beacon cost") is not English, and undoing the inversion would need the verb's tenses."""
    text = " ".join(question.split())
    return f"“{text}”" + ("" if text.endswith(("?", "!", ".")) else ".")


# How the reader's answer names the other articles that state its short answer, and one that gives another.
ALSO_REPORTED = "Also reported by"
ARTICLES_DIFFER = "The articles differ:"


class ReadingComposer:
    """Writes the reader's answer: the short answer first, then the sentence that holds it, cited by its line;
    the other articles that state it ("also reported by [2], [4]"); and, where articles give another answer of
    the same kind, that answer with its citation, instead of picking one silently."""

    def __init__(self, sentences: ExtractiveAnswerer):
        self.sentences = sentences

    def answer(self, reading: Reading, hits: list[Hit], query_vector: np.ndarray) -> Answer:
        question = reading.question.text
        if not reading.answered:
            # Unsure of a short answer, the reader gives way to the sentence that best matches the question, if
            # one is supported well enough (else the closest passages): no phrase is offered as "the" answer.
            answer = self.sentences.answer(question, hits, query_vector)
            answer.short_answer = ""
            answer.confidence = reading.confidence
            return answer
        best = reading.best
        citations: list[Citation] = []
        n = _cite(citations, best.best.article, best.best.line, best.best.line)
        text = f"{best.best.sentence.text} [{n}]"
        agreeing = _one_per_article(best.mentions[1:], exclude={best.best.article.id})
        if agreeing:
            markers = [_cite(citations, m.article, m.line, m.line) for m in agreeing]
            text += f" {ALSO_REPORTED} " + ", ".join(f"[{k}]" for k in markers) + "."
        for rival in reading.rivals()[:1]:
            k = _cite(citations, rival.best.article, rival.best.line, rival.best.line)
            text += f" {ARTICLES_DIFFER} {rival.best.sentence.text} [{k}]"
        # The sentences that match the question best, where they are others: the reader's phrase may be right and
        # its sentence say less than the ones that answer in full ("what happened to ...").
        for sentence in self.sentences.best_sentences(question, hits, query_vector):
            if sentence.sentence.text not in text:  # a line already cited keeps its number
                k = _cite(citations, sentence.article, sentence.sentence.line, sentence.sentence.line)
                text += f" {sentence.sentence.text} [{k}]"
        return Answer(question=question, answer=text, abstained=False, citations=citations,
                      short_answer=best.text, confidence=reading.confidence)

    def choose(self, reading: Reading, chosen: ChoiceReading, choices: list[str], hits: list[Hit],
               query_vector: np.ndarray) -> Answer:
        question = reading.question.text
        if chosen.index < 0:
            answer = self.sentences.closest(question, hits, query_vector)
            listed = ", ".join(f"“{c}”" for c in choices)
            answer.answer = f"None of the choices ({listed}) is stated in the indexed articles." + (
                answer.answer[answer.answer.index(" The closest"):] if " The closest" in answer.answer else "")
        else:
            evidence = chosen.evidence[0]
            citations: list[Citation] = []
            n = _cite(citations, evidence.article, evidence.line, evidence.line)
            text = f"{evidence.sentence.text} [{n}]"
            agreeing = _one_per_article(chosen.evidence[1:], exclude={evidence.article.id})
            if agreeing:
                markers = [_cite(citations, m.article, m.line, m.line) for m in agreeing]
                text += f" {ALSO_REPORTED} " + ", ".join(f"[{k}]" for k in markers) + "."
            answer = Answer(question=question, answer=text, abstained=False, citations=citations,
                            short_answer=chosen.choice)
        answer.choices, answer.choice, answer.confidence = list(choices), chosen.choice, reading.confidence
        return answer


def _one_per_article(mentions, exclude: set[str], limit: int = 3) -> list:
    """The best mention of each further article, at most `limit`."""
    chosen, seen = [], set(exclude)
    for m in mentions:
        if m.article.id not in seen:
            seen.add(m.article.id)
            chosen.append(m)
            if len(chosen) == limit:
                break
    return chosen
