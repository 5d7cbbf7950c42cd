"""Find the chunks most likely to answer a question: dense and BM25 candidates, fused, dated, de-duplicated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from rag.embed.embedding import Embedder
from rag.index.lexical import top_rows
from rag.index.store import IndexReader
from rag.schema import Hit
from rag.settings import FUSIONS as FUSION_NAMES
from rag.settings import RetrievalConfig
from rag.text.dates import relative_window


@dataclass(frozen=True)
class Filters:
    """Which articles may be retrieved: a publication date range and source paths (prefixes)."""

    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.sources)


@dataclass
class Evidence:
    """What the index says about one question: dense scores of the rows the embedding found, BM25 scores of every
    row and every article, and the candidate articles (positions in the index's layout)."""

    dense: dict[int, float]
    dense_rows: dict[int, list[int]]  # article position -> its rows among `dense`, in the order found
    chunk_bm25: np.ndarray
    article_bm25: np.ndarray
    articles: list[int]


def weighted_fusion(signals: dict[str, np.ndarray], config: RetrievalConfig) -> np.ndarray:
    """Each signal min-max normalised over the candidates, summed by the configured weights."""
    w_dense, w_chunk, w_article = config.weights
    return (w_dense * _min_max(signals["dense"]) + w_chunk * _min_max(signals["chunk_bm25"])
            + w_article * _min_max(signals["article_bm25"]))


def reciprocal_rank_fusion(signals: dict[str, np.ndarray], config: RetrievalConfig) -> np.ndarray:
    """Reciprocal rank fusion (Cormack et al. 2009) of the three signals, k = `rrf_k`."""
    return sum(_rrf(values, config.rrf_k) for values in signals.values())


# Fusion by name, as settings name it ("weighted" or "rrf"); a single-signal mode always weighs.
FUSIONS = {"weighted": weighted_fusion, "rrf": reciprocal_rank_fusion}
assert set(FUSIONS) == set(FUSION_NAMES)  # the names settings accept


class Retriever:
    """Ranks articles on dense and BM25 evidence and their dates, then hands out their best chunks."""

    def __init__(self, reader: IndexReader, embedder: Embedder, config: RetrievalConfig | None = None):
        self.reader = reader
        self.embedder = embedder
        self.config = config or RetrievalConfig()
        self._reranker = None

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        query_vector: np.ndarray | None = None,
        *,
        filters: Filters | None = None,
        as_of: date | None = None,
    ) -> list[Hit]:
        """The best k chunks (None: every candidate's), best first: the best few of each article, articles in
        order, copies left out."""
        if k is not None and k < 1:
            raise ValueError("k must be at least 1")
        if self.reader.size == 0:
            return []
        article_mask = self._article_mask(filters) if filters is not None and filters.active else None
        if article_mask is not None and not article_mask.any():
            return []
        found = self._candidates(question, query_vector, article_mask)
        if not found.articles:
            return []
        fuse = FUSIONS[self.config.fusion if self.config.mode == "hybrid" else "weighted"]
        scores = fuse(self._signals(found), self.config)
        scores = self._date_boost(question, np.asarray(found.articles), scores, as_of or date.today())
        order = [found.articles[i] for i in np.argsort(-scores, kind="stable")]
        by_article = dict(zip(found.articles, scores.tolist(), strict=True))
        if self.config.reranker:
            order = self._rerank(question, order, found)
        return self._hits(order, by_article, found, k)

    # -- candidates and fusion ----------------------------------------------------------------------------------------
    def _candidates(self, question: str, query_vector: np.ndarray | None, article_mask: np.ndarray | None
                    ) -> Evidence:
        """The rows the embedding finds, BM25 of every row and article (zero where filtered out), and the articles
        any of them puts among its best `candidates`."""
        layout = self.reader.layout()
        row_mask = article_mask[layout.row_article] if article_mask is not None else None
        config = self.config
        w_dense, w_chunk, w_article = config.weights
        n = min(config.candidates, self.reader.size)
        dense: dict[int, float] = {}
        if w_dense > 0 or config.mode == "dense":
            vector = self.embedder.embed_query(question) if query_vector is None else query_vector
            dense = dict(self.reader.search(vector, n, row_mask))
        chunk_bm25 = np.zeros(self.reader.size, dtype=np.float32)
        article_bm25 = np.zeros(len(layout.ids), dtype=np.float32)
        if w_chunk > 0 or w_article > 0:
            chunk_bm25 = self.reader.bm25.scores(question)
            article_bm25 = self.reader.article_bm25.scores(question)
            if row_mask is not None:
                chunk_bm25 = np.where(row_mask, chunk_bm25, 0.0).astype(np.float32)
                article_bm25 = np.where(article_mask, article_bm25, 0.0).astype(np.float32)
        lexical_rows = [r for r, _ in top_rows(chunk_bm25, n)] if w_chunk > 0 else []
        candidate_rows = list(dict.fromkeys([*dense, *lexical_rows]))
        articles = list(dict.fromkeys(int(layout.row_article[r]) for r in candidate_rows))
        if w_article > 0:
            articles = list(dict.fromkeys([*articles, *(a for a, _ in top_rows(article_bm25, n))]))
        dense_rows: dict[int, list[int]] = {}
        for row in dense:
            dense_rows.setdefault(int(layout.row_article[row]), []).append(row)
        return Evidence(dense, dense_rows, chunk_bm25, article_bm25, articles)

    def _signals(self, found: Evidence) -> dict[str, np.ndarray]:
        """Each candidate article's three signals: its best chunk by embedding (the lowest score found where none
        of its chunks was), its best chunk by BM25, and the whole article by BM25."""
        layout = self.reader.layout()
        best_dense = _best_per_article(found.dense, layout.row_article)
        floor = min(found.dense.values()) if found.dense else 0.0
        best_chunk_bm25 = np.zeros(len(layout.ids), dtype=np.float32)
        scoring = np.flatnonzero(found.chunk_bm25 > 0)  # the rest add nothing to a maximum that starts at 0
        np.maximum.at(best_chunk_bm25, layout.row_article[scoring], found.chunk_bm25[scoring])
        return {
            "dense": np.array([best_dense.get(a, floor) for a in found.articles]),
            "chunk_bm25": best_chunk_bm25[found.articles],
            "article_bm25": found.article_bm25[found.articles],
        }

    # -- dates and filters ---------------------------------------------------------------------------------------------
    def _date_boost(self, question: str, articles: np.ndarray, scores: np.ndarray, as_of: date) -> np.ndarray:
        config = self.config
        days = self.reader.layout().days[articles]
        dated = days > 0
        if not dated.any():
            return scores
        distance = np.abs(as_of.toordinal() - days).astype(np.float64)
        boosted = scores + config.recency_weight * np.exp(-distance / config.recency_days) * dated
        window = relative_window(question, as_of)
        if window is not None and config.window_weight:
            inside = dated & (days >= window[0].toordinal()) & (days <= window[1].toordinal())
            boosted = boosted + config.window_weight * inside
        if config.relative_recency_weight:
            pool = np.argsort(-boosted, kind="stable")[: config.recency_pool]
            pool = pool[dated[pool]]
            if len(pool) > 1:
                nearness = -np.log1p(distance[pool])
                boosted[pool] += config.relative_recency_weight * _min_max(nearness)
        return boosted

    def _article_mask(self, filters: Filters) -> np.ndarray:
        layout = self.reader.layout()
        mask = np.ones(len(layout.ids), dtype=bool)
        if filters.since is not None:
            mask &= layout.days >= filters.since.toordinal()
        if filters.until is not None:
            mask &= (layout.days > 0) & (layout.days <= filters.until.toordinal())
        if filters.sources:
            mask &= np.array([any(s.startswith(p) for p in filters.sources) for s in layout.sources], dtype=bool)
        return mask

    # -- chunks of the ranked articles --------------------------------------------------------------------------------
    def _chunk_rows(self, position: int, found: Evidence) -> list[int]:
        """An article's chunks, best first: the embedding's best, then the words' best (which may lie past the
        chunks that have a vector, see the dense_chunks setting), then the rest by embedding, then by BM25."""
        dense_rows, dense, chunk_bm25 = found.dense_rows, found.dense, found.chunk_bm25
        by_dense = sorted(dense_rows.get(position, []), key=lambda r: -(dense[r] + 0.01 * float(chunk_bm25[r])))
        all_rows = self.reader.layout().chunk_rows(position)
        by_bm25 = [int(r) for r in all_rows[np.argsort(-chunk_bm25[all_rows], kind="stable")]]
        head = by_dense[:1] + [r for r in by_bm25[:1] if chunk_bm25[r] > 0]
        return list(dict.fromkeys(head + by_dense + by_bm25))

    def _rerank(self, question: str, order: list[int], found: Evidence) -> list[int]:
        """A user-supplied cross-encoder reorders the top articles by their best chunk."""
        if self._reranker is None:
            from sentence_transformers import CrossEncoder

            self._reranker = CrossEncoder(self.config.reranker, device=self.embedder.device)
        head = order[: self.config.rerank_top]
        best_rows = [self._chunk_rows(a, found)[0] for a in head]
        chunks = self.reader.chunks(best_rows)
        scores = self._reranker.predict([(question, c.embed_text) for c in chunks], show_progress_bar=False)
        reranked = [a for _, a in sorted(zip(scores, head, strict=True), key=lambda pair: -float(pair[0]))]
        return reranked + order[self.config.rerank_top :]

    def _article_vector(self, rows: list[int]) -> np.ndarray:
        """The vector that stands for an article when spotting copies: its best chunk's, or (when that chunk
        was not embedded, see the dense_chunks setting) its first chunk's. `rows` holds every chunk of the article,
        best first, as _chunk_rows gives them."""
        vector = self.reader.vectors(rows[:1])[0]
        if not vector.any():
            vector = self.reader.vectors([min(rows)])[0]
        return vector

    def _hits(self, order: list[int], article_scores: dict[int, float], found: Evidence, limit: int | None
              ) -> list[Hit]:
        """Up to `chunks_per_article` chunks of each article in order; an article copying a better one is skipped."""
        layout = self.reader.layout()
        kept_vectors: list[np.ndarray] = []
        hits: list[Hit] = []
        for position in order:
            if limit is not None and len(hits) >= limit:
                break
            rows = self._chunk_rows(position, found)
            best_vector = self._article_vector(rows)
            if any(float(best_vector @ other) >= self.config.duplicate_cosine for other in kept_vectors):
                continue
            kept_vectors.append(best_vector)
            article = self.reader.article(layout.ids[position])
            shown = rows[: self.config.chunks_per_article]
            for row, chunk in zip(shown, self.reader.chunks(shown), strict=True):
                if limit is not None and len(hits) >= limit:
                    break
                hits.append(Hit(chunk=chunk, article=article, score=float(article_scores[position]),
                                rank=len(hits) + 1, similarity=float(found.dense.get(row, 0.0))))
        return hits


def _best_per_article(scores: dict[int, float], row_article: np.ndarray) -> dict[int, float]:
    best: dict[int, float] = {}
    for row, score in scores.items():
        article = int(row_article[row])
        if score > best.get(article, -np.inf):
            best[article] = score
    return best


def _min_max(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    low, high = values.min(), values.max()
    if high - low <= 1e-12:
        return np.ones_like(values) if high > 0 else np.zeros_like(values)
    return (values - low) / (high - low)


def _rrf(values: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return np.where(values > 0, 1.0 / (k + ranks), 0.0)
