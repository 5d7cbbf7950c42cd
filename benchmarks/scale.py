"""Citeline against the LangChain tutorial in one run: time to a searchable index, peak memory, cold ask.

    python benchmarks/scale.py                       # rtqa2022/mini, both systems, 5 cold asks each
    python benchmarks/scale.py --skip-langchain      # Citeline only

Each build and each question runs in a new process; wall time and peak RSS come from os.wait4. Citeline's
index is built with its defaults (`rag index CORPUS --profile`), and the per-stage profile is printed too.
Needs the `bench` extra for the anchor (pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"
QUESTION = "Who was killed at Camp Taji?"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, the child's own peak RSS in MiB (from wait4) and its stdout."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    stdout, stderr = child.stdout, child.stderr
    assert stdout is not None and stderr is not None
    reader = threading.Thread(target=lambda: err_chunks.append(stderr.read()))
    reader.start()
    out_chunks.append(stdout.read())
    reader.join()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    out, err = "".join(out_chunks), "".join(err_chunks)
    if child.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=BENCH / "rtqa2022" / "mini" / "corpus.jsonl.gz")
    parser.add_argument("--work", type=Path, default=Path("/tmp/citeline-scale"), help="emptied first")
    parser.add_argument("--runs", type=int, default=5, help="cold asks per system")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--skip-langchain", action="store_true")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CITELINE_MODEL_CACHE": str(args.work / "models")}
    py = sys.executable
    tutorial = str(ROOT / "benchmarks" / "langchain_tutorial.py")
    citeline_index, langchain_index = args.work / "citeline", args.work / "langchain"
    rows = []

    wall, peak, out = timed([py, "-m", "rag", "index", str(args.corpus), "--index-dir", str(citeline_index),
                             "-q", "--profile"], env)
    print(out.strip())
    counts = json.loads((citeline_index / "manifest.json").read_text())["counts"]
    rows.append(("Citeline (defaults)", wall, peak, counts["chunks"], counts["articles"]))
    if not args.skip_langchain:
        wall, peak, out = timed([py, tutorial, "build", str(args.corpus), str(langchain_index)], env)
        built = json.loads(out.strip().splitlines()[-1])
        rows.append(("LangChain tutorial", wall, peak, built["chunks"], built["articles"]))

    print(f"\nindexing {args.corpus} (each build a new process; the model export is part of Citeline's first build)")
    print("| system | articles | chunks | wall s | chunks/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, wall, peak, chunks, articles in rows:
        print(f"| {name} | {articles} | {chunks} | {wall:.1f} | {chunks / wall:.1f} | {peak:.0f} |")
    if len(rows) == 2:
        print(f"Citeline / LangChain wall time: {rows[0][1] / rows[1][1]:.2f}")

    asks = [("rag ask", [py, "-m", "rag", "ask", args.question, "--index-dir", str(citeline_index)])]
    if not args.skip_langchain:
        asks.append(("LangChain tutorial ask", [py, tutorial, "ask", str(langchain_index), args.question]))
    print(f"\ncold question ({args.question!r}), {args.runs} runs each, a new process every time")
    print("| command | median s | min s | max s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    medians = []
    for name, command in asks:
        walls, peaks = [], []
        for _ in range(args.runs):
            wall, peak, out = timed(command, env)
            walls.append(wall)
            peaks.append(peak)
        medians.append(statistics.median(walls))
        print(f"| {name} | {medians[-1]:.2f} | {min(walls):.2f} | {max(walls):.2f} | {max(peaks):.0f} |")
        print(f"  last answer: {out.strip().splitlines()[0][:150] if out.strip() else ''}")
    if len(medians) == 2:
        print(f"rag ask / LangChain ask: {medians[0] / medians[1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
