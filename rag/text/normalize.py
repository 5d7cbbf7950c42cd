"""What makes two answers the same answer: SQuAD's normalisation, shared by the reader (which groups mentions
by it) and evaluation (which scores with it)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

_ASCII_PUNCTUATION = frozenset(string.punctuation)


def _is_punctuation(ch: str) -> bool:
    # SQuAD removes string.punctuation; news text also quotes with typographic marks (“ ” ‘ ’ — …), which are
    # the Unicode "P*" categories.
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


_DROP_ASCII_PUNCTUATION = str.maketrans("", "", string.punctuation)


@lru_cache(maxsize=65536)
def normalize_answer(s: str) -> str:
    """Official SQuAD v2 normalisation (lower, drop punctuation, drop a/an/the, collapse spaces), plus Unicode
    punctuation, so that answers differing only in form compare equal. Cached: the reader normalises some 250
    phrases a question, the same names and figures again and again."""
    text = s.lower().translate(_DROP_ASCII_PUNCTUATION)
    if not text.isascii():
        text = "".join(ch for ch in text if not _is_punctuation(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def contains_run(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    """`needle` appears in `haystack` as consecutive items."""
    width = len(needle)
    if width and needle[0] not in haystack:  # most needles are not there at all: one scan in C says so
        return False
    return any(haystack[start : start + width] == needle for start in range(len(haystack) - width + 1))
