"""BM25 over the same chunks as the vectors (bm25s), saved beside them without pickle."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.terms import terms

EMPTY_TOKEN = "\x00"  # stands in for a chunk with no content words, so rows stay aligned with the vectors


def tokenize(text: str) -> list[str]:
    """Lower-cased stems of the content words: the same analysis for chunks and questions."""
    return terms(text) or [EMPTY_TOKEN]


class Bm25Index:
    """Row i of this index is row i of the vector index."""

    def __init__(self, model=None, size: int = 0):
        self.model = model
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> Bm25Index:
        import bm25s

        model = bm25s.BM25()
        if texts:
            with _quiet():
                model.index([tokenize(t) for t in texts], show_progress=False)
        return cls(model if texts else None, len(texts))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            with _quiet():
                self.model.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, size: int) -> Bm25Index:
        import bm25s

        if size == 0:
            return cls(None, 0)
        if not (directory / "params.index.json").exists():
            raise FileNotFoundError(f"{directory} holds no BM25 index")
        with _quiet():
            model = bm25s.BM25.load(str(directory), allow_pickle=False, show_progress=False, verbosity=0)
        rows = int(model.scores.get("num_docs", -1))
        if rows != size:
            raise ValueError(f"it holds {rows} rows, the index {size}")
        return cls(model, size)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (zeros where no query word occurs)."""
        if self.model is None:
            return np.zeros(self.size, dtype=np.float32)
        words = [w for w in tokenize(query) if w in self.model.vocab_dict]
        if not words:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.model.get_scores(words), dtype=np.float32)

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top k rows by BM25 score, leaving out rows where `mask` is False and rows that score 0."""
        scores = self.scores(query)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        return top_rows(scores, k)


def top_rows(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best rows with a positive score, best first (ties in row order)."""
    k = min(k, int(np.count_nonzero(scores > 0)))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(r), float(scores[r])) for r in top]


@contextlib.contextmanager
def _quiet():
    """bm25s logs and prints progress of its own; the CLI shows its own bars instead."""
    logger = logging.getLogger("bm25s")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
