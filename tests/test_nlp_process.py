"""spaCy served by a forked process for a cold `rag ask`: the same analyses and spans, and no orphan process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import seed_line

# Runs in a new process: the test process has threads and spaCy already, where the server is (rightly) refused.
COMPARE = """
import json, sys
from dataclasses import asdict
from rag.answer import nlp_process
from rag.ingest import nlp
from rag.answer.question import analyse
server = nlp_process.start()
question = "Who was killed at Camp Taji?"
lines = [(12, sys.argv[1])]
remote_q, remote_spans = analyse(question), list(nlp.Annotator().annotate(lines))
served_here = "spacy" in sys.modules
nlp.serve_from(None)
local_q, local_spans = analyse(question), list(nlp.Annotator().annotate(lines))
def plain(q):
    return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(q).items()}
print(json.dumps({"server": server is not None, "spacy_in_asker": served_here,
                  "same_question": plain(remote_q) == plain(local_q), "same_spans": remote_spans == local_spans,
                  "spans": len(local_spans[0]), "role": remote_q.role}))
"""


def test_the_served_analysis_and_spans_are_the_ones_parsed_here():
    result = subprocess.run([sys.executable, "-c", COMPARE, seed_line(12)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["server"] and not found["spacy_in_asker"]  # the asking process never loaded spaCy
    assert found["same_question"] and found["same_spans"] and found["spans"] > 3
    assert found["role"] == "subj"


FALLBACK = """
import os, signal, sys
from rag.answer import nlp_process
from rag.ingest import nlp
from rag.answer.question import analyse
server = nlp_process.start()
print(server.pid, flush=True)
if sys.argv[1] == "server-killed":
    os.kill(server.pid, signal.SIGKILL)
    print(analyse("Which city hosted the games?").answer_class, flush=True)  # parsed here instead
else:
    analyse("Who won?")
    os.kill(os.getpid(), signal.SIGKILL)  # the asking process dies without a word
"""


@pytest.mark.slow  # a kill test
def test_a_killed_server_is_replaced_by_parsing_here():
    result = subprocess.run([sys.executable, "-c", FALLBACK, "server-killed"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "PLACE"


@pytest.mark.slow  # a kill test
def test_the_server_ends_when_the_asking_process_is_killed():
    result = subprocess.run([sys.executable, "-c", FALLBACK, "asker-killed"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == -9
    pid = int(result.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if _zombie(pid):
            return
        time.sleep(0.1)
    raise AssertionError(f"the spaCy server {pid} outlived the process that asked")


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


# A warm Citeline in a new process: the question is parsed by the second process while this one retrieves.
WARM = """
import json, os, sys
from rag.api import Citeline
from rag.ingest import nlp
from rag.settings import Settings
app = Citeline(Settings.from_env(index_dir=sys.argv[1]))
app.warm_up()
answers = [app.ask(q) for q in ("Who was killed at Camp Taji?", "How many rockets hit Camp Taji?")]
print(json.dumps({"served": nlp.server() is not None, "spacy_in_asker": "spacy" in sys.modules,
                  "answers": [[a.answer, a.short_answer, a.confidence, [(c.source, c.line_start) for c in a.citations]]
                              for a in answers]}))
"""


def test_a_warm_citeline_parses_questions_in_a_second_process_unless_told_not_to(seed_index_dir):
    """With the reader's parse process (the default), a warm Citeline never loads spaCy itself, and answers
    exactly as a process that parses its own questions does (CITELINE_READER_PARSE_PROCESS=0): the same answers,
    short answers, confidences and cited lines (Camp Taji: line 12 of the seed article)."""
    found = {}
    for parse_process in ("1", "0"):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "CITELINE_READER_PARSE_PROCESS": parse_process}
        result = subprocess.run([sys.executable, "-c", WARM, str(seed_index_dir)], capture_output=True, text=True,
                                timeout=180, env=env)
        assert result.returncode == 0, result.stderr
        found[parse_process] = json.loads(result.stdout)
    assert found["1"]["served"] and not found["1"]["spacy_in_asker"]
    assert not found["0"]["served"] and found["0"]["spacy_in_asker"]
    assert found["1"]["answers"] == found["0"]["answers"]
    killed, rockets = found["1"]["answers"]
    assert killed[3][0][0].endswith("000_9e313fdb7c8eba7c.txt") and killed[3][0][1] == 12
    assert "18 rockets" in seed_line(rockets[3][0][1])
