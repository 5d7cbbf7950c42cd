"""Citeline's retriever as a LangChain `BaseRetriever`, so it plugs into a user's own chain."""

from __future__ import annotations

from datetime import date
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.retrieve.retrieval import Filters


class CitelineRetriever(BaseRetriever):
    """Documents whose metadata carry the source, title, date and the exact line range of each passage.

    `page_content` is the text of the cited lines, so a chain that quotes it quotes the article itself.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    app: Any  # a rag.api.Citeline
    k: int = 5
    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()
    as_of: date | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        question = self.app.check_question(query)
        filters = Filters(since=self.since, until=self.until, sources=tuple(self.sources))
        hits = self.app.retrieve(question, self.k, filters=filters, as_of=self.as_of)
        return [
            Document(
                page_content=hit.article.quote(hit.chunk.line_start, hit.chunk.line_end),
                metadata={
                    "source": hit.article.source,
                    "title": hit.article.title,
                    "published": hit.article.published,
                    "url": hit.article.url,
                    "article_id": hit.article.id,
                    "line_start": hit.chunk.line_start,
                    "line_end": hit.chunk.line_end,
                    "score": hit.score,
                    "rank": hit.rank,
                },
            )
            for hit in hits
        ]
