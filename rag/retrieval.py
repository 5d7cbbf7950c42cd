"""Find the chunks most likely to answer a question."""

from __future__ import annotations

import numpy as np

from rag.embedding import Embedder
from rag.schema import Hit
from rag.store import IndexReader


class Retriever:
    """Dense retrieval: the question's embedding against every chunk's, by inner product."""

    def __init__(self, reader: IndexReader, embedder: Embedder):
        self.reader = reader
        self.embedder = embedder

    def retrieve(self, question: str, k: int, query_vector: np.ndarray | None = None) -> list[Hit]:
        if k < 1:
            raise ValueError("k must be at least 1")
        vector = self.embedder.embed_query(question) if query_vector is None else query_vector
        found = self.reader.search(vector, k)
        chunks = self.reader.chunks([row for row, _ in found])
        return [
            Hit(chunk=chunk, article=self.reader.article(chunk.article_id), score=score, rank=rank)
            for rank, (chunk, (_, score)) in enumerate(zip(chunks, found, strict=True), start=1)
        ]
