"""Line-anchored chunks that follow paragraph and sentence boundaries and fit the embedder's window."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sentencex import get_sentence_boundaries

from rag.errors import SettingsError
from rag.schema import Article, Chunk

# The title goes in front of every chunk's embedded text; a longer title is cut for embedding only.
MAX_TITLE_TOKENS = 40
# [CLS] and [SEP] take two places in the window.
SPECIAL_TOKENS = 2

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass
class Segment:
    """A sentence (or a piece of an over-long sentence) of one line."""

    line: int
    text: str
    tokens: int
    furniture: bool = False


@dataclass
class Sentence:
    line: int
    start: int  # character offsets within the line
    end: int
    text: str


def split_sentences(text: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of each sentence of one line, white space trimmed."""
    spans = []
    for boundary in get_sentence_boundaries("en", text):
        raw = boundary["text"]
        stripped = raw.strip()
        if not stripped:
            continue
        start = boundary["start_index"] + (len(raw) - len(raw.lstrip()))
        spans.append((start, start + len(stripped), stripped))
    if not spans and text.strip():
        stripped = text.strip()
        start = text.index(stripped)
        spans.append((start, start + len(stripped), stripped))
    return spans


def line_sentences(article: Article, lines: Sequence[int] | None = None) -> list[Sentence]:
    """Sentences of the article's reporting lines (furniture left out), each knowing its line."""
    all_lines = article.lines
    furniture = set(article.furniture)
    numbers = range(1, len(all_lines) + 1) if lines is None else lines
    found = []
    for number in numbers:
        if number in furniture or not (1 <= number <= len(all_lines)):
            continue
        text = all_lines[number - 1]
        if not text.strip():
            continue
        found.extend(Sentence(number, start, end, s) for start, end, s in split_sentences(text))
    return found


class Chunker:
    """Packs sentences into chunks of at most `chunk_tokens` embedder tokens, title included.

    Consecutive chunks share up to `overlap_tokens` of trailing sentences, so a fact and the subject named in
    the paragraph before it are embedded together. Cuts fall between lines where that costs little.
    """

    def __init__(self, count_tokens: TokenCounter, chunk_tokens: int, overlap_tokens: int, max_tokens: int):
        if chunk_tokens > max_tokens:
            raise SettingsError(f"chunk_tokens ({chunk_tokens}) exceeds the embedder's window ({max_tokens})")
        if not 0 <= overlap_tokens < chunk_tokens:
            raise SettingsError("overlap_tokens must be between 0 and chunk_tokens - 1")
        self.count_tokens = count_tokens
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens
        self.max_tokens = max_tokens

    def title_prefix(self, title: str) -> tuple[str, int]:
        title = " ".join(title.split())
        if not title:
            return "", 0
        tokens = self.count_tokens([title])[0]
        while tokens > MAX_TITLE_TOKENS:
            words = title.split()
            title = " ".join(words[: max(1, int(len(words) * MAX_TITLE_TOKENS / tokens) - 1)])
            tokens = self.count_tokens([title])[0]
        return title, tokens

    def segments(self, article: Article, budget: int) -> list[Segment]:
        furniture = set(article.furniture)
        pieces: list[tuple[int, str, bool]] = []
        for number, text in enumerate(article.lines, start=1):
            if not text.strip():
                continue
            if number in furniture:
                pieces.append((number, text.strip(), True))
                continue
            pieces.extend((number, s, False) for _, _, s in split_sentences(text))
        counts = self.count_tokens([text for _, text, is_furniture in pieces if not is_furniture])
        segments: list[Segment] = []
        it = iter(counts)
        for number, text, is_furniture in pieces:
            if is_furniture:
                segments.append(Segment(number, text, 0, True))
                continue
            tokens = next(it)
            if tokens <= budget:
                segments.append(Segment(number, text, tokens))
            else:
                segments.extend(self._split_long(number, text, budget))
        return segments

    def _split_long(self, number: int, text: str, budget: int) -> list[Segment]:
        """A sentence longer than a chunk is cut into word windows that each fit."""
        words = text.split()
        out: list[Segment] = []
        start = 0
        while start < len(words):
            end = len(words)
            while True:
                piece = " ".join(words[start:end])
                tokens = self.count_tokens([piece])[0]
                if tokens <= budget or end - start == 1:
                    break
                end = start + max(1, int((end - start) * budget / tokens * 0.95))
            out.append(Segment(number, piece, tokens))
            start = end
        return out

    def chunk(self, article: Article) -> list[Chunk]:
        title, title_tokens = self.title_prefix(article.title)
        budget = self.chunk_tokens - title_tokens - SPECIAL_TOKENS
        segments = self.segments(article, budget)
        if not segments:
            return []
        chunks = []
        start = 0
        while start < len(segments):
            end, used = start, 0
            while end < len(segments) and (used + segments[end].tokens <= budget or end == start):
                used += segments[end].tokens
                end += 1
            end = self._prefer_line_break(segments, start, end, budget)
            chunks.append(self._make_chunk(article, title, segments[start:end]))
            if end >= len(segments):
                break
            start = self._overlap_start(segments, start, end, budget)
        return chunks

    def _prefer_line_break(self, segments: list[Segment], start: int, end: int, budget: int) -> int:
        """Move a cut that splits a line back to the line's start when the chunk stays at least half full."""
        if end >= len(segments) or segments[end].line != segments[end - 1].line:
            return end
        line = segments[end].line
        cut = end
        while cut > start and segments[cut - 1].line == line:
            cut -= 1
        used = sum(s.tokens for s in segments[start:cut])
        return cut if cut > start and used >= budget // 2 else end

    def _overlap_start(self, segments: list[Segment], start: int, end: int, budget: int) -> int:
        """The next chunk begins with the last sentences of this one, up to the overlap budget.

        At least one sentence is carried where it fits; the overlap never crowds out the sentence the next
        chunk exists for.
        """
        limit = min(self.overlap_tokens, budget - segments[end].tokens)
        nxt, carried = end, 0
        while nxt - 1 > start and carried + segments[nxt - 1].tokens <= limit:
            nxt -= 1
            carried += segments[nxt].tokens
        # A long last sentence is still carried over when the next chunk has room for it.
        if nxt == end and end - 1 > start and segments[end - 1].tokens + segments[end].tokens <= budget:
            nxt = end - 1
        return nxt

    def _make_chunk(self, article: Article, title: str, segments: list[Segment]) -> Chunk:
        body = [s.text for s in segments if not s.furniture]
        text = "\n".join(s.text for s in segments)
        embed_text = "\n".join([title, *body]) if title else "\n".join(body)
        return Chunk(
            article_id=article.id,
            line_start=segments[0].line,
            line_end=segments[-1].line,
            text=text,
            embed_text=embed_text or text,
        )
