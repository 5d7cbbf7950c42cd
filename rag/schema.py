"""The plain records that flow through the pipeline: article → chunk → hit → citation → answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    def quote(self, line_start: int, line_end: int) -> str:
        """The exact text of lines line_start..line_end (1-based, inclusive)."""
        return "\n".join(self.lines[line_start - 1 : line_end])


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "short_answer": self.short_answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": dict(self.timings_ms),
            "mode": self.mode,
            "note": self.note,
        }
