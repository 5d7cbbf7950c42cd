"""Updates of a large index: 20 updates (adding 10 new articles, removing 1, in turn), their cost, and whether
the updated index ranks as a fresh build of the same articles does.

    python benchmarks/incremental.py --index-dir /tmp/full/idx                       # updates, then a compacted copy
    python benchmarks/incremental.py --index-dir /tmp/full/idx --fresh               # ...and a fresh build to compare

Works on a copy of the index (the original is left alone). New articles are SQuAD 2.0 paragraphs (squad2-500):
real text the news index does not hold, 10 per added file. After the updates, the rtqa2022 questions are asked
(with their dates, top 40 chunks, articles in order) of the original index, of the updated one, and of a
comparison index: with --fresh a new build of the same articles (the rtqa2022 corpus plus the SQuAD articles
still in), else a compacted copy of the updated index (one segment, nothing embedded again).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"
DEPTH = 40  # chunks ranked per question, as benchmarks/retrieval.py


def rankings(app, dataset) -> tuple[list[list[str]], list[set[str]], float]:
    """Article ids in rank order for every answerable question (as-of dates), the gold articles, ms/question."""
    from rag.eval.evaluation import Evaluator
    from rag.text.dates import to_date

    evaluator = Evaluator(app, dataset)
    retriever = app.retriever()
    questions = [q for q in dataset.questions if not q.unanswerable]
    ranked, started = [], time.perf_counter()
    for question in questions:
        as_of = to_date(question.date) if question.date else None
        hits = retriever.retrieve(question.question, DEPTH, as_of=as_of)
        ranked.append(list(dict.fromkeys(h.article.id for h in hits)))
    per_query = (time.perf_counter() - started) * 1000 / max(1, len(questions))
    return ranked, [evaluator.gold_articles(q) for q in questions], per_query


def recall_at(ranked: list[list[str]], gold: list[set[str]], k: int) -> float:
    return sum(bool(set(r[:k]) & g) for r, g in zip(ranked, gold, strict=True)) / max(1, len(gold))


def agreement(a: list[list[str]], b: list[list[str]], k: int = 10) -> tuple[float, float]:
    """Share of questions whose top k articles are the same set, and the same list, in both rankings."""
    same_set = sum(set(x[:k]) == set(y[:k]) for x, y in zip(a, b, strict=True)) / max(1, len(a))
    same_list = sum(x[:k] == y[:k] for x, y in zip(a, b, strict=True)) / max(1, len(a))
    return same_set, same_list


def squad_files(work: Path, count: int) -> list[tuple[Path, list[dict]]]:
    with gzip.open(BENCH / "squad2-500" / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for _, line in zip(range(10 * count), handle, strict=False)]
    files = []
    for number in range(count):
        batch = [{**r, "id": "new-" + r["id"]} for r in records[10 * number : 10 * number + 10]]
        path = work / f"new-{number:02d}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in batch), encoding="utf-8")
        files.append((path, batch))
    return files


def main() -> int:
    from rag.api import Citeline
    from rag.eval.evaluation import load_dataset
    from rag.index.store import read_manifest
    from rag.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", required=True, type=Path, help="the full rtqa2022 index")
    parser.add_argument("--work", type=Path, default=Path("/tmp/citeline-incremental"), help="emptied first")
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="build the same articles anew to compare with")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    copy = args.work / "index"
    shutil.copytree(args.index_dir, copy)
    dataset = load_dataset(BENCH / "rtqa2022", BENCH / "rtqa2022" / "corpus.jsonl.gz")
    original = Citeline(Settings.from_env(index_dir=args.index_dir))
    original.warm_up()
    before_ranked, gold, _ = rankings(original, dataset)
    original.close()

    app = Citeline(Settings.from_env(index_dir=copy))
    app.warm_up()
    before = read_manifest(copy)
    sources = [Path(key) for key in before.sources]
    print(f"index: {before.counts['articles']} articles, {before.counts['chunks']} chunks,"
          f" {len(before.segments)} segment(s)")
    files = squad_files(args.work, (args.updates + 1) // 2)
    adds, removes, removed_ids = [], [], []
    for update in range(args.updates):
        if update % 2 == 0:
            path, _ = files[update // 2]
            sources.append(path)
            started = time.perf_counter()
            report = app.index(sources, progress=False)
            seconds = time.perf_counter() - started
            adds.append((seconds, report.seconds.get("embed", 0.0), report.chunks_embedded, report.articles_added))
            what = f"add 10: {report.articles_added} added, {report.chunks_embedded} chunks embedded"
        else:
            _, batch = files[update // 2]
            doomed = next(a.id for a in app.reader().articles() if a.doc_id == batch[0]["id"])
            removed_ids.append(batch[0]["id"])
            started = time.perf_counter()
            report = app.remove(doomed)
            seconds = time.perf_counter() - started
            removes.append(seconds)
            what = "remove 1"
        manifest = read_manifest(copy)
        print(f"update {update + 1:2d}: {what}, {seconds:.2f} s; segments (live articles)"
              f" {[s.live_articles for s in manifest.segments]}")
    add_total = sorted(s for s, _, _, _ in adds)
    beyond = sorted(s - e for s, e, _, _ in adds)  # what the update costs besides embedding the new chunks
    print(f"\nadd 10 articles: median {add_total[len(adds) // 2]:.2f} s, max {add_total[-1]:.2f} s;"
          f" beyond embedding: median {beyond[len(adds) // 2]:.2f} s, max {beyond[-1]:.2f} s")
    print(f"remove 1 article: median {sorted(removes)[len(removes) // 2]:.2f} s, max {max(removes):.2f} s")

    updated_ranked, updated_gold, per_query = rankings(app, dataset)
    app.close()
    if args.fresh:
        kept = [r for path, batch in files for r in batch if r["id"] not in removed_ids]
        final = args.work / "final-new.jsonl"
        final.write_text("\n".join(json.dumps(r) for r in kept), encoding="utf-8")
        fresh = Citeline(Settings.from_env(index_dir=args.work / "fresh"))
        started = time.perf_counter()
        fresh.index([*(Path(k) for k in before.sources), final], progress=False)
        label = f"a fresh build of the same articles ({time.perf_counter() - started:.0f} s)"
    else:
        shutil.copytree(copy, args.work / "compacted")
        fresh = Citeline(Settings.from_env(index_dir=args.work / "compacted"))
        started = time.perf_counter()
        fresh.compact()
        label = f"a compacted copy ({time.perf_counter() - started:.1f} s to compact)"
    fresh.warm_up()
    fresh_ranked, fresh_gold, _ = rankings(fresh, dataset)
    same_set, same_list = agreement(updated_ranked, fresh_ranked)
    print(f"\nrtqa2022, {len(gold)} questions with their dates; updated index: {per_query:.1f} ms/question")
    print(f"top 10 articles of the updated index = those of {label}: same set {same_set:.3f}, same order"
          f" {same_list:.3f}")
    print(f"Recall@5: original {recall_at(before_ranked, gold, 5):.3f}, updated"
          f" {recall_at(updated_ranked, updated_gold, 5):.3f}, comparison {recall_at(fresh_ranked, fresh_gold, 5):.3f}")
    print(f"Recall@10: original {recall_at(before_ranked, gold, 10):.3f}, updated"
          f" {recall_at(updated_ranked, updated_gold, 10):.3f}")
    fresh.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
