from __future__ import annotations

import itertools

import pytest

from rag.ingest.chunking import Chunker
from rag.ingest.loading import load_file, make_article
from tests.conftest import SEED


@pytest.fixture(scope="module")
def chunker(embedder) -> Chunker:
    return Chunker(embedder.count_tokens, chunk_tokens=160, overlap_tokens=64, max_tokens=embedder.max_tokens)


def _covered(chunks) -> set[int]:
    return {n for c in chunks for n in range(c.line_start, c.line_end + 1)}


def test_chunks_cover_every_non_empty_line(chunker):
    [article] = load_file(SEED)
    chunks = chunker.chunk(article)
    non_empty = {n for n, line in enumerate(article.lines, start=1) if line.strip()}
    assert non_empty <= _covered(chunks)
    for chunk in chunks:
        assert 1 <= chunk.line_start <= chunk.line_end <= len(article.lines)
        assert chunk.article_id == article.id


def test_chunks_fit_the_window_with_the_title(chunker, embedder):
    [article] = load_file(SEED)
    for chunk in chunker.chunk(article):
        assert chunk.embed_text.startswith(article.title)
        assert embedder.count_tokens([chunk.embed_text])[0] + 2 <= 160 <= embedder.max_tokens


def test_overlap_keeps_the_subject_with_the_fact(chunker):
    [article] = load_file(SEED)
    chunks = chunker.chunk(article)
    # "Camp Taji" is on line 10, the dead on line 12: some chunk embeds both.
    assert any(c.line_start <= 10 and c.line_end >= 12 for c in chunks)
    starts = [c.line_start for c in chunks]
    assert starts == sorted(starts)
    # Neighbouring chunks share lines.
    assert all(a.line_end >= b.line_start for a, b in itertools.pairwise(chunks))


def test_chunks_break_between_sentences_and_split_overlong_ones(chunker, embedder):
    sentence = "The committee heard evidence from {} witnesses about the flooding in the valley."
    paragraph = " ".join(sentence.format(i) for i in range(40))
    monster = " ".join(f"word{i}" for i in range(900))
    text = f"A long day\n\n{paragraph}\n\n{monster}\n\nThe end came at noon."
    article = make_article(text, "long.txt", title="A long day")
    chunks = chunker.chunk(article)
    assert _covered(chunks) >= {1, 3, 5, 7}
    for chunk in chunks:
        assert embedder.count_tokens([chunk.embed_text])[0] + 2 <= 160
    # Sentences are never cut in the middle: every chunk of line 3 holds whole sentences.
    for chunk in chunks:
        if chunk.line_start == chunk.line_end == 3:
            for piece in chunk.text.split("\n"):
                assert piece.startswith("The committee") and piece.endswith("valley.")
    # The word soup of line 5 is all there, spread over several chunks, none lost.
    words = {w for c in chunks if c.line_start <= 5 <= c.line_end for w in c.text.split() if w.startswith("word")}
    assert words == {f"word{i}" for i in range(900)}


def test_chunk_budget_cannot_exceed_the_window(embedder):
    with pytest.raises(ValueError, match="window"):
        Chunker(embedder.count_tokens, chunk_tokens=512, overlap_tokens=64, max_tokens=embedder.max_tokens)
