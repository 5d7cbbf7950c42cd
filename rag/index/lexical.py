"""BM25 over segments: each segment stores raw postings (term frequencies and lengths), and the scores are
computed at question time from statistics over every live document of every segment (N, df, average length).

Storing raw counts instead of finished scores (as bm25s does) is what lets an index grow by small segments and
still rank as one big index would: a new segment changes N, df and the average length for all of them. The
formula is bm25s's default ("lucene"): idf = ln(1 + (N - df + 0.5) / (df + 0.5)), term weight
tf / (tf + k1 (1 - b + b dl / avgdl)), k1 = 1.5, b = 0.75; a query word counts once per occurrence.
Files are .npy (read with allow_pickle=False) and a JSON vocabulary: nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.text.terms import terms

EMPTY_TOKEN = "\x00"  # stands in for a chunk with no content words, so rows stay aligned with the vectors
K1 = 1.5
B = 0.75
MAX_TF = np.iinfo(np.uint16).max  # a word repeated more often in one chunk counts this many times
_ARRAYS = ("indptr", "docs", "tf", "lengths")


def tokenize(text: str) -> list[str]:
    """Lower-cased stems of the content words: the same analysis for chunks and questions."""
    return terms(text) or [EMPTY_TOKEN]


@dataclass
class Postings:
    """One segment's BM25 data: for each word, the documents holding it and how often; each document's length."""

    vocab: dict[str, int]
    indptr: np.ndarray  # int64, len(vocab) + 1: postings of word w are [indptr[w], indptr[w + 1])
    docs: np.ndarray  # int32, document (row) of each posting, ascending within a word
    tf: np.ndarray  # uint16, term frequency of each posting
    lengths: np.ndarray  # int32, words in each document

    @property
    def size(self) -> int:
        return len(self.lengths)

    @classmethod
    def build(cls, texts: Iterable[str]) -> Postings:
        """Postings of `texts` (one document each), in compact arrays: no list of token lists is kept."""
        vocab: dict[str, int] = {}
        words, docs, counts, lengths = array("i"), array("i"), array("i"), array("i")
        for doc, text in enumerate(texts):
            tokens = tokenize(text)
            lengths.append(len(tokens))
            for word, count in Counter(tokens).items():
                words.append(vocab.setdefault(word, len(vocab)))
                docs.append(doc)
                counts.append(count)
        word_ids = np.frombuffer(words, dtype=np.int32) if len(words) else np.zeros(0, dtype=np.int32)
        order = np.argsort(word_ids, kind="stable")  # documents stay ascending within a word
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(word_ids, minlength=len(vocab)), out=indptr[1:])
        doc_ids = np.frombuffer(docs, dtype=np.int32) if len(docs) else np.zeros(0, dtype=np.int32)
        tf = np.frombuffer(counts, dtype=np.int32) if len(counts) else np.zeros(0, dtype=np.int32)
        return cls(vocab, indptr, doc_ids[order].copy(), np.minimum(tf[order], MAX_TF).astype(np.uint16),
                   np.frombuffer(lengths, dtype=np.int32).copy() if len(lengths) else np.zeros(0, np.int32))

    def save(self, directory: Path) -> None:
        """Write and fsync every file; the caller renames the folder into place."""
        directory.mkdir(parents=True, exist_ok=True)
        words = [""] * len(self.vocab)
        for word, number in self.vocab.items():
            words[number] = word
        (directory / "vocab.json").write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
        for name in _ARRAYS:
            np.save(directory / f"{name}.npy", getattr(self, name), allow_pickle=False)
        for path in directory.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())

    @classmethod
    def load(cls, directory: Path, size: int) -> Postings:
        """The postings saved in `directory`, checked to hold `size` documents. Large arrays are memory-mapped:
        processes that open the same index share the pages."""
        if not (directory / "vocab.json").exists():
            raise FileNotFoundError(f"{directory} holds no BM25 postings")
        words = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
        # Plain arrays over the mapped files: slicing a np.memmap runs Python code per slice (3 ms a question
        # on an 11,000-article index), slicing an array viewing the same pages does not.
        arrays = {name: np.asarray(np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False))
                  for name in _ARRAYS}
        postings = cls(dict(zip(words, range(len(words)), strict=True)), **arrays)  # faster than a comprehension
        if postings.size != size or len(postings.indptr) != len(words) + 1 or \
                int(postings.indptr[-1]) != len(postings.docs) or len(postings.docs) != len(postings.tf):
            raise ValueError(f"it holds {postings.size} documents and {len(postings.docs)} postings, the index"
                             f" {size} documents")
        return postings

    def of_word(self, word: str) -> tuple[np.ndarray, np.ndarray] | None:
        number = self.vocab.get(word)
        if number is None:
            return None
        start, stop = int(self.indptr[number]), int(self.indptr[number + 1])
        return self.docs[start:stop], self.tf[start:stop]


class Bm25:
    """BM25 over the documents of several segments, numbered one after another; `live[i]` (None: all) says
    which documents of segment i count: deleted ones score 0 and are left out of every statistic."""

    def __init__(self, parts: Sequence[Postings], live: Sequence[np.ndarray | None] | None = None):
        self.parts = list(parts)
        self.live = list(live) if live is not None else [None] * len(self.parts)
        self.offsets = np.concatenate([[0], np.cumsum([p.size for p in self.parts])]).astype(np.int64)
        self.size = int(self.offsets[-1])
        total_length, self.documents = 0, 0
        for part, alive in zip(self.parts, self.live, strict=True):
            lengths = np.asarray(part.lengths, dtype=np.int64)
            total_length += int(lengths.sum() if alive is None else lengths[alive].sum())
            self.documents += part.size if alive is None else int(np.count_nonzero(alive))
        self.average_length = total_length / self.documents if self.documents else 1.0
        self._norms: list[np.ndarray] | None = None

    @classmethod
    def build(cls, texts: Sequence[str]) -> Bm25:
        """One segment of `texts`, in memory (tests, benchmarks)."""
        return cls([Postings.build(texts)])

    def _norm(self, index: int) -> np.ndarray:
        """k1 (1 - b + b dl / avgdl) of every document of segment `index`, computed once per opened index."""
        if self._norms is None:
            self._norms = [K1 * (1 - B + B * np.asarray(p.lengths, dtype=np.float32) / self.average_length)
                           for p in self.parts]
        return self._norms[index]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document (zeros where no query word occurs, and for deleted documents)."""
        out = np.zeros(self.size, dtype=np.float32)
        if not self.documents:
            return out
        for word, times in Counter(tokenize(query)).items():
            found = []
            df = 0
            for index, (part, alive) in enumerate(zip(self.parts, self.live, strict=True)):
                hit = part.of_word(word)
                if hit is None or not len(hit[0]):
                    continue
                docs, tf = np.asarray(hit[0]), np.asarray(hit[1], dtype=np.float32)
                if alive is not None:
                    keep = alive[docs]
                    docs, tf = docs[keep], tf[keep]
                df += len(docs)
                found.append((index, docs, tf))
            if not df:
                continue
            idf = np.float32(np.log(1 + (self.documents - df + 0.5) / (df + 0.5)))
            for index, docs, tf in found:
                weight = tf / (tf + self._norm(index)[docs])
                out[docs + self.offsets[index]] += times * idf * weight  # a document once per word
        return out

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top k documents by BM25 score, leaving out those where `mask` is False and those that score 0."""
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
