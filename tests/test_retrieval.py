from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from rag.retrieve.retrieval import Filters, RetrievalConfig, Retriever
from rag.settings import Settings
from tests.conftest import BACKENDS, SEED, seed_line

FLOOD = (
    "River Ash floods Harwick\n\nThe River Ash rose three metres in Harwick on Saturday, flooding 312 homes.\n\n"
    "The mayor, Lucia Fernandes, opened the town hall as a shelter for the next two weeks.\n\n"
    "Forecasters expect the river to peak on Sunday evening."
)
OLD_FLOOD = (
    "Harwick counts the cost of River Ash flood\n\nThe River Ash rose one metre in Harwick in March, "
    "flooding 40 homes near the old bridge.\n\nThe council promised new flood walls within two years."
)
BUDGET = (
    "Harwick council approves budget\n\nHarwick council approved a 4% rise in spending on Tuesday, "
    "with most of it going to schools and road repairs."
)


@pytest.fixture(scope="module", params=BACKENDS)
def news(embedder, tmp_path_factory, request):
    """A tiny corpus: the seed, a flood story, its wire copy, an older flood, and a budget story; every test that
    uses it runs on both vector stores (Milvus: Milvus Lite in the index folder)."""
    from rag.api import Citeline

    folder = tmp_path_factory.mktemp(f"news-{request.param}")
    records = [
        {"id": "flood", "title": "River Ash floods Harwick", "published": "2021-08-14", "url": "", "text": FLOOD},
        {"id": "flood-copy", "title": "River Ash floods Harwick", "published": "2021-08-14", "url": "",
         "text": FLOOD + "\n\nThe Associated Press contributed."},
        {"id": "old-flood", "title": "Harwick counts the cost of River Ash flood", "published": "2019-03-20",
         "url": "", "text": OLD_FLOOD},
        {"id": "budget", "title": "Harwick council approves budget", "published": "2021-08-10", "url": "",
         "text": BUDGET},
    ]
    (folder / "wire").mkdir()
    (folder / "wire" / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    (folder / SEED.name).write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    app = Citeline(Settings(index_dir=folder / "index", vector_store=request.param), embedder=embedder)
    app.index([folder / "wire", folder / SEED.name], progress=False)
    assert app.reader().manifest.vector_store["backend"] == request.param
    yield app
    app.close()


def _doc_ids(hits):
    return [h.article.doc_id or h.article.source for h in hits]


def test_hybrid_finds_the_seed_fact(news):
    hits = news.retrieve("Who was killed at Camp Taji?", 5)
    assert hits[0].article.source.endswith(SEED.name)
    assert any(h.chunk.line_start <= 12 <= h.chunk.line_end for h in hits)
    assert hits[0].article.quote(12, 12) == seed_line(12)


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_single_retrievers_work_alone(news, embedder, mode):
    retriever = Retriever(news.reader(), embedder, RetrievalConfig(mode=mode))
    hits = retriever.retrieve("How many homes did the River Ash flood in Harwick?", 3)
    assert hits and hits[0].article.doc_id in {"flood", "flood-copy", "old-flood"}


def test_wire_copies_collapse(news):
    hits = news.retrieve("How far did the River Ash rise in Harwick on Saturday?", 5)
    ids = _doc_ids(hits)
    assert ids[0] in {"flood", "flood-copy"}
    assert not {"flood", "flood-copy"} <= set(ids), "a wire copy of a retrieved story must not come back"


def test_as_of_date_prefers_news_of_its_time(news):
    question = "How far did the River Ash rise in Harwick?"
    recent = news.retrieve(question, 5, as_of=date(2021, 8, 15))
    older = news.retrieve(question, 5, as_of=date(2019, 3, 21))
    assert recent[0].article.published == "2021-08-14"
    assert older[0].article.doc_id == "old-flood"


def test_relative_dates_in_the_question(news, embedder):
    config = RetrievalConfig(recency_weight=0.0, relative_recency_weight=0.0, window_weight=1.0)
    retriever = Retriever(news.reader(), embedder, config)
    hits = retriever.retrieve("What did Harwick council approve this week?", 3, as_of=date(2021, 8, 12))
    assert hits[0].article.doc_id == "budget"
    last_year = retriever.retrieve("What happened to the River Ash in Harwick last year?", 3, as_of=date(2020, 6, 1))
    assert last_year[0].article.doc_id == "old-flood"


def test_filters_by_date_and_source(news):
    question = "Who was killed at Camp Taji?"
    since = news.retrieve(question, 5, filters=Filters(since=date(2021, 1, 1)))
    assert all(h.article.published >= "2021-01-01" for h in since)
    until = news.retrieve(question, 5, filters=Filters(until=date(2020, 12, 31)))
    assert until and all(h.article.published <= "2020-12-31" for h in until)
    assert until[0].article.published == "2020-03-13"
    corpus = next(a.source for a in news.reader().articles() if "#" in a.source).split("#")[0]
    wire = news.retrieve(question, 5, filters=Filters(sources=(corpus,)))
    assert wire and all(h.article.source.startswith(corpus) for h in wire)
    nothing = news.retrieve(question, 5, filters=Filters(since=date(2030, 1, 1)))
    assert nothing == []


def test_ask_applies_filters(news):
    answer = news.ask("Who was killed at Camp Taji?", since=date(2021, 1, 1))
    assert not any(c.source.endswith(SEED.name) for c in answer.citations)


@pytest.mark.slow  # builds and loads a cross-encoder with PyTorch
def test_reranker_hook_with_a_tiny_cross_encoder(news, embedder, tmp_path):
    """The hook loads a user's CrossEncoder from a folder and orders the top articles by its scores."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    tokenizer = BertTokenizerFast.from_pretrained(str(embedder.path))
    torch.manual_seed(7)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    model_dir = tmp_path / "tiny-cross-encoder"
    BertForSequenceClassification(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)

    question = "How far did the River Ash rise in Harwick?"
    plain = Retriever(news.reader(), embedder, RetrievalConfig(rerank_top=10, chunks_per_article=1))
    reranked = Retriever(news.reader(), embedder,
                         RetrievalConfig(reranker=str(model_dir), rerank_top=10, chunks_per_article=1))
    plain_hits = plain.retrieve(question)
    hits = reranked.retrieve(question)
    def stories(found):  # the wire copy may survive instead of its original once the order changes
        return {(h.article.doc_id or h.article.source).replace("-copy", "") for h in found}

    assert stories(hits) == stories(plain_hits) and len(hits) == len(plain_hits)
    scores = CrossEncoder(str(model_dir)).predict([(question, h.chunk.embed_text) for h in hits])
    assert list(scores) == sorted(scores, reverse=True), "articles come in the cross-encoder's order"


def test_langchain_retriever_inside_a_chain(news):
    from langchain_core.runnables import RunnableLambda

    from rag.apps.langchain_retriever import CitelineRetriever

    retriever = CitelineRetriever(app=news, k=3)
    chain = retriever | RunnableLambda(lambda docs: [(d.metadata["line_start"], d.page_content) for d in docs])
    passages = chain.invoke("Who was killed at Camp Taji?")
    assert any(start <= 12 and seed_line(12) in text for start, text in passages)
    docs = retriever.invoke("Who was killed at Camp Taji?")
    meta = docs[0].metadata
    assert {"source", "title", "published", "line_start", "line_end", "article_id"} <= set(meta)
    assert docs[0].page_content == news.reader().article(meta["article_id"]).quote(meta["line_start"],
                                                                                   meta["line_end"])


def test_dense_search_matches_exact_inner_products_with_and_without_a_row_mask(news, embedder):
    """Whatever the store, dense search is exact here: the best rows by inner product, only allowed ones, only
    rows that have a vector (chunks past an article's dense_chunks have none)."""
    reader = news.reader()
    vectors = reader.all_vectors()
    assert vectors.shape == (reader.size, embedder.dimension)
    embedded = vectors.any(axis=1)
    assert 0 < embedded.sum() < reader.size  # the seed article has more than dense_chunks chunks
    query = embedder.embed_query("How far did the River Ash rise in Harwick?")
    scores = vectors @ query
    found = reader.search(query, 5)
    assert all(embedded[r] for r, _ in found)
    assert np.allclose([s for _, s in found], np.sort(scores[embedded])[::-1][:5], atol=1e-4)
    mask = np.zeros(reader.size, dtype=bool)
    mask[::2] = True
    found = reader.search(query, 5, mask)
    assert found and all(mask[r] and embedded[r] for r, _ in found)
    assert np.allclose([s for _, s in found], np.sort(scores[mask & embedded])[::-1][:5], atol=1e-4)
    assert np.allclose(reader.vectors([r for r, _ in found]), vectors[[r for r, _ in found]], atol=1e-6)
    assert reader.search(query, 5, np.zeros(reader.size, dtype=bool)) == []
