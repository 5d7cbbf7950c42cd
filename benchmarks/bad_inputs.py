"""Hostile and careless input, on every surface: the `rag` command, the Python API and the chat's HTTP API.

    python benchmarks/bad_inputs.py            # every case; exits 1 when any case fails
    python benchmarks/bad_inputs.py --only ui  # one surface (cli, api or ui); -k WORD runs the cases named so

Each case runs against real components (a real index built from seeds/ and a few articles, `rag` in a new
process, a real `rag serve` driven by gradio_client) under a time limit, and is judged on four things:

- traceback: a traceback (or an "internal error") shown to the user: on the CLI's stderr, as a non-Citeline
  exception from the API, in the server's log; or an error without a message;
- lost: articles indexed before the case and missing after it (or files of a damaged index changed by it);
- hung: the case did not finish within its time limit (it is killed);
- memory: the peak resident memory of the process that handled the input (the CLI process, or the chat
  server during the upload, its peak reset first through /proc/PID/clear_refs), which must stay under 1 GiB.

A case also fails when its outcome is not the expected one (the exit status, or a message naming the problem).
The cases are in bad_input_cases.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT_MIB = 1024
QUESTION = "Who was killed at Camp Taji?"
EXTRA_ARTICLES = {
    "harwick-flood.txt": "River Ash floods Harwick\n\nThe River Ash rose three metres in Harwick on Saturday,"
                         " flooding 312 homes near the old bridge.\n",
    "council-vote.md": "# Council approves budget\n\nThe Harwick council approved a 4% rise in the budget on"
                       " Tuesday, after a debate of six hours.\n",
    "storm.txt": "Storm Ellen closes the port\n\nStorm Ellen closed the port of Harwick for two days, and 40"
                 " ferries were cancelled, the harbour master said.\n",
}


@dataclass
class Result:
    surface: str
    name: str
    ok: bool = True
    traceback: bool = False
    lost: int = 0
    hung: bool = False
    seconds: float = 0.0
    peak_mib: float = 0.0
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.ok and not self.traceback and not self.lost and not self.hung and self.peak_mib < MEMORY_LIMIT_MIB


@dataclass
class Run:
    """A finished `rag` process."""

    code: int
    out: str
    err: str
    seconds: float
    peak_mib: float
    hung: bool = False

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Workspace:
    """A folder of articles and a pristine index built from them, copied for each case that may damage it."""

    root: Path
    env: dict[str, str]
    articles: Path = field(init=False)
    pristine: Path = field(init=False)
    live: Path = field(init=False)
    counter: int = 0

    def __post_init__(self) -> None:
        self.articles = self.root / "articles"
        self.pristine = self.root / "pristine"
        self.live = self.root / "live"

    def path(self, name: str) -> Path:
        """A fresh folder for one case's files."""
        self.counter += 1
        folder = self.root / "cases" / f"{self.counter:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        return folder / name

    def copy_index(self) -> Path:
        target = self.path("index")
        shutil.copytree(self.pristine, target)
        for path in [target, *target.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        return target

    def rag(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None, user: str = "",
            cwd: Path | None = None, prefix: tuple[str, ...] = ()) -> Run:
        """`rag ARGS` in a new process, as a user runs it (as `nobody` when user is given)."""
        command = [*prefix, sys.executable, "-m", "rag", *args]
        env = {**self.env, **(env or {})}
        if user:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *command]
            home = self.root / "home-nobody"  # a home of one's own, as another user has
            home.mkdir(exist_ok=True)
            os.chown(home, 65534, 65534)
            env["HOME"] = str(home)
        return run_process(command, env, timeout, cwd or self.root)


