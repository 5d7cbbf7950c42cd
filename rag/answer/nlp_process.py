"""spaCy in a second process, for a one-shot `rag ask`.

spaCy's import and the English pipeline's load take about 1.9 s of interpreter time, the longest part of a cold
question. In a thread they share one interpreter lock with everything else the process starts; in a process forked
at the very start they run beside it, on another core, while this one imports the rest, opens the index and
retrieves. Only plain records cross: the question's analysis (rag/answer/question.py) and the spans of the lines read.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from typing import Any

from rag.errors import CitelineError
from rag.ingest import nlp


class NlpProcess:
    """Question analyses and line annotations, served by a forked process that loads spaCy once."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._conn), name="citeline-spacy",
                                        daemon=True)
        self._process.start()
        child.close()
        self._lock = threading.Lock()

    def call(self, kind: str, payload: Any) -> Any:
        with self._lock:
            try:
                self._conn.send((kind, payload))
                ok, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise nlp.ServerGone(str(exc)) from None
        if ok:
            return value
        if value[0] == "error":  # what this process would have said itself (spaCy or its pipeline missing)
            raise CitelineError(value[1])
        raise nlp.ServerGone(value[1])  # a failure there: this process parses for itself

    @property
    def pid(self) -> int | None:
        return self._process.pid


def start() -> NlpProcess | None:
    """Serve spaCy from a forked process from now on, where forking is safe: on Linux, before this process has
    started a thread or loaded spaCy. Returns the process (the one already serving, if any), or None when questions
    are parsed here as before."""
    serving = nlp.server()
    if isinstance(serving, NlpProcess):
        return serving
    if not sys.platform.startswith("linux") or threading.active_count() > 1 or "spacy" in sys.modules:
        return None
    try:
        server = NlpProcess()
    except OSError:  # no process to spare: parse here
        return None
    nlp.serve_from(server)
    return server


def _serve(conn, asking_end) -> None:
    """The forked process: load the pipeline, then answer requests until the asking process goes."""
    asking_end.close()  # else the pipe would outlive the asking process, and this one wait on it for ever
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the asking process, which ends this one
    nlp.serve_from(None)
    try:
        nlp.pipeline()  # first: the question's analysis waits for it
        failure = None
    except CitelineError as exc:
        failure = ("error", str(exc))
    from rag.answer.question import analyse

    annotator = nlp.Annotator(processes=1)
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if failure is not None:
            conn.send((False, failure))
            continue
        try:
            result = analyse(payload) if kind == "analyse" else list(annotator.annotate(payload))
        except Exception as exc:  # the asking process parses for itself instead
            conn.send((False, ("gone", f"{type(exc).__name__}: {exc}")))
            continue
        conn.send((True, result))
