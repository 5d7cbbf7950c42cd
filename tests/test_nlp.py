"""spaCy's English pipeline marks the phrases a reader can answer with, on real text."""

from __future__ import annotations

import sys

import pytest

from rag.ingest.nlp import Annotator, lead_lines
from rag.schema import Annotation, Article, Span
from tests.conftest import SEED, seed_line


def _spans(text: str, line: int = 1) -> dict[str, Span]:
    (found,) = Annotator(processes=1).annotate([(line, text)])
    return {text[s.start : s.end]: s for s in found}


def test_entities_numbers_and_noun_phrases_of_the_seed_line():
    spans = _spans(seed_line(12), 12)
    assert spans["around 18"].label == "CARDINAL"  # a number keeps the word that qualifies it
    assert spans["14"].label == "CARDINAL"
    # Two phrases joined by "and" are one answer too, as the subject of "were killed".
    joined = spans["Two Americans and a 26-year-old British soldier"]
    assert (joined.label, joined.role, joined.head) == ("NP", "subj", "killed")
    assert all(s.line == 12 for s in spans.values())


def test_roles_say_what_a_phrase_does_in_its_sentence():
    spans = _spans("President Emmanuel Macron appointed Gabriel Attal as prime minister. "
                   "The ship crashed into the bridge in Baltimore.")
    assert (spans["Gabriel Attal"].label, spans["Gabriel Attal"].role) == ("PERSON", "obj")
    assert (spans["Baltimore"].role, spans["Baltimore"].head) == ("in", "bridge")


def test_money_and_datelines():
    spans = _spans("The deal was worth more than $4.65 billion, the company said on Tuesday.")
    assert spans["more than $4.65 billion"].label == "MONEY"
    assert spans["Tuesday"].label == "DATE"


def test_spans_survive_their_json_form():
    spans = list(_spans(seed_line(12), 12).values())
    stored = Annotation(46, spans)
    assert Annotation.from_json(46, stored.to_json()) == stored
    assert Span.from_list([3, 0, 4, "ORG"]) == Span(3, 0, 4, "ORG")  # written before roles were recorded


def test_the_lead_is_the_first_characters_of_reporting():
    text = SEED.read_text(encoding="utf-8")
    article = Article(id="a", source="s", title="t", text=text, furniture=[1])
    lead = lead_lines(article, 1000)
    assert lead[0] == 3 and 1 not in lead  # blank and furniture lines are not read
    assert 12 in lead and 24 not in lead  # line 12 ends at character 997
    everything = [n for n, line in enumerate(text.split("\n"), 1) if line.strip() and n != 1]
    assert lead_lines(article, 0) == everything


@pytest.mark.slow  # a new Python process
def test_spacy_is_imported_without_pytorch_when_it_is_not_loaded():
    import subprocess

    code = ("import sys; from rag.ingest.nlp import parse; parse('Who won?'); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.slow  # a new Python process, which imports PyTorch
def test_another_thread_can_import_pytorch_while_spacy_is_imported():
    """A cold question loads spaCy in one thread while the embedder, on first use, may import PyTorch to export
    its model in another: PyTorch is refused to spaCy's thread only."""
    import subprocess

    code = ("import sys, threading, time; from rag.ingest.nlp import pipeline; "
            "threading.Thread(target=pipeline, daemon=True).start(); time.sleep(0.3); "
            "import torch; print(torch.tensor([1, 2]).sum().item()); pipeline(); print('spacy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "True"]
