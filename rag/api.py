"""The Python API that the CLI, the UI and evaluation share: `Citeline(settings).index(paths)` and `.ask(q)`."""

from __future__ import annotations

import contextlib
import gc
import numbers
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from rag.answer.answering import ExtractiveAnswerer, ReadingComposer
from rag.answer.grounding import SupportChecker
from rag.answer.llm import GenerativeAnswerer, Hint, make_chat_model
from rag.answer.question import Question, analyse
from rag.answer.reader import Reader
from rag.embed.embedding import Embedder, make_embedder
from rag.errors import ArticleNotFoundError, BadQuestionError, CitelineError, IndexMissingError, SettingsError
from rag.index.indexing import Indexer, IndexOptions, IndexReport
from rag.index.store import (
    MANIFEST,
    ArticleLayout,
    IndexReader,
    check_compatible,
    check_index_dir,
    check_no_stray_index,
    open_index,
    read_manifest,
)
from rag.ingest.loading import load_file
from rag.retrieve.followup import rewrite
from rag.retrieve.retrieval import Filters, Retriever
from rag.schema import Answer, Article, ArticleSummary, Hit, IndexStats
from rag.settings import Settings
from rag.text.dates import to_date
from rag.text.terms import STOPWORDS
from rag.text.textsafe import has_surrogates, printable

if TYPE_CHECKING:
    from typing_extensions import Unpack

EXAMPLE = 'e.g. "Who was killed at Camp Taji?"'
ANSWER_MODES = ("extractive", "llm")
_WORDS = re.compile(r"[^\W_]+")
NO_MODEL_NOTE = ("answered without a chat model: {reason}. The llm answer mode needs the llm extra"
                 " (pip install 'citeline[llm]') and a model (CITELINE_LLM_MODEL, or Settings in the chat)")


def _shown(value: Any) -> str:
    """A value as a message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_day(value: Any, name: str) -> date | None:
    """A date option given as a date, a datetime or YYYY-MM-DD text (None or "" for none)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    day = to_date(value.strip()) if isinstance(value, str) else None
    if day is None:
        raise BadQuestionError(f"{name} must be a date like 2020-03-13 (YYYY-MM-DD), not {_shown(value)}")
    return day


def as_sources(sources: Any) -> tuple[str, ...]:
    """Source filters: one path, or a list of them."""
    if sources is None:
        return ()
    items = (sources,) if isinstance(sources, str | Path) else sources
    try:
        items = tuple(items)
    except TypeError:
        raise BadQuestionError(f"sources must be a path or a list of paths, not {_shown(sources)}") from None
    if not all(isinstance(item, str | Path) and str(item).strip() for item in items):
        raise BadQuestionError(f"sources must be a path or a list of paths, not {_shown(sources)}")
    return tuple(str(item) for item in items)


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


@dataclass
class Retrieved:
    """A question's passages, as the answer stage takes them, with the clock readings that time the stages."""

    question: str  # as checked: one line, no control characters
    query_vector: np.ndarray
    hits: list[Hit]
    started: float  # perf_counter() when the question's embedding began
    retrieved: float  # ... and when its passages were ranked


MAX_CHOICES = 10
MAX_CHOICE_CHARS = 200


def check_choices(choices: Sequence[str] | None) -> list[str]:
    """The options of a multiple-choice question: 2 to MAX_CHOICES short texts, each given once."""
    if not choices:
        return []
    if isinstance(choices, str):
        raise BadQuestionError("choices must be a list of options, not one string")
    cleaned = [" ".join(str(c).split()) for c in choices]
    if any(not c for c in cleaned):
        raise BadQuestionError("a choice is empty")
    if len(cleaned) < 2 or len(cleaned) > MAX_CHOICES:
        raise BadQuestionError(f"give between 2 and {MAX_CHOICES} choices, not {len(cleaned)}")
    if any(len(c) > MAX_CHOICE_CHARS for c in cleaned):
        raise BadQuestionError(f"a choice is longer than {MAX_CHOICE_CHARS} characters")
    if len({c.lower() for c in cleaned}) < len(cleaned):
        raise BadQuestionError("the same choice is given twice")
    return cleaned


