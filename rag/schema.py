"""The plain records that flow through the pipeline: article → chunk → hit → citation → answer."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple


class Span(NamedTuple):
    """A phrase of one article line that may answer a question: an entity (spaCy's label) or a noun phrase.
    A named tuple, not a dataclass: a question reads some 2,000 of them from the index, and a tuple is built in
    a quarter of the time."""

    line: int  # 1-based line of the article
    start: int  # character offsets within the line
    end: int
    label: str  # PERSON, ORG, GPE, MONEY, DATE, CARDINAL, ... or "NP"
    role: str = ""  # its grammatical role: "subj", "obj", "in" (the object of "in"), "attr", "appos", ...
    head: str = ""  # the word that governs it (the verb or noun it belongs to), lower-cased

    def to_list(self) -> list:
        return list(self)

    @classmethod
    def from_list(cls, item: Sequence) -> Span:
        line, start, end, label, *rest = item
        role, head = ([*rest, "", ""])[:2]
        return cls(int(line), int(start), int(end), str(label), str(role), str(head))


@dataclass
class Annotation:
    """The phrases of an article's first `lines` lines that could answer a question, found by spaCy when the
    article was indexed (rag/ingest/nlp.py). Later lines are parsed when a question first reads them."""

    lines: int
    spans: list[Span] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps([s.to_list() for s in self.spans], separators=(",", ":"))

    @classmethod
    def from_json(cls, lines: int, text: str) -> Annotation:
        return cls(int(lines), list(map(Span._make, span_rows(text))))

    def spans_on(self, line: int) -> list[Span]:
        return [s for s in self.spans if s.line == line]


def span_rows(text: str) -> list[tuple]:
    """The spans of an annotation's JSON as plain tuples, in Span's field order: spans as written now are taken
    as they are, older ones converted."""
    convert = Span.from_list
    return [tuple(item) if len(item) == 6 else tuple(convert(item)) for item in json.loads(text)]


class LineSpans:
    """An annotation as a question reads it: a few of its lines. Its spans stay plain tuples, grouped by line,
    until a line is asked for: a question reads some 15 lines of annotations holding about 1,000 spans."""

    __slots__ = ("_made", "_rows", "lines")

    def __init__(self, lines: int, rows: dict[int, tuple[tuple, ...]]):
        self.lines = lines
        self._rows = rows
        self._made: dict[int, list[Span]] = {}

    @staticmethod
    def group(rows: Sequence[tuple]) -> dict[int, tuple[tuple, ...]]:
        """Rows (in Span's field order) by line, in their order: what the constructor takes."""
        by_line: dict[int, list[tuple]] = {}
        for row in rows:
            by_line.setdefault(row[0], []).append(row)
        return {line: tuple(found) for line, found in by_line.items()}

    def spans_on(self, line: int) -> list[Span]:
        made = self._made.get(line)
        if made is None:
            made = self._made[line] = list(map(Span._make, self._rows.get(line, ())))
        return made

    @property
    def spans(self) -> list[Span]:
        """Every span, in the annotation's order (a line's spans were written together)."""
        return [Span._make(row) for found in self._rows.values() for row in found]


@dataclass
class Article:
    """One article as stored. `text` is what line numbers refer to (`cat -n` of it)."""

    id: str  # stable: a hash of the text, so the same article added twice is stored once
    source: str  # the file it came from (for .jsonl, "file#doc_id")
    title: str
    text: str
    published: str = ""  # YYYY-MM-DD, or "" when the article does not say
    url: str = ""
    doc_id: str = ""  # the id the source gave it (benchmark corpora), else ""
    furniture: list[int] = field(default_factory=list)  # 1-based lines that are not reporting
    aliases: list[str] = field(default_factory=list)  # ids or sources of identical copies, stored once

    @functools.cached_property
    def lines(self) -> list[str]:
        """Split once: the reader looks lines up for every mention (splitting each time was 5 ms a question)."""
        return self.text.split("\n")

    def quote(self, line_start: int, line_end: int) -> str:
        """The exact text of lines line_start..line_end (1-based, inclusive)."""
        return "\n".join(self.lines[line_start - 1 : line_end])


@dataclass
class ArticleSummary:
    """An indexed article as `rag list` and the app's table show it: no text, its chunk count."""

    id: str
    source: str
    title: str
    published: str
    chunks: int
    doc_id: str = ""
    keys: list[str] = field(default_factory=list)  # the names a question set may give it: doc id, source, aliases


@dataclass
class IndexStats:
    """What an index holds, for a status line."""

    index_dir: str
    articles: int
    chunks: int
    segments: int
    files: list[str] = field(default_factory=list)  # the files indexed (absolute paths)
    generation: int = 0


@dataclass
class Chunk:
    """A line-anchored piece of an article: lines line_start..line_end, as `cat -n` numbers them."""

    article_id: str
    line_start: int
    line_end: int
    text: str  # the article text of those lines (possibly a part of a long line)
    embed_text: str = ""  # what the embedder sees: the title, then the text


@dataclass
class Hit:
    """A retrieved chunk with its score and its article."""

    chunk: Chunk
    article: Article
    score: float
    rank: int = 0
    similarity: float = 0.0  # the chunk's cosine to the question; 0 when it has no vector or ranked too low


@dataclass
class Citation:
    n: int
    source: str
    title: str
    published: str
    line_start: int
    line_end: int
    quote: str
    url: str = ""
    article_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def lines(self) -> str:
        """"line 12" or "lines 12-14", as a reader would write it."""
        if self.line_start == self.line_end:
            return f"line {self.line_start}"
        return f"lines {self.line_start}-{self.line_end}"


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    short_answer: str = ""  # the phrase that answers a who / how many / when / where question, else ""
    mode: str = "extractive"
    note: str = ""  # why an answer differs from what was asked for (e.g. a model's answer was not supported)
    confidence: float | None = None  # the reader's confidence that the articles answer the question
    choices: list[str] = field(default_factory=list)  # the options of a multiple-choice question, if given
    choice: str = ""  # the option the cited lines support, "" for none
    searched: str = ""  # a follow-up as it was searched, made self-contained from the conversation; "" if as asked

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "searched": self.searched,
            "answer": self.answer,
            "short_answer": self.short_answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": dict(self.timings_ms),
            "mode": self.mode,
            "note": self.note,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "choices": list(self.choices),
            "choice": self.choice,
        }
