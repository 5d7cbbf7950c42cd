"""Retrieval side by side, in one process: the LangChain tutorial retriever, BM25 alone, and Citeline.

    python benchmarks/retrieval.py                     # rtqa2022 (mini corpus) and squad2-500
    python benchmarks/retrieval.py --sets squad2-500   # one set

(a) LangChain tutorial: RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200), HuggingFaceEmbeddings
    on the same bundled MiniLM, FAISS.from_documents, similarity_search(question, k).
(b) BM25 alone (the bm25s formula, Citeline's tokenizer; rag/index/lexical.py) over Citeline's chunks.
(c) Citeline's default retriever, without and with each question's as-of date.

Relevance is at article level (the corpus id is in gold_doc_ids). Every system ranks its top 40 chunks and
keeps the first chunk of each article, so each has at least ten articles to be scored on.
Needs the `bench` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"
SETS = {
    "rtqa2022-mini": (BENCH / "rtqa2022", BENCH / "rtqa2022" / "mini" / "corpus.jsonl.gz"),
    "squad2-500": (BENCH / "squad2-500", None),
}
DEPTH = 40


def read_corpus(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def langchain_tutorial(corpus: list[dict], questions: list, k: int) -> tuple[list[list[str]], float, float, int]:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.embed.embedding import resolve_model_path

    started = time.perf_counter()
    documents = [
        Document(page_content=(f"{d['title']}\n\n{d['text']}" if d.get("title") else d["text"]),
                 metadata={"doc_id": d["id"]})
        for d in corpus
    ]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(documents)
    embeddings = HuggingFaceEmbeddings(model_name=str(resolve_model_path("all-MiniLM-L6-v2")))
    store = FAISS.from_documents(splits, embeddings)
    build = time.perf_counter() - started
    rankings = []
    started = time.perf_counter()
    for question in questions:
        found = store.similarity_search(question.question, k=k)
        rankings.append(list(dict.fromkeys(doc.metadata["doc_id"] for doc in found)))
    per_query = (time.perf_counter() - started) * 1000 / max(1, len(questions))
    return rankings, build, per_query, len(splits)


def citeline_runs(folder: Path, corpus_file: Path | None, index_dir: Path, reuse: bool, limit: int | None):
    from rag.api import Citeline
    from rag.eval.evaluation import Evaluator, load_dataset
    from rag.index.lexical import Bm25
    from rag.settings import Settings
    from rag.text.dates import to_date

    dataset = load_dataset(folder, corpus_file, limit)
    if not reuse:
        shutil.rmtree(index_dir, ignore_errors=True)
    app = Citeline(Settings(index_dir=index_dir))
    started = time.perf_counter()
    report = app.index(dataset.corpus, progress=False)
    build = time.perf_counter() - started
    app.warm_up()
    evaluator = Evaluator(app, dataset)
    questions = [q for q in dataset.questions if not q.unanswerable]
    gold = [evaluator.gold_articles(q) for q in questions]
    retriever = app.retriever()
    reader = app.reader()
    layout = reader.layout()
    results = {}

    # (b) BM25 alone over the same chunks.
    started = time.perf_counter()
    chunk_texts = [c.embed_text for c in reader.chunks(list(range(reader.size)))]
    bm25 = Bm25.build(chunk_texts)
    bm25_build = time.perf_counter() - started
    rankings = []
    started = time.perf_counter()
    for question in questions:
        rows = [row for row, _ in bm25.search(question.question, DEPTH)]
        rankings.append(list(dict.fromkeys(layout.ids[int(layout.row_article[r])] for r in rows)))
    results["BM25 alone (bm25s, same chunks)"] = (rankings, bm25_build,
                                                  (time.perf_counter() - started) * 1000 / len(questions))

    for label, use_dates in (("Citeline default", False), ("Citeline default + as-of dates", True)):
        if use_dates and not any(q.date for q in questions):
            continue
        rankings = []
        started = time.perf_counter()
        for question in questions:
            as_of = to_date(question.date) if use_dates and question.date else None
            hits = retriever.retrieve(question.question, DEPTH, as_of=as_of)
            rankings.append(list(dict.fromkeys(h.article.id for h in hits)))
        per_query = (time.perf_counter() - started) * 1000 / len(questions)
        results[label] = (rankings, build if not reuse else float("nan"), per_query)
    return dataset, questions, gold, results, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/citeline-bench"))
    parser.add_argument("--reuse-index", action="store_true",
                        help="reuse Citeline's index from an earlier run (its build time is then not measured)")
    parser.add_argument("--skip-langchain", action="store_true")
    parser.add_argument("--limit", type=int, help="first N questions only (a quick check)")
    args = parser.parse_args()
    if not BENCH.is_dir():
        print(f"benchmark data not found at {BENCH}", file=sys.stderr)
        return 2

    from rag.eval.metrics import RetrievalMetrics

    metrics = RetrievalMetrics()
    lines = ["| set | system | R@1 | R@5 | R@10 | MRR@10 | ms/query | index build s | chunks |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in args.sets:
        folder, corpus_file = SETS[name]
        dataset, questions, gold, results, report = citeline_runs(
            folder, corpus_file, args.work_dir / f"{name}-citeline", args.reuse_index, args.limit
        )
        print(f"{name}: {len(questions)} answerable questions, {report.articles_total} articles", file=sys.stderr)
        rows = []
        if not args.skip_langchain:
            corpus = read_corpus(dataset.corpus[0])
            rankings, build, per_query, splits = langchain_tutorial(corpus, questions, DEPTH)
            raw_gold = [set(q.gold_doc_ids) for q in questions]
            rows.append(("LangChain tutorial (1000/200 splitter, MiniLM, FAISS)", metrics(rankings, raw_gold),
                         per_query, build, splits))
        for label, (rankings, build, per_query) in results.items():
            rows.append((label, metrics(rankings, gold), per_query, build, report.chunks_total))
        for label, m, per_query, build, chunks in rows:
            line = (f"| {name} | {label} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} |"
                    f" {m['mrr@10']:.3f} | {per_query:.1f} | {build:.0f} | {chunks:,} |")
            lines.append(line)
            print(line, flush=True)
    print()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
