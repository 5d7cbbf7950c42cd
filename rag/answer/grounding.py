"""Is a sentence supported by the lines it cites? Meaning (the embedder) and the names and numbers it states.

A sentence that names a person, place or number absent from its cited lines is not supported, however close
in meaning; a sentence close in meaning that adds nothing unstated is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.embed.embedding import Embedder
from rag.text.terms import STOPWORDS

_MARKERS = re.compile(r"((?:\s*\[\d+\])+)")
_NUMBER = re.compile(r"\d[\d,.]*")
_CAPITALISED = re.compile(r"\b[A-Z][\w’'-]*")
DEFAULT_THRESHOLD = 0.6


@dataclass
class CitedSentence:
    text: str
    markers: list[int]


def split_cited(answer: str) -> list[CitedSentence]:
    """An answer's sentences, each with the [n] markers that follow it."""
    parts = _MARKERS.split(answer)
    sentences: list[CitedSentence] = []
    for index in range(0, len(parts), 2):
        text = parts[index].strip().lstrip(".;,:!? ").strip()
        if not re.search(r"\w", text):
            text = ""
        markers = [int(n) for n in re.findall(r"\[(\d+)\]", parts[index + 1])] if index + 1 < len(parts) else []
        if text:
            sentences.append(CitedSentence(text, markers))
        elif markers and sentences:
            sentences[-1].markers.extend(markers)
    return sentences


def facts(sentence: str) -> set[str]:
    """Numbers and capitalised words that a supporting passage must also contain (lower-cased)."""
    found = {n.strip(".,") for n in _NUMBER.findall(sentence)}
    words = _CAPITALISED.findall(sentence)
    for position, word in enumerate(words):
        lowered = word.lower()
        if lowered in STOPWORDS:
            continue
        # The first word of a sentence is capitalised by grammar, not because it is a name.
        if position == 0 and sentence.lstrip().startswith(word) and lowered.isalpha() and len(words) > 1:
            continue
        found.add(lowered.strip("’'"))
    return {f for f in found if f}


class SupportChecker:
    """Scores 0..1; a sentence is supported at `threshold` and above, with every name and number found."""

    def __init__(self, embedder: Embedder, threshold: float = DEFAULT_THRESHOLD):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")
        self.embedder = embedder
        self.threshold = threshold

    def fact_coverage(self, sentence: str, quotes: Sequence[str]) -> float:
        wanted = facts(sentence)
        if not wanted:
            return 1.0
        text = " ".join(quotes).lower().replace("’", "'")
        return sum(1 for fact in wanted if fact.replace("’", "'") in text) / len(wanted)

    def score(self, sentence: str, quotes: Sequence[str]) -> float:
        if not quotes or not sentence.strip():
            return 0.0
        vectors = self.embedder.embed([sentence, *quotes])
        similarity = float(np.max(vectors[1:] @ vectors[0]))
        return 0.5 * max(similarity, 0.0) + 0.5 * self.fact_coverage(sentence, quotes)

    def supported(self, sentence: str, quotes: Sequence[str]) -> bool:
        return self.fact_coverage(sentence, quotes) == 1.0 and self.score(sentence, quotes) >= self.threshold
