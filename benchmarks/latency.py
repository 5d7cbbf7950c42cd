"""In-process question latency on an existing index: retrieval + extractive answer, p50 and p95.

    python benchmarks/latency.py --index-dir /tmp/full/idx            # rtqa2022's 206 questions
    python benchmarks/latency.py --index-dir I --questions Q.jsonl --rounds 2

The model and the index are loaded (and one question asked) before timing: this is the answer time of a
running app or server, not of a cold `rag ask` (benchmarks/scale.py times that).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    from rag.api import Citeline
    from rag.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--questions", type=Path, default=BENCH / "rtqa2022" / "questions.jsonl")
    parser.add_argument("--rounds", type=int, default=1, help="times through the questions")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in args.questions.read_text().splitlines() if line.strip()]
    app = Citeline(Settings.from_env(index_dir=args.index_dir))
    app.warm_up()
    app.ask(questions[0])
    parts: dict[str, list[float]] = {"retrieve": [], "answer": [], "total": []}
    walls = []
    for _ in range(args.rounds):
        for question in questions:
            started = time.perf_counter()
            answer = app.ask(question)
            walls.append((time.perf_counter() - started) * 1000)
            for key in parts:
                parts[key].append(answer.timings_ms[key])
    manifest = app.reader().manifest
    print(f"{args.index_dir}: {manifest.counts['articles']} articles, {manifest.counts['chunks']} chunks,"
          f" vectors {manifest.vector_store}")
    print(f"{len(walls)} questions, extractive answers, after warm-up")
    for key, values in parts.items():
        print(f"  {key:<9} p50 {statistics.median(values):6.1f} ms   p95 {percentile(values, 0.95):6.1f} ms")
    print(f"  ask() wall p50 {statistics.median(walls):6.1f} ms   p95 {percentile(walls, 0.95):6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
