"""Indexing speed of `rag index` from nothing: chunks per second and peak memory, in a fresh process.

    python benchmarks/index_speed.py ../shared/bench/rtqa2022/mini --index-dir /tmp/bench/mini-index
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--index-dir", required=True, help="emptied first")
    args = parser.parse_args()
    index_dir = Path(args.index_dir)
    shutil.rmtree(index_dir, ignore_errors=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "rag", "index", *args.paths, "--index-dir", str(index_dir), "-q"],
                            env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return 1
    manifest = json.loads((index_dir / "manifest.json").read_text())
    counts = manifest["counts"]
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(result.stdout.strip())
    print(f"{counts['articles']} articles, {counts['chunks']} chunks in {wall:.1f} s wall"
          f" = {counts['chunks'] / wall:.1f} chunks/s, {counts['articles'] / wall:.2f} articles/s;"
          f" peak RSS {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
