"""Seconds from `python app.py` to a page that answers the Camp Taji question (through gradio_client).

    python benchmarks/app_startup.py                 # on the existing index/ (built first if missing)
    python benchmarks/app_startup.py --fresh         # on a fresh checkout: no index yet, seeds/ indexed first
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(workdir: Path) -> tuple[float, float, dict]:
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=workdir, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"app.py exited: {server.stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        listening = time.perf_counter() - started
        answer = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            "Who was killed at Camp Taji?", 5, "", "", "", api_name="/ask")
        answered = time.perf_counter() - started
        return listening, answered, answer
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help="a copy of the checkout without an index")
    args = parser.parse_args()
    if args.fresh:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp) / "checkout"
            shutil.copytree(ROOT, workdir, ignore=shutil.ignore_patterns(".venv", ".git", "index", "__pycache__"))
            (workdir / "index").mkdir()
            listening, answered, answer = measure(workdir)
    else:
        listening, answered, answer = measure(ROOT)
    lines = [c["line_start"] for c in answer["citations"]]
    print(f"{'fresh checkout' if args.fresh else 'existing index'}: listening after {listening:.1f} s,"
          f" first answer after {answered:.1f} s (cited lines {lines})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
