"""Wall time of a cold `rag ask` (a new process each time) on an existing index.

    python benchmarks/cold_ask.py --index-dir /tmp/bench/mini-index --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

DEFAULT_QUESTION = "Who was killed at Camp Taji?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", default="index")
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "rag", "ask", args.question, "--json", "--index-dir", args.index_dir]
    walls = []
    answer = {}
    for _ in range(args.runs):
        started = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - started)
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return 1
        answer = json.loads(result.stdout)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"cold `rag ask` on {args.index_dir}: median {statistics.median(walls):.2f} s,"
          f" min {min(walls):.2f} s, max {max(walls):.2f} s over {args.runs} runs; peak RSS {peak_mib:.0f} MiB")
    print(f"in-process timings of the last run (ms): {answer['timings_ms']}")
    first = answer["citations"][0] if answer["citations"] else {}
    print(f"answer: {answer['answer'][:120]}... first citation {first.get('source')}:{first.get('line_start')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
