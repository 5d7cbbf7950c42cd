"""Words, stems and names of a text: the lexical side of retrieval and of sentence scoring."""

from __future__ import annotations

import importlib.util
import re
import sys
from functools import lru_cache
from pathlib import Path

import Stemmer


def _bm25s_stopwords() -> tuple[str, ...]:
    """bm25s's English stop words (the ones its index was built with), read from their module without importing
    the package: bm25s's __init__ imports scipy, 0.23 s of a cold question that needs no more than this list."""
    if "bm25s" not in sys.modules:
        package = importlib.util.find_spec("bm25s")  # finds the package, runs none of it
        if package is not None and package.submodule_search_locations:
            path = Path(next(iter(package.submodule_search_locations))) / "stopwords.py"
            spec = importlib.util.spec_from_file_location("_citeline_bm25s_stopwords", path)
            if path.is_file() and spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return tuple(module.STOPWORDS_EN_PLUS)
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return tuple(STOPWORDS_EN_PLUS)


STOPWORDS_EN_PLUS = _bm25s_stopwords()

QUESTION_WORDS = frozenset(
    (
        "who whom whose what which when where why how many much did does do was were is are has have had "
        "according said say says tell name named"
    ).split()
)
STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | QUESTION_WORDS

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.-][A-Za-z0-9]+)*")
# A name: capitalised words, possibly joined by short lower-case particles ("Jurf al-Sakher", "Bank of England").
_NAME_WORD = r"(?:(?:[a-z]{1,3}-)?[A-Z][\w’'-]*|\d{4})"
_NAME = re.compile(rf"{_NAME_WORD}(?:\s+(?:(?:of|the|al|de|la|van|von|bin)\s+)?{_NAME_WORD})*")
_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def lower_each(tokens: list[str]) -> list[str]:
    """Each token lower-cased, in one call: tokens joined by a character that no token holds or lower-cases to
    (tokens are letters, digits, signs such as $ and %, and joining punctuation), lower-cased, split again."""
    return "\x00".join(tokens).lower().split("\x00") if tokens else []


def words(text: str) -> list[str]:
    """Lower-cased word tokens; punctuation splits words, but "al-Sakher" and "U.S." stay whole."""
    return lower_each(_WORD.findall(text.replace("’", "'")))  # the pattern joins words on either apostrophe


def terms(text: str) -> list[str]:
    """Stems of the content words, in order."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


@lru_cache(maxsize=16384)
def term_set(text: str) -> frozenset[str]:
    """The content words' stems. Cached: the sentence scorer and the reader both read each sentence read, and
    questions in a conversation read the same articles again."""
    return frozenset(terms(text))


def names(text: str) -> list[str]:
    """Names and years mentioned in a question, lower-cased: "Camp Taji", "Jurf al-Sakher", "2020"."""
    found = []
    for match in _NAME.finditer(text):
        phrase = match.group(0)
        tokens = phrase.split()
        # A capital at the start of the question is grammar, not a name ("Who", "How").
        while tokens and tokens[0].lower() in STOPWORDS:
            tokens = tokens[1:]
        if tokens:
            found.append(" ".join(tokens).lower())
    return list(dict.fromkeys(found))


def contains_phrase(text_lower: str, phrase: str) -> bool:
    """`phrase` stands in the text as whole words. The plain substring test first: a pattern that opens with a
    look-behind is tried at every position of the text, 60 us on a line and its surroundings, and most phrases
    looked for are not there at all."""
    return phrase in text_lower and _phrase_pattern(phrase).search(text_lower) is not None


@lru_cache(maxsize=4096)
def _phrase_pattern(phrase: str) -> re.Pattern:
    return re.compile(r"(?<![\w])" + re.escape(phrase) + r"(?![\w])")
