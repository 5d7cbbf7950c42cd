"""Where a sentence's subject is named: the title and the lines around it, and how much of the question's names
a sentence and its surroundings state. News names a subject once and then says "he" or "the company"."""

from __future__ import annotations

from rag.schema import Article
from rag.text.terms import STOPWORDS, contains_phrase, term_set, words

# Lines either side of a sentence's line that count as its surroundings.
CONTEXT_LINES = 2


def surroundings(article: Article, line: int, cache: dict, *, reporting: bool) -> tuple[str, frozenset[str]]:
    """The title and the lines around `line`, lower-cased, with their terms. `reporting`: the line itself and
    CONTEXT_LINES reporting lines either side (blank lines and furniture skipped), as the sentence scorer reads
    them; otherwise the lines within CONTEXT_LINES of it, not the line itself, as the reader's features do."""
    key = (article.id, line, reporting)
    if key not in cache:
        lines = article.lines
        if reporting:
            # The article's reporting lines and their positions, listed once for all its sentences.
            kept, positions = cache.get((article.id, "reporting")) or cache.setdefault(
                (article.id, "reporting"), reporting_lines(article))
            position = positions.get(line, 0)
            around = kept[max(0, position - CONTEXT_LINES) : position + CONTEXT_LINES + 1]
        else:
            furniture = article.furniture
            around = [n for n in range(line - CONTEXT_LINES, line + CONTEXT_LINES + 1)
                      if n != line and 1 <= n <= len(lines) and n not in furniture]
        parts = [article.title, *(lines[n - 1] for n in around)]
        # The terms of each line are cached once for every sentence and question that reads it (the same set
        # as the terms of the joined text: no word spans two lines).
        cache[key] = ("\n".join(parts).lower(), frozenset().union(*map(term_set, parts)))
    return cache[key]


def reporting_lines(article: Article) -> tuple[list[int], dict[int, int]]:
    """The numbers of the article's lines that report (not blank, not furniture), and each one's position among
    them (the reader's `line_position` feature, and the surroundings the sentence scorer reads)."""
    furniture = set(article.furniture)
    kept = [n for n, text in enumerate(article.lines, 1) if text.strip() and n not in furniture]
    return kept, {n: i for i, n in enumerate(kept)}


def name_score(question_names: list[str], sentence_lower: str, context_lower: str, near: float,
               by_word: float = 0.0) -> float:
    """Share of the question's names found: 1 for a name in the sentence, `near` for one in its surroundings,
    and `by_word` times the share of a name's words found anywhere there."""
    if not question_names:
        return 1.0
    total = 0.0
    for name in question_names:
        if contains_phrase(sentence_lower, name):
            total += 1.0
        elif contains_phrase(context_lower, name):
            total += near
        elif by_word:
            parts = [w for w in words(name) if w not in STOPWORDS]
            if parts:
                found = sum(1 for w in parts if contains_phrase(sentence_lower, w) or contains_phrase(context_lower, w))
                total += by_word * found / len(parts)
    return total / len(question_names)
