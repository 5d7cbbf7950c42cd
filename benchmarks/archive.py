"""A bigger archive: the rtqa2022 (full), rtqa2024 and rtqa2025 corpora in one index (about 11,500 articles).

    nice -n 10 python benchmarks/archive.py --work /tmp/citeline-archive            # build, then measure
    nice -n 10 python benchmarks/archive.py --grow-from /tmp/full/idx             # add 2024 + 2025 to a 2022 index
    python benchmarks/archive.py --work /tmp/citeline-archive --reuse              # measure an existing build
    python benchmarks/archive.py --work /tmp/citeline-archive --reuse --latency-only   # only the question times

Reports the build's wall time and peak RSS (a new `rag index` process, peak from wait4), the index's size on
disk, p50/p95 question latency in process (extractive `ask`, the 206 rtqa2022 questions with their dates, after
warm-up), rtqa2022 Recall@5/@10 over the big index (more distractors must not make recall collapse), and the
cost of adding 10 articles and removing 1 on a copy of the index. With --grow-from, the archive grows as a
newsroom's does: a copy of a full rtqa2022 index gets the two other corpora as an update (one new segment), and
that update's wall time and peak RSS are reported instead of a fresh build's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from incremental import BENCH, rankings, recall_at, squad_files

CORPORA = [BENCH / name / "corpus.jsonl.gz" for name in ("rtqa2022", "rtqa2024", "rtqa2025")]


def build(index_dir: Path) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MiB) of `rag index` over the three corpora, in a new process; its output."""
    command = [sys.executable, "-m", "rag", "index", *map(str, CORPORA), "--index-dir", str(index_dir), "-q",
               "--profile"]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"the build failed:\n{out[-3000:]}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, out


def disk_size(folder: Path) -> int:
    """Bytes of the index's files (the model cache, when it lives in the index folder, left out)."""
    files = [p for p in folder.rglob("*") if p.is_file() and "models" not in p.relative_to(folder).parts]
    return sum(p.stat().st_size for p in files)


def main() -> int:
    from rag.api import Citeline
    from rag.eval.evaluation import load_dataset
    from rag.index.store import read_manifest
    from rag.settings import Settings
    from rag.text.dates import to_date

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/citeline-archive"))
    parser.add_argument("--reuse", action="store_true", help="measure the index already in WORK/index")
    parser.add_argument("--grow-from", type=Path, help="an index of the full rtqa2022 corpus to add the others to")
    parser.add_argument("--latency-only", action="store_true",
                        help="with --reuse: only the question times (to compare two versions of the code, alternately)")
    args = parser.parse_args()
    if args.latency_only and not args.reuse:
        parser.error("--latency-only measures an existing build: give --reuse too")
    index_dir = args.work / "index"
    if args.grow_from and not args.reuse:
        shutil.rmtree(args.work, ignore_errors=True)
        args.work.mkdir(parents=True)
        shutil.copytree(args.grow_from, index_dir)
        wall, peak, out = build(index_dir)
        print(out.strip())
        print(f"\nupdate adding rtqa2024 + rtqa2025: {wall:.0f} s wall, peak RSS {peak:.0f} MiB")
    elif not args.reuse:
        shutil.rmtree(args.work, ignore_errors=True)
        args.work.mkdir(parents=True)
        wall, peak, out = build(index_dir)
        print(out.strip())
        print(f"\nbuild: {wall:.0f} s wall, peak RSS {peak:.0f} MiB")
    manifest = read_manifest(index_dir)
    size = disk_size(index_dir)
    articles, chunks = manifest.counts["articles"], manifest.counts["chunks"]
    vectors = sum(s.vectors.get("vectors", 0) for s in manifest.segments)
    print(f"index: {articles:,} articles, {chunks:,} chunks, {vectors:,} vectors, {len(manifest.segments)}"
          f" segment(s); {size / 2**20:.0f} MiB on disk ({size / max(articles, 1) / 1024:.1f} KiB per article)")

    dataset = load_dataset(BENCH / "rtqa2022", BENCH / "rtqa2022" / "corpus.jsonl.gz")
    app = Citeline(Settings.from_env(index_dir=index_dir))
    app.warm_up()
    if not args.latency_only:
        ranked, gold, per_query = rankings(app, dataset)
        print(f"rtqa2022 over the archive ({len(gold)} questions, dates): Recall@5 {recall_at(ranked, gold, 5):.3f},"
              f" Recall@10 {recall_at(ranked, gold, 10):.3f}; ranking {per_query:.1f} ms/question")
    questions = [q for q in dataset.questions if not q.unanswerable]
    for question in questions[:5]:  # warm-up: the reader's first answers load its parts
        app.ask(question.question, as_of=to_date(question.date) if question.date else None)
    steps = (("retrieve (embed the question, rank, top 10 chunks)", lambda q, d: app.retrieve(q, 10, as_of=d)),
             ("ask (extractive: retrieval, reader, answer)", lambda q, d: app.ask(q, as_of=d)))
    for label, call in steps:
        times = []
        for question in questions:
            started = time.perf_counter()
            call(question.question, to_date(question.date) if question.date else None)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        print(f"{label}, in process: p50 {statistics.median(times):.1f} ms, p95"
              f" {times[int(0.95 * (len(times) - 1))]:.1f} ms, max {times[-1]:.1f} ms")
    app.close()
    if args.latency_only:
        return 0

    copy = args.work / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(index_dir, copy)
    [(extra, batch)] = squad_files(args.work, 1)
    updated = Citeline(Settings.from_env(index_dir=copy))
    updated.warm_up()
    started = time.perf_counter()
    report = updated.index([*(Path(k) for k in manifest.sources), extra], progress=False)
    added = time.perf_counter() - started
    doomed = next(a.id for a in updated.reader().articles() if a.doc_id == batch[0]["id"])
    started = time.perf_counter()
    updated.remove(doomed)
    removed = time.perf_counter() - started
    print(f"add 10 articles: {added:.2f} s ({report.seconds.get('embed', 0.0):.2f} s embedding"
          f" {report.chunks_embedded} chunks); remove 1: {removed:.2f} s")
    updated.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
