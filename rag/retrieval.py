"""Find the chunks most likely to answer a question: dense and BM25 candidates, fused, dated, de-duplicated."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from rag.dates import relative_window, to_date
from rag.embedding import Embedder
from rag.errors import SettingsError
from rag.schema import Hit
from rag.store import IndexReader

MODES = ("hybrid", "dense", "bm25")
FUSIONS = ("weighted", "rrf")


@dataclass(frozen=True)
class Filters:
    """Which articles may be retrieved: a publication date range and source paths (prefixes)."""

    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.sources)


@dataclass(frozen=True)
class RetrievalConfig:
    mode: str = "hybrid"
    fusion: str = "weighted"
    dense_weight: float = 0.5  # weighted fusion: the dense share, BM25 has the rest
    rrf_k: int = 60
    candidates: int = 100  # per retriever, before fusion
    recency_weight: float = 0.0  # added for an article published at the as-of date, decaying with distance
    recency_days: float = 30.0
    window_weight: float = 0.0  # added for an article inside a relative date the question names
    duplicate_cosine: float = 0.97  # chunks this close to a better one, from another article, are copies
    reranker: str = ""  # path of a sentence-transformers CrossEncoder; "" for none
    rerank_top: int = 30

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SettingsError(f"retrieval mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.fusion not in FUSIONS:
            raise SettingsError(f"fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise SettingsError("dense_weight must be between 0 and 1")
        if self.candidates < 1 or self.rrf_k < 1 or self.rerank_top < 1:
            raise SettingsError("candidates, rrf_k and rerank_top must be at least 1")
        if self.recency_days <= 0:
            raise SettingsError("recency_days must be positive")


@dataclass
class _Pool:
    rows: list[int] = field(default_factory=list)
    dense: dict[int, float] = field(default_factory=dict)
    lexical: dict[int, float] = field(default_factory=dict)
    dense_rank: dict[int, int] = field(default_factory=dict)
    lexical_rank: dict[int, int] = field(default_factory=dict)


class Retriever:
    """Dense (FAISS) and BM25 candidates over the same chunks, fused, then dated and de-duplicated."""

    def __init__(self, reader: IndexReader, embedder: Embedder, config: RetrievalConfig | None = None):
        self.reader = reader
        self.embedder = embedder
        self.config = config or RetrievalConfig()
        self._reranker = None

    def retrieve(
        self,
        question: str,
        k: int,
        query_vector: np.ndarray | None = None,
        *,
        filters: Filters | None = None,
        as_of: date | None = None,
    ) -> list[Hit]:
        if k < 1:
            raise ValueError("k must be at least 1")
        return self.rank(question, query_vector, filters=filters, as_of=as_of, limit=k)

    def rank(
        self,
        question: str,
        query_vector: np.ndarray | None = None,
        *,
        filters: Filters | None = None,
        as_of: date | None = None,
        limit: int | None = None,
    ) -> list[Hit]:
        """Every candidate, best first, copies removed; `limit` stops early."""
        config = self.config
        if self.reader.size == 0:
            return []
        mask = self._mask(filters) if filters is not None and filters.active else None
        if mask is not None and not mask.any():
            return []
        vector = None
        if config.mode != "bm25":
            vector = self.embedder.embed_query(question) if query_vector is None else query_vector
        pool = self._candidates(question, vector, mask)
        scores = self._fuse(pool)
        if as_of is not None or config.window_weight:
            scores = self._date_boost(question, pool.rows, scores, as_of or date.today())
        order = sorted(pool.rows, key=lambda r: -scores[r])
        if config.reranker:
            order = self._rerank(question, order)
        return self._hits(order, scores, limit)

    # -- candidates and fusion -------------------------------------------------------------------------------------
    def _candidates(self, question: str, vector: np.ndarray | None, mask: np.ndarray | None) -> _Pool:
        config, pool = self.config, _Pool()
        n = min(config.candidates, self.reader.size)
        if vector is not None:
            for rank, (row, score) in enumerate(self.reader.search(vector, n, mask), start=1):
                pool.dense[row], pool.dense_rank[row] = score, rank
        bm25_scores = None
        if config.mode != "dense":
            bm25 = self.reader.bm25
            bm25_scores = bm25.scores(question)
            if mask is not None:
                bm25_scores = np.where(mask, bm25_scores, 0.0)
            for rank, (row, score) in enumerate(_top(bm25_scores, n), start=1):
                pool.lexical[row], pool.lexical_rank[row] = score, rank
        pool.rows = list(dict.fromkeys([*pool.dense, *pool.lexical]))
        # Weighted fusion needs both scores for every candidate, not only for those each side found.
        if config.mode == "hybrid" and config.fusion == "weighted":
            missing = [r for r in pool.rows if r not in pool.dense]
            if missing and vector is not None:
                for row, value in zip(missing, self.reader.vectors(missing) @ vector, strict=True):
                    pool.dense[row] = float(value)
            if bm25_scores is not None:
                for row in pool.rows:
                    pool.lexical.setdefault(row, float(bm25_scores[row]))
        return pool

    def _fuse(self, pool: _Pool) -> dict[int, float]:
        config = self.config
        if config.mode == "dense":
            return dict(pool.dense)
        if config.mode == "bm25":
            top = max(pool.lexical.values(), default=1.0) or 1.0
            return {r: s / top for r, s in pool.lexical.items()}
        if config.fusion == "rrf":
            return {
                r: (1.0 / (config.rrf_k + pool.dense_rank[r]) if r in pool.dense_rank else 0.0)
                + (1.0 / (config.rrf_k + pool.lexical_rank[r]) if r in pool.lexical_rank else 0.0)
                for r in pool.rows
            }
        dense = _min_max({r: pool.dense.get(r, 0.0) for r in pool.rows})
        lexical = _min_max({r: pool.lexical.get(r, 0.0) for r in pool.rows})
        w = config.dense_weight
        return {r: w * dense[r] + (1 - w) * lexical[r] for r in pool.rows}

    # -- dates ---------------------------------------------------------------------------------------------------------
    def _date_boost(self, question: str, rows: list[int], scores: dict[int, float], as_of: date) -> dict[int, float]:
        config = self.config
        published = self.reader.row_dates()
        window = relative_window(question, as_of)
        boosted = dict(scores)
        for row in rows:
            day = published[row]
            if day <= 0:
                continue
            if config.recency_weight:
                distance = abs(as_of.toordinal() - day)
                boosted[row] += config.recency_weight * math.exp(-distance / config.recency_days)
            if window is not None and config.window_weight and window[0].toordinal() <= day <= window[1].toordinal():
                boosted[row] += config.window_weight
        return boosted

    def _mask(self, filters: Filters) -> np.ndarray:
        published = self.reader.row_dates()
        mask = np.ones(self.reader.size, dtype=bool)
        if filters.since is not None:
            mask &= published >= filters.since.toordinal()
        if filters.until is not None:
            mask &= (published > 0) & (published <= filters.until.toordinal())
        if filters.sources:
            sources = self.reader.row_sources()
            allowed = np.array([any(s.startswith(p) for p in filters.sources) for s in sources], dtype=bool)
            mask &= allowed
        return mask

    # -- reranking and copies -----------------------------------------------------------------------------------------
    def _rerank(self, question: str, order: list[int]) -> list[int]:
        if self._reranker is None:
            from sentence_transformers import CrossEncoder

            self._reranker = CrossEncoder(self.config.reranker, device=self.embedder.device)
        head = order[: self.config.rerank_top]
        chunks = self.reader.chunks(head)
        scores = self._reranker.predict([(question, c.embed_text) for c in chunks], show_progress_bar=False)
        reranked = [row for _, row in sorted(zip(scores, head, strict=True), key=lambda pair: -float(pair[0]))]
        return reranked + order[self.config.rerank_top :]

    def _hits(self, order: list[int], scores: dict[int, float], limit: int | None) -> list[Hit]:
        """Hits best first, leaving out chunks that copy a better chunk of another article (wire copies)."""
        kept: list[int] = []
        kept_vectors: list[np.ndarray] = []
        kept_articles: list[str] = []
        chunks = self.reader.chunks(order)
        vectors = self.reader.vectors(order)
        hits: list[Hit] = []
        for row, chunk, vector in zip(order, chunks, vectors, strict=True):
            if limit is not None and len(hits) >= limit:
                break
            copy = any(
                article != chunk.article_id and float(vector @ other) >= self.config.duplicate_cosine
                for article, other in zip(kept_articles, kept_vectors, strict=True)
            )
            if copy:
                continue
            kept.append(row)
            kept_vectors.append(vector)
            kept_articles.append(chunk.article_id)
            hits.append(Hit(chunk=chunk, article=self.reader.article(chunk.article_id), score=float(scores[row]),
                            rank=len(hits) + 1))
        return hits


def _top(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    k = min(k, int(np.count_nonzero(scores)))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(r), float(scores[r])) for r in top]


def _min_max(values: dict[int, float]) -> dict[int, float]:
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    span = high - low
    if span <= 0:
        return {r: 1.0 if high > 0 else 0.0 for r in values}
    return {r: (v - low) / span for r, v in values.items()}


def parse_day(text: str | None) -> date | None:
    """A YYYY-MM-DD string from a flag or a data set, or None."""
    return to_date(text) if text else None
