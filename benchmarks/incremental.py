"""Incremental updates of a large index: add 10 new articles, then remove one; what is re-embedded, how long.

    python benchmarks/incremental.py --index-dir /tmp/full/idx

Works on a copy of the index (the original is left alone). The 10 new articles are the first 10 paragraphs of
SQuAD 2.0 (squad2-500), written as one .jsonl file: real text that the news index does not hold.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"


def main() -> int:
    from rag.api import Citeline
    from rag.settings import Settings
    from rag.store import read_manifest

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", required=True, type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/citeline-incremental"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    copy = args.work / "index"
    shutil.copytree(args.index_dir, copy)
    with gzip.open(BENCH / "squad2-500" / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        new = [json.loads(line) for _, line in zip(range(10), handle, strict=False)]
    extra = args.work / "new-articles.jsonl"
    extra.write_text("\n".join(json.dumps({**r, "id": "new-" + r["id"]}) for r in new), encoding="utf-8")
    app = Citeline(Settings.from_env(index_dir=copy))
    app.warm_up()
    before = read_manifest(copy)
    sources = [Path(key) for key in before.sources]
    started = time.perf_counter()
    added = app.index([*sources, extra], progress=False)
    add_seconds = time.perf_counter() - started
    print(f"index: {before.counts['articles']} articles, {before.counts['chunks']} chunks")
    print(f"add 10 articles: {added.articles_added} added, {added.chunks_embedded} chunks embedded"
          f" (of {added.chunks_total - before.counts['chunks']} new chunks), {add_seconds:.1f} s;"
          f" stages {({k: round(v, 1) for k, v in added.seconds.items()})}")
    doomed = next(a.id for a in app.reader().articles() if a.doc_id == "new-" + new[0]["id"])
    started = time.perf_counter()
    removed = app.remove([doomed])
    remove_seconds = time.perf_counter() - started
    reader = app.reader()
    db = sqlite3.connect(copy / reader.manifest.chunks_file)
    left = db.execute("SELECT COUNT(*) FROM chunks WHERE article_id = ?", (doomed,)).fetchone()[0]
    db.close()
    hits = app.retrieve(new[0]["title"] + " " + new[0]["text"][:200], 10)
    print(f"remove 1 article: {removed.articles_total} articles, {removed.chunks_total} chunks left,"
          f" {remove_seconds:.1f} s, 0 embedded; its chunks left in SQLite: {left};"
          f" BM25 rows {reader.bm25.size} = vector rows {reader.size}: {reader.bm25.size == reader.size};"
          f" retrieved by its own text: {any(h.article.id == doomed for h in hits)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