class AskOptions(TypedDict, total=False):
    """What `Citeline.ask` and `ask_stream` take besides the question and k."""

    since: date | str | None
    until: date | str | None
    sources: Sequence[str]
    as_of: date | str | None
    mode: str | None
    choices: Sequence[str] | None
    history: Sequence[str]


def _find_article(layout: ArticleLayout, wanted: str) -> str:
    """The id of the one live article that `wanted` names (see Citeline.article)."""
    from rag.index.indexing import display_path

    try:
        typed = display_path(Path(wanted))
    except (OSError, ValueError):
        typed = wanted
    live = [(article_id, source, keys) for article_id, source, keys, ok
            in zip(layout.ids, layout.sources, layout.keys, layout.live, strict=True) if ok]

    def file_of(source: str) -> str:
        return source.split("#")[0]

    for test in (lambda i, s, k: wanted == i or wanted in k,
                 lambda i, s, k: typed in (s, file_of(s)),
                 lambda i, s, k: Path(file_of(s)).name == wanted,
                 lambda i, s, k: len(wanted) >= 6 and i.startswith(wanted)):
        found = [(i, s) for i, s, k in live if test(i, s, k)]
        if len(found) == 1:
            return found[0][0]
        if found:
            ids = ", ".join(f"{i} ({s})" for i, s in found[:5])
            raise ArticleNotFoundError(f"{wanted!r} names {len(found)} articles; give one of their ids: {ids}"
                                       + (", ..." if len(found) > 5 else ""))
    raise ArticleNotFoundError(f"no indexed article is {wanted!r}; `rag list` shows what is indexed (id, source)")


_frozen = threading.Event()


def _freeze_loaded() -> None:
    """The models and the index live as long as the process, and every full collection of the garbage collector
    walked them (spaCy's pipeline alone is some 65,000 objects): on the 11,188-article archive a pause of 150 to
    300 ms every fifty questions or so. Frozen once a process (gc.freeze), they are left out of it; what is dropped
    later is still freed by reference counting (an index reader replaced by a newer generation holds no cycles)."""
    if not _frozen.is_set():
        _frozen.set()
        gc.collect()
        gc.freeze()