def run_process(command: list[str], env: dict[str, str], timeout: float, cwd: Path) -> Run:
    """Run to the end or to the time limit (then kill its process group); its own peak memory from wait4."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                               start_new_session=True)
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}
    readers = [threading.Thread(target=lambda s=stream, k=key: chunks[k].append(s.read()), daemon=True)
               for key, stream in (("out", process.stdout), ("err", process.stderr))]
    for reader in readers:
        reader.start()
    hung = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > timeout:
            hung = True
            os.killpg(process.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.02)
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(10)
    out, err = (b"".join(chunks[k]).decode("utf-8", "replace") for k in ("out", "err"))
    return Run(process.returncode, out, err, time.monotonic() - started, usage.ru_maxrss / 1024, hung)


def indexed_ids(index_dir: Path) -> set[str]:
    """Article ids of the generation the manifest names, read straight from its SQLite file (no Citeline code,
    so that a case which damaged Citeline's reading cannot hide a loss)."""
    try:
        manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
        found: set[str] = set()
        for segment in manifest["segments"]:
            chunks = index_dir / f"chunks-{segment['id']:06d}.sqlite"
            with sqlite3.connect(f"file:{chunks}?mode=ro", uri=True) as db:
                found |= {row[0] for row in db.execute("SELECT id FROM articles")} - set(segment["deleted"])
        return found
    except (OSError, KeyError, ValueError, TypeError, RecursionError, sqlite3.Error):
        return set()


def snapshot(index_dir: Path) -> dict[str, bytes]:
    """Every file of an index folder but its lock and model cache, with its bytes."""
    return {str(p.relative_to(index_dir)): p.read_bytes() for p in sorted(index_dir.rglob("*"))
            if p.is_file() and p.name != ".lock" and "models" not in p.parts}


def tracebacky(text: str) -> bool:
    return "Traceback (most recent call last)" in text or "internal error" in text


class TimedOut(Exception):
    pass


def with_time_limit(seconds: float, call: Callable[[], object]) -> object:
    """Run `call` in this thread, interrupted by SIGALRM after `seconds` (blocking system calls included)."""

    def alarm(signum, frame):
        raise TimedOut

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- the chat server ---------------------------------------------------------------------------------------------
class Server:
    """`rag serve` in its own process, its log in a file, its memory read from /proc."""

    def __init__(self, ws: Workspace, index_dir: Path):
        self.index_dir = index_dir
        self.log_path = ws.root / "serve.log"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(self.log_path, "wb")  # noqa: SIM115 (open for the server's whole life)
        # The llm answer mode names a model that is not there (with or without the llm extra installed).
        env = {**ws.env, "CITELINE_LLM_MODEL": str(ws.root / "no-such-model.gguf")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--index-dir", str(index_dir), "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ws.root, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}/"
        self._wait_until_up()
        from gradio_client import Client

        self.client = Client(self.url, verbose=False)

    def _wait_until_up(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rag serve exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError("rag serve did not start")

    def log_size(self) -> int:
        self.log.flush()
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def peak_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(20)
        self.log.close()


# -- the workspace -------------------------------------------------------------------------------------------------
def make_workspace() -> Workspace:
    root = Path(tempfile.mkdtemp(prefix="citeline-bad-inputs-"))
    root.chmod(0o755)  # cases run as `nobody` read from it
    cache = Path(os.environ.get("CITELINE_MODEL_CACHE", ROOT / ".cache" / "models")).resolve()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CITELINE_MODEL_CACHE": str(cache), "HOME": str(root),
           "PYTHONPATH": str(ROOT)}
    env.pop("CITELINE_INDEX_DIR", None)
    ws = Workspace(root, env)
    ws.articles.mkdir()
    shutil.copy(next((ROOT / "seeds").glob("*.txt")), ws.articles)
    for name, text in EXTRA_ARTICLES.items():
        (ws.articles / name).write_text(text, encoding="utf-8")
    built = ws.rag("index", str(ws.articles), "--index-dir", str(ws.pristine), "-q", timeout=900)
    if built.code != 0:
        raise SystemExit(f"could not build the index for the cases: {built.err}")
    for path in cache.glob("*.onnx"):  # readable by `nobody`, as exports are now (older ones were 0600)
        path.chmod(0o644)
    shutil.copytree(ws.pristine, ws.live)
    return ws


def print_table(results: list[Result]) -> None:
    print(f"\n{'surface':<8} {'case':<58} {'result':<6} {'tb':>2} {'lost':>4} {'hung':>4} {'secs':>6} {'MiB':>6}"
          "  detail")
    for r in results:
        print(f"{r.surface:<8} {r.name[:58]:<58} {'ok' if r.passed else 'FAIL':<6} {int(r.traceback):>2}"
              f" {r.lost:>4} {int(r.hung):>4} {r.seconds:6.1f} {r.peak_mib:6.0f}  {r.detail[:150]}")
    print(f"\n{'surface':<8} {'cases':>5} {'passed':>6} {'failed':>6} {'tracebacks':>10} {'lost':>5} {'hangs':>5}"
          f" {'max MiB':>8}")
    for surface in [*dict.fromkeys(r.surface for r in results), "all"]:
        rows = [r for r in results if surface in ("all", r.surface)]
        print(f"{surface:<8} {len(rows):>5} {sum(r.passed for r in rows):>6} {sum(not r.passed for r in rows):>6}"
              f" {sum(r.traceback for r in rows):>10} {sum(r.lost for r in rows):>5} {sum(r.hung for r in rows):>5}"
              f" {max((r.peak_mib for r in rows), default=0):8.0f}")
    uploads = [r for r in results if r.surface == "ui" and "upload" in r.name]
    if uploads:
        print(f"peak memory of the chat server during any one bad upload: {max(r.peak_mib for r in uploads):.0f} MiB"
              f" (limit {MEMORY_LIMIT_MIB} MiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("cli", "api", "ui"), action="append", help="run only this surface")
    parser.add_argument("-k", dest="keyword", default="", help="run only the cases whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the workspace folder afterwards")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bad_input_cases as cases

    started = time.monotonic()
    ws = make_workspace()
    print(f"workspace {ws.root}; index of {len(indexed_ids(ws.pristine))} articles", flush=True)
    results: list[Result] = []
    try:
        for surface in args.only or ["cli", "api", "ui"]:
            results += cases.SURFACES[surface](ws, args.keyword)
    finally:
        if not args.keep:
            shutil.rmtree(ws.root, ignore_errors=True)
    print_table(results)
    names = [(r.surface, r.name) for r in results]
    print(f"{len(results)} cases ({len(set(names))} distinct), {sum(not r.passed for r in results)} failed,"
          f" in {time.monotonic() - started:.0f} s")
    return 0 if results and all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