class Citeline:
    """Index articles and answer questions with cited lines. Heavy parts load once, on first need."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None):
        self.settings = settings or Settings.from_env()
        check_index_dir(self.settings.index_dir)
        self.embedder = embedder or make_embedder(self.settings)
        self._reader: IndexReader | None = None
        self._generation: int | None = None
        self._manifest_signature: tuple[int, int, int] | None = None
        self._retriever: Retriever | None = None
        self._answer_reader: Reader | None = None
        self._chat_model = None

    @property
    def index_dir(self) -> Path:
        return Path(self.settings.index_dir)

    def has_index(self) -> bool:
        return read_manifest(self.index_dir) is not None

    def warm_up(self) -> None:
        """Load the embedder, the index and the reader now rather than at the first question; then leave what they
        loaded out of the garbage collector's full collections (`_freeze_loaded`). With the reader's parse process
        (the default; Linux, two cores or more, and before this process has started a thread or loaded spaCy),
        questions are parsed in a second process from now on, while this one retrieves their passages."""
        if self.settings.reader.parse_process and (os.cpu_count() or 1) > 1:
            from rag.answer import nlp_process

            nlp_process.start()
        self.embedder.warm_up()
        self.reader().warm_up()
        self.answer_reader().warm_up(place_lists=True)
        _freeze_loaded()

    def _warm_reader(self, question: str = "", analysed: list | None = None) -> None:
        """Warm-up in a background thread, then the question's analysis: an error (a damaged reader model) is
        raised again, as a message, when the question is answered in the caller's thread."""
        with contextlib.suppress(CitelineError):
            self.answer_reader().warm_up()
            if question and analysed is not None:
                analysed.append(analyse(question))

    def answer_reader(self) -> Reader:
        """The reader that finds short answers in the passages (rag/answer/reader.py); spaCy and its model load once."""
        if self._answer_reader is None:
            s = self.settings.reader
            self._answer_reader = Reader(s.model, s.min_confidence, s.lead_chars)
        return self._answer_reader

    def index(self, paths: Iterable[str | Path], **options: Unpack[IndexOptions]) -> IndexReport:
        """Add (or update) the articles of `paths`; see `Indexer.index` for the options. The reader in use stays
        open for questions already under way; the next question opens the new index."""
        return Indexer(self.settings, self.embedder).index(paths, **options)

    def read_file(self, path: str | Path, source: str | None = None, upload: bool = False) -> list[Article]:
        """The articles of one file as `index` would read them, within the settings' limits (a file uploaded in
        the chat: within the upload limits); LoadError says why it cannot be indexed."""
        return load_file(Path(path), source, None, self.settings.limits.load_limits(upload=upload))

    def remove(self, article_ids: Iterable[str]) -> IndexReport:
        """Take articles out of the index; their files are left alone."""
        return Indexer(self.settings, self.embedder).remove(article_ids)

    def compact(self) -> IndexReport:
        """Merge the index's segments into one, dropping removed articles for good (updates merge small segments
        on their own); questions are answered from the previous segments meanwhile."""
        return Indexer(self.settings, self.embedder).compact()

    def reader(self) -> IndexReader:
        """The index generation in force; reopened when a build has committed a newer one."""
        signature = _file_signature(self.index_dir / MANIFEST)
        if self._reader is not None and signature is not None and signature == self._manifest_signature:
            # A commit replaces the manifest by a rename: the same inode, time and size mean the same generation.
            # Parsing it for each question cost 1 ms a time on rtqa2025, three times a question, more on big indexes.
            return self._reader
        manifest = read_manifest(self.index_dir)
        if manifest is None:
            check_no_stray_index(self.index_dir)
            raise IndexMissingError(f"there is no index in {self.index_dir}; build one with `rag index PATH...`")
        if self._reader is None or self._generation != manifest.generation:
            # The old reader is not closed here: a question under way in another thread may still hold it.
            self._retriever = None
            self._reader = open_index(self.index_dir, self.embedder.name, milvus_token=self.settings.store.milvus_token)
            self._generation = self._reader.manifest.generation
        self._manifest_signature = signature
        return self._reader

    # -- what the index holds -----------------------------------------------------------------------------------
    def stats(self) -> IndexStats:
        manifest = self.reader().manifest
        return IndexStats(str(self.index_dir.resolve()), int(manifest.counts.get("articles", 0)),
                          int(manifest.counts.get("chunks", 0)), len(manifest.segments), sorted(manifest.sources),
                          manifest.generation)

    def articles(self) -> list[ArticleSummary]:
        """Every indexed article, by source, without its text."""
        reader = self.reader()
        layout = reader.layout()
        counts = np.bincount(layout.row_article[layout.live_rows], minlength=len(layout.ids))
        chunks = {article_id: int(n) for article_id, n in zip(layout.ids, counts, strict=True)}
        keys = {article_id: sorted(k) for article_id, k in zip(layout.ids, layout.keys, strict=True)}
        return [ArticleSummary(i, source, title, published, chunks.get(i, 0), doc_id, keys.get(i, []))
                for i, source, title, published, doc_id in reader.headers()]

    def article_ids(self) -> set[str]:
        """Ids of the indexed articles, without reading any article."""
        layout = self.reader().layout()
        return {article_id for article_id, live in zip(layout.ids, layout.live, strict=True) if live}

    def article(self, wanted: str) -> Article:
        """An indexed article with its text, named by its id (or its first 6+ characters), its source, its file's
        name or the id its corpus gave it. ArticleNotFoundError when none is, or when the name fits several."""
        reader = self.reader()
        with contextlib.suppress(KeyError):
            return reader.article(wanted)
        return reader.article(_find_article(reader.layout(), wanted))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = None
        self._generation = None
        self._manifest_signature = None
        self._retriever = None

    def clean_question(self, question: Any) -> str:
        """The question on one line, without control characters; refused when empty, too long or not text."""
        if not isinstance(question, str):
            raise BadQuestionError(f"the question must be text, not {type(question).__name__}")
        if has_surrogates(question):
            raise BadQuestionError("the question is not valid text: it holds bytes that are not UTF-8 (or a lone"
                                   " surrogate); type it again, in a terminal that uses UTF-8")
        limit = self.settings.limits.max_question_chars
        if len(question) > limit:
            raise BadQuestionError(
                f"the question is {len(question):,} characters long; the limit is {limit:,}"
                " (CITELINE_MAX_QUESTION_CHARS)"
            )
        text = " ".join(printable(question).split())
        if not text:
            raise BadQuestionError(f"the question is empty; ask something, {EXAMPLE}")
        return text

    def check_question(self, question: Any) -> str:
        """A question with something to search for: only punctuation, or only words such as "what is the",
        would be answered with whatever ranks first, confidently and wrongly."""
        text = self.clean_question(question)
        if not any(word.lower() not in STOPWORDS for word in _WORDS.findall(text)):
            raise BadQuestionError(f"the question has nothing to search for (only punctuation, or only words like"
                                   f" “what” and “the”); ask about someone, something or somewhere, {EXAMPLE}")
        return text

    def top_k(self, k: Any) -> int:
        """Passages to read: a whole number from 1 to max_top_k; None for the setting. One rule for CLI, API, UI."""
        if k is None:
            return self.settings.retrieval.top_k
        from_form = isinstance(k, str) and k.strip().isdecimal() and len(k.strip()) < 10  # "5"
        from_slider = isinstance(k, float) and k.is_integer()  # 5.0
        if from_form or from_slider:
            k = int(k)
        limit = self.settings.limits.max_top_k
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= limit:
            raise BadQuestionError(f"k (passages to read) must be a whole number from 1 to {limit}, not {_shown(k)}")
        return int(k)

    def answer_mode(self, mode: Any) -> str:
        if mode is None or mode == "":
            return self.settings.answer.mode
        if mode not in ANSWER_MODES:
            raise BadQuestionError(f"the answer mode must be {' or '.join(ANSWER_MODES)}, not {_shown(mode)}")
        return mode

    def retriever(self) -> Retriever:
        reader = self.reader()
        if self._retriever is None or self._retriever.reader is not reader:
            self._retriever = Retriever(reader, self.embedder, self.settings.retrieval)
        return self._retriever

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        *,
        filters: Filters | None = None,
        as_of: date | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The top k passages for a question, best first."""
        return self.retriever().retrieve(question, self.top_k(k), query_vector, filters=filters, as_of=as_of)

    def extractive(self) -> ExtractiveAnswerer:
        return ExtractiveAnswerer(self.embedder, self.settings.answer.min_support, self.settings.answer.max_sentences,
                                  self.settings.answer.embed_sentences)

    def generative(self) -> GenerativeAnswerer:
        """The answer mode "llm": the chat model loads once, on first use."""
        llm = self.settings.llm
        if self._chat_model is None:
            self._chat_model = make_chat_model(llm.backend, llm.model, llm.url, llm.api_key, llm.max_tokens,
                                               llm.timeout)
        return GenerativeAnswerer(self._chat_model, self.extractive(),
                                  SupportChecker(self.embedder, self.settings.answer.support_threshold), llm.timeout)

    def answer(self, question: str, hits: list[Hit], query_vector: np.ndarray, mode: str | None = None,
               choices: Sequence[str] = (), k: int | None = None) -> Answer:
        """The answer from retrieved passages: the reader reads all of `hits`; the first `k` are the closest
        passages shown when it abstains."""
        *_, answer = self._answer_items(question, hits, query_vector, self.answer_mode(mode), choices, k)
        return answer

    def _answer_items(self, question: str, hits: list[Hit], query_vector: np.ndarray, mode: str,
                      choices: Sequence[str], k: int | None, parsed: Question | None = None
                      ) -> Iterator[str | Answer]:
        """The answer (after a model's drafts in "llm" mode). The reader reads all of `hits`; the first `k` are
        the passages an abstention shows. Without a usable chat model, the extractive answer, with a note that
        says why and how to set one up, rather than an error in place of an answer."""
        shown = hits[: self.top_k(k)]
        reading = self.answer_reader().read(parsed if parsed and parsed.text == question else question, hits,
                                            self.reader().line_spans, always=bool(choices))
        composer = ReadingComposer(self.extractive())
        if choices:
            yield composer.choose(reading, self.answer_reader().choose(reading, choices), list(choices), shown,
                                  query_vector)
            return
        if reading.question.factoid:
            extractive = composer.answer(reading, shown, query_vector)
        else:
            extractive = self.extractive().answer(question, shown, query_vector)
        if mode != "llm":
            yield extractive
            return
        try:
            generative = self.generative()
        except SettingsError as exc:
            extractive.note = NO_MODEL_NOTE.format(reason=str(exc).rstrip("."))
            yield extractive
            return
        best = reading.best if reading.answered else None
        hint = Hint(best.text, best.best.article, best.best.line) if best is not None else None
        yield from generative.stream(question, shown, query_vector, hint, extractive)

    def ask_stream(self, question: str, k: int | None = None, **options: Unpack[AskOptions]
                   ) -> Iterator[str | Answer]:
        """Like ask(), but in "llm" mode the model's text comes first, piece by piece; the last item is the Answer."""
        unknown = set(options) - set(AskOptions.__annotations__)
        if unknown:
            raise TypeError(f"ask() got unexpected options: {', '.join(sorted(unknown))}")
        mode = self.answer_mode(options.get("mode"))
        choices = check_choices(options.get("choices"))
        k = self.top_k(k)
        asked = self.check_question(question)
        history = options.get("history") or ()
        if isinstance(history, str) or not isinstance(history, Sequence):
            raise BadQuestionError("history must be the conversation's earlier questions, a list of strings")
        history = [q for q in history if isinstance(q, str)]
        searched = self.check_question(rewrite(asked, history)) if history else asked
        analysed: list[Question] = []
        analysing = 0.0
        if self.answer_reader().warm:
            # Loaded: the question is analysed first. Beside retrieval, in a thread, the parse and the search slowed
            # each other down more than they overlapped (an 11,000-article archive, 2 cores: ask p50 +2 to 5 ms).
            begun = time.perf_counter()
            self._warm_reader(searched, analysed)
            analysing = time.perf_counter() - begun
            warming = None
        else:
            # spaCy and the reader's model load while the question is retrieved: a cold `rag ask` waits for the
            # longer of the two, not for both. The question's analysis (a spaCy parse) runs there too.
            warming = threading.Thread(target=self._warm_reader, args=(searched, analysed), name="reader-warm-up",
                                       daemon=True)
            warming.start()
        try:
            found = self._retrieve_for(searched, k, options.get("since"), options.get("until"),
                                       options.get("sources", ()), options.get("as_of"))
        finally:
            if warming is not None:
                warming.join()
        parsed = analysed[0] if analysed else None
        for item in self._answer_items(found.question, found.hits, found.query_vector, mode, choices, k, parsed):
            if isinstance(item, Answer):
                done = time.perf_counter()
                item.timings_ms = {"retrieve": round((found.retrieved - found.started) * 1000, 2),
                                   "answer": round((done - found.retrieved + analysing) * 1000, 2),  # reading
                                   "total": round((done - found.started + analysing) * 1000, 2)}
                item.question, item.searched = asked, (searched if searched != asked else "")
            yield item

    def ask(self, question: str, k: int | None = None, **options: Unpack[AskOptions]) -> Answer:
        """Answer with cited lines. `since`/`until`/`sources` filter articles; `as_of` dates the question; `mode`
        overrides the answer mode ("extractive" or "llm") for this question; `choices` makes it a multiple-choice
        question, answered with the choice the cited lines support, or none; `history` (the conversation's earlier
        questions, oldest first) makes a follow-up ("and how many were wounded?") self-contained before it is
        searched."""
        *_, answer = self.ask_stream(question, k, **options)
        return answer

    def _retrieve_for(self, question: str, k: int | None, since: date | None, until: date | None,
                      sources: tuple[str, ...], as_of: date | None) -> Retrieved:
        """`question` and `k` as ask_stream checked them; the dates and sources are checked here."""
        since, until, as_of = as_day(since, "since"), as_day(until, "until"), as_day(as_of, "as of")
        sources = as_sources(sources)
        if since and until and since > until:
            raise BadQuestionError(f"--since {since} is after --until {until}")
        reader = self.reader()
        self.embedder.warm_up()  # loading the model is start-up, not answering
        check_compatible(reader.manifest, self.index_dir, self.embedder.name, self.embedder.dimension)
        started = time.perf_counter()
        query_vector = self.embedder.embed_query(question)
        filters = Filters(since=since, until=until, sources=tuple(sources))
        depth = max(k or self.settings.retrieval.top_k, self.settings.reader.passages)
        hits = self.retrieve(question, depth, filters=filters, as_of=as_of, query_vector=query_vector)
        return Retrieved(question, query_vector, hits, started, time.perf_counter())
