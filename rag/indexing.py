"""Build and update the index: load → chunk → embed → write a new generation, reusing what did not change."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from rag.chunking import MAX_TITLE_TOKENS, Chunker
from rag.embedding import Embedder
from rag.errors import CitelineError, IndexMismatchError, write_failed
from rag.loading import LoadError, LoadLimits, SourceFile, discover, file_sha256, load_file, too_large
from rag.nlp import ANNOTATOR_VERSION, Annotator, lead_lines
from rag.schema import Annotation, Article, Chunk
from rag.settings import Settings
from rag.store import (
    IndexReader,
    Manifest,
    check_compatible,
    check_index_dir,
    check_no_stray_index,
    read_manifest,
    write_generation,
)
from rag.vectorstore import VectorStoreConfig, check_reachable

CHUNKER_VERSION = 1
LOCK_FILE = ".lock"
NO_VECTOR = -(2**62)  # a chunk past the article's dense_chunks: its vector stays zero, BM25 still finds it
MAX_ALIASES = 1000  # names kept for copies of one article (wire copies): enough for evaluation, bounded work


@dataclass
class IndexReport:
    """What one `index()` call did, for the CLI to print and for tests to check."""

    files_seen: int = 0
    files_unchanged: int = 0
    files_loaded: int = 0
    sources_removed: int = 0
    articles_added: int = 0
    articles_removed: int = 0
    articles_total: int = 0
    chunks_embedded: int = 0
    chunks_total: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    written: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.articles_added or self.articles_removed or self.sources_removed or self.files_loaded)


def display_path(path: Path) -> str:
    """The path as a user would type it from here: relative when below the working folder."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(absolute)


def as_path_list(paths: Iterable[str | Path] | str | Path) -> list:
    """The paths to index: one path alone is a list of one (not of its characters)."""
    if isinstance(paths, str | os.PathLike):
        return [paths]
    try:
        return list(paths)
    except TypeError:
        raise CitelineError(f"paths to index must be a path or a list of paths, not {paths!r}") from None


def merge_aliases(into: Article, copy: Article) -> None:
    """Identical articles are stored once; the copy's id (or source) is kept so evaluation can still name it.
    At most MAX_ALIASES: a file repeating one line a million times must not make this quadratic."""
    for key in (copy.doc_id or copy.source, *copy.aliases):
        if len(into.aliases) >= MAX_ALIASES:
            return
        if key and key not in (into.doc_id, into.source) and key not in into.aliases:
            into.aliases.append(key)


@contextlib.contextmanager
def writing(index_dir: Path) -> Iterator[None]:
    """The index folder's write lock, and a failed write (disk full, no permission) as a message that says so."""
    check_index_dir(index_dir)
    try:
        with index_lock(index_dir):
            yield
    except OSError as exc:
        raise write_failed(index_dir, exc) from None


@contextlib.contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """One writer per index directory; readers never wait for it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise CitelineError(
            f"another `rag index` is writing to {index_dir}; wait for it to finish"
            " (questions are still answered from the last complete index)"
        ) from None
    try:
        yield
    finally:
        lock.release()


class Indexer:
    def __init__(self, settings: Settings, embedder: Embedder):
        self.settings = settings
        self.embedder = embedder
        self._on_progress: Callable[[str, int, int], None] | None = None

    @property
    def chunking(self) -> dict[str, object]:
        return {
            "chunk_tokens": self.settings.chunk_tokens,
            "chunk_overlap_tokens": self.settings.chunk_overlap_tokens,
            "max_title_tokens": MAX_TITLE_TOKENS,
            "sentence_splitter": "sentencex",
            "chunker_version": CHUNKER_VERSION,
            "dense_chunks": self.settings.dense_chunks,
        }

    def make_chunker(self) -> Chunker:
        return Chunker(self.embedder.count_tokens, self.settings.chunk_tokens, self.settings.chunk_overlap_tokens,
                       self.embedder.max_tokens)

    def index(
        self,
        paths: Iterable[str | Path],
        *,
        prune: bool = False,
        rebuild: bool = False,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> IndexReport:
        """`progress` shows bars on a terminal; `on_progress(stage, done, total)` reports to a UI."""
        log = log or (lambda message: print(message, file=sys.stderr))
        index_dir = Path(self.settings.index_dir)
        self._on_progress = on_progress
        with writing(index_dir):
            return self._index_locked(index_dir, as_path_list(paths), prune, rebuild, progress, log)

    def _index_locked(self, index_dir: Path, paths: list[str | Path], prune: bool, rebuild: bool, progress: bool,
                      log: Callable[[str], None]) -> IndexReport:
        from tqdm import tqdm

        report = IndexReport()
        started = time.perf_counter()
        check_reachable(index_dir, self.settings.vector_store_config())
        self.embedder.warm_up()
        report.seconds["model"] = time.perf_counter() - started
        previous = None if rebuild else read_manifest(index_dir)
        if not rebuild:
            check_no_stray_index(index_dir)
        old: IndexReader | None = None
        if previous is not None:
            check_compatible(previous, index_dir, self.embedder.name, self.embedder.dimension)
            if previous.chunking != self.chunking:
                raise IndexMismatchError(
                    f"the index in {index_dir} was built with chunk settings {previous.chunking}, the settings in"
                    f" use are {self.chunking}; re-index with `rag index --rebuild PATH... --index-dir {index_dir}`"
                    " or use the same settings"
                )
            moved = self.settings.vector_store_config().mismatch(previous.vector_store, index_dir)
            if moved:
                raise IndexMismatchError(
                    f"the index in {index_dir} {moved}; re-index with `rag index --rebuild PATH... --index-dir"
                    f" {index_dir}` to build it there, or use the same settings"
                )
            old = IndexReader(index_dir, previous, self.settings.milvus_token)
        try:
            return self._build(index_dir, paths, previous, old, prune, progress, log, report, started, tqdm)
        finally:
            if old is not None:
                old.close()

    @staticmethod
    def _read(found: SourceFile, before: dict | None, limits: LoadLimits, report: IndexReport
              ) -> tuple[str, list[Article] | None]:
        """The file's hash and articles (None when its content is what the index holds). Sizes are checked
        before a byte is read, and only regular files are opened: a FIFO or /dev/zero never blocks a build."""
        limit = limits.file_limit(found.path)
        if found.size > limit:
            raise LoadError(too_large(found.size, limit, limits.setting if limit == limits.max_file_bytes
                                      else "CITELINE_MAX_ARTICLE_BYTES"))
        try:
            sha = file_sha256(found.path, limit)
        except OSError as exc:
            raise LoadError(f"cannot be read ({exc.strerror or exc})") from None
        if before and before["sha256"] == sha:
            return sha, None
        return sha, load_file(found.path, display_path(found.path), report.skipped, limits)

    def _read_all(self, files: Iterable[SourceFile], old_sources: dict[str, dict], sources: dict[str, dict],
                  loaded: dict[str, Article], report: IndexReport) -> None:
        """Read the files that changed into `loaded` (copies merged) and record each one in `sources`."""
        limits = self.settings.load_limits()
        for found in files:
            before = old_sources.get(found.key)
            if before and before["size"] == found.size and before["mtime_ns"] == found.mtime_ns:
                report.files_unchanged += 1
                continue
            try:
                sha, articles = self._read(found, before, limits, report)
            except LoadError as exc:
                report.skipped.append((str(found.path), str(exc)))
                continue
            if articles is None:  # touched, not changed
                sources[found.key] = {**before, "size": found.size, "mtime_ns": found.mtime_ns}
                report.files_unchanged += 1
                continue
            report.files_loaded += 1
            for article in articles:
                if article.id in loaded:
                    merge_aliases(loaded[article.id], article)
                else:
                    loaded[article.id] = article
            ids = list(dict.fromkeys(article.id for article in articles))
            sources[found.key] = {"sha256": sha, "size": found.size, "mtime_ns": found.mtime_ns, "articles": ids}

    def _assemble(self, wanted: list[str], old: IndexReader | None, old_rows: dict[str, list[int]],
                  loaded: dict[str, Article]) -> tuple[list[Article], list[Chunk], list[int], list[Chunk]]:
        """Chunk what is new; carry the chunks of articles the index already holds. Returns the articles, their
        chunks, where each chunk's vector comes from (a row of the old index, NO_VECTOR, or -1 - its position
        among the fresh chunks), and the fresh chunks to embed."""
        chunker = self.make_chunker()
        old_articles = {a.id: a for a in old.articles()} if old is not None else {}
        articles: list[Article] = []
        chunks: list[Chunk] = []
        vector_source: list[int] = []
        fresh: list[Chunk] = []
        dense_cap = self.settings.dense_chunks or None  # chunks per article, from the top, that get a vector
        for article_id in wanted:
            if article_id in old_rows and article_id in old_articles:
                if article_id in loaded:
                    merge_aliases(old_articles[article_id], loaded[article_id])
                articles.append(old_articles[article_id])
                chunks.extend(old.chunks_of(article_id))
                vector_source.extend(old_rows[article_id])
                continue
            article = loaded[article_id]
            articles.append(article)
            for number, chunk in enumerate(chunker.chunk(article)):
                chunks.append(chunk)
                if dense_cap is not None and number >= dense_cap:
                    vector_source.append(NO_VECTOR)  # found by BM25 only
                    continue
                vector_source.append(-1 - len(fresh))
                fresh.append(chunk)
        return articles, chunks, vector_source, fresh

    def _annotations(self, articles: list[Article], old: IndexReader | None, previous: Manifest | None,
                     old_rows: dict[str, list[int]], progress: bool, report: IndexReport
                     ) -> tuple[dict[str, Annotation], Path | None]:
        """The reader's annotations of the articles that have none yet (new ones, or all of them when the index
        was annotated otherwise), and the generation file that holds the others'."""
        started = time.perf_counter()
        carry = old is not None and previous is not None and previous.annotator == ANNOTATOR_VERSION
        annotated = old.annotated_ids() if carry else set()
        todo = [a for a in articles if a.id not in annotated or a.id not in old_rows]
        annotations = self._annotate(todo, progress)
        report.seconds["annotate"] = time.perf_counter() - started
        return annotations, old.chunks_path if carry else None

    def _annotate(self, articles: list[Article], progress: bool) -> dict[str, Annotation]:
        """spaCy marks the phrases of each article's lead (its first `reader_lead_chars` characters), where news
        puts its answers, for the reader (rag/reader.py)."""
        if not articles:
            return {}
        leads = {article.id: lead_lines(article, self.settings.reader_lead_chars) for article in articles}
        lines = [(article.id, number, article.lines[number - 1]) for article in articles
                 for number in leads[article.id]]
        found: dict[str, list] = {article.id: [] for article in articles}
        spans = Annotator(processes=self.settings.annotate_processes).annotate(
            [(number, text) for _, number, text in lines], progress=progress, on_progress=self._on_progress)
        for (article_id, _, _), line_spans in zip(lines, spans, strict=True):
            found[article_id].extend(line_spans)
        return {article.id: Annotation(leads[article.id][-1] if leads[article.id] else 0, found[article.id])
                for article in articles}

    def _vectors(self, old: IndexReader | None, rows: int, vector_source: list[int], fresh: list[Chunk],
                 progress: bool, report: IndexReport) -> np.ndarray:
        """Every chunk's vector: carried from the old index, embedded now, or zero (BM25 only)."""
        embed_started = time.perf_counter()
        # Wire copies repeat whole paragraphs: each distinct text is embedded once.
        distinct: dict[str, int] = {}
        slot = [distinct.setdefault(c.embed_text, len(distinct)) for c in fresh]
        new_vectors = self.embedder.embed(list(distinct), progress=progress, on_progress=self._on_progress)
        report.chunks_embedded = len(distinct)
        report.seconds["embed"] = time.perf_counter() - embed_started
        old_vectors = old.all_vectors() if old is not None and old.size else None
        vectors = np.zeros((rows, self.embedder.dimension), dtype=np.float32)
        for row, origin in enumerate(vector_source):
            if origin >= 0:
                vectors[row] = old_vectors[origin]
            elif origin != NO_VECTOR:
                vectors[row] = new_vectors[slot[-1 - origin]]
        return vectors

    def _build(self, index_dir, paths, previous, old, prune, progress, log, report, started, tqdm) -> IndexReport:
        discovery = discover(paths)
        report.skipped.extend(discovery.problems)
        report.files_seen = len(discovery.files)
        old_sources: dict[str, dict] = dict(previous.sources) if previous else {}
        sources: dict[str, dict] = dict(old_sources)
        loaded: dict[str, Article] = {}

        bar = tqdm(discovery.files, desc="Reading", unit="file", disable=None if progress else True, leave=False)
        self._read_all(bar, old_sources, sources, loaded, report)
        report.seconds["read"] = time.perf_counter() - started - report.seconds.get("model", 0.0)

        if prune:
            for key in list(sources):
                if not os.path.exists(key):
                    del sources[key]
                    report.sources_removed += 1

        wanted: list[str] = list(dict.fromkeys(i for entry in sources.values() for i in entry["articles"]))
        old_rows = old.article_rows() if old is not None else {}
        old_ids = set(old_rows)
        report.articles_added = sum(1 for i in wanted if i not in old_ids)
        report.articles_removed = len(old_ids - set(wanted))
        if previous is None and not wanted:  # nothing to index and no index yet: write nothing
            report.seconds["total"] = time.perf_counter() - started
            return report
        if (not report.changed and previous is not None and sources == old_sources
                and previous.annotator == ANNOTATOR_VERSION):
            report.articles_total = len(old_ids)
            report.chunks_total = old.size if old is not None else 0
            report.seconds["total"] = time.perf_counter() - started
            return report

        chunk_started = time.perf_counter()
        articles, chunks, vector_source, fresh = self._assemble(wanted, old, old_rows, loaded)
        report.seconds["chunk"] = time.perf_counter() - chunk_started
        annotations, carried_from = self._annotations(articles, old, previous, old_rows, progress, report)
        vectors = self._vectors(old, len(chunks), vector_source, fresh, progress, report)
        # What the write does not need goes before it: BM25 building is the peak of a large build's memory.
        del vector_source, fresh, loaded
        gc.collect()

        write_started = time.perf_counter()
        manifest = Manifest(
            embedder=self.embedder.name,
            dimension=self.embedder.dimension,
            chunking=self.chunking,
            generation=previous.generation if previous else 0,
            sources=sources,
            counts={"sources": len(sources), "articles": len(articles), "chunks": len(chunks)},
            created=previous.created if previous else "",
            annotator=ANNOTATOR_VERSION,
        )
        write_generation(index_dir, manifest, articles, chunks, vectors, self.settings.vector_store_config(),
                         annotations, carried_from)
        report.written = True
        report.articles_total = len(articles)
        report.chunks_total = len(chunks)
        report.seconds["write"] = time.perf_counter() - write_started
        report.seconds["total"] = time.perf_counter() - started
        return report

    def remove(self, article_ids: Iterable[str]) -> IndexReport:
        """Drop articles from every part of the index (vectors, BM25, metadata, manifest); nothing is embedded."""
        index_dir = Path(self.settings.index_dir)
        doomed = {article_ids} if isinstance(article_ids, str) else set(article_ids)  # one id, not its letters
        report = IndexReport()
        with writing(index_dir):
            previous = read_manifest(index_dir)
            if previous is None:
                raise CitelineError(f"there is no index in {index_dir}")
            old = IndexReader(index_dir, previous, self.settings.milvus_token)
            try:
                rows = old.article_rows()
                unknown = doomed - set(rows)
                if unknown:
                    raise CitelineError(f"no indexed article has the id {', '.join(sorted(unknown))}")
                articles = [a for a in old.articles() if a.id not in doomed]
                articles.sort(key=lambda a: min(rows.get(a.id, [0])))
                kept_rows = [r for a in articles for r in rows.get(a.id, [])]
                chunks = old.chunks(kept_rows)
                vectors = old.vectors(kept_rows)
            finally:
                old.close()
            sources = {}
            for key, entry in previous.sources.items():
                remaining = [i for i in entry["articles"] if i not in doomed]
                if remaining:
                    sources[key] = {**entry, "articles": remaining}
            manifest = Manifest(
                embedder=previous.embedder, dimension=previous.dimension, chunking=previous.chunking,
                generation=previous.generation, sources=sources, created=previous.created,
                counts={"sources": len(sources), "articles": len(articles), "chunks": len(chunks)},
                annotator=previous.annotator,
            )
            # Removing never moves the index: the vectors go back to the store that holds them.
            store = VectorStoreConfig.of_index(previous.vector_store, self.settings.ann_threshold,
                                               self.settings.milvus_token)
            carried = index_dir / previous.chunks_file if previous.annotator else None
            write_generation(index_dir, manifest, articles, chunks, vectors, store, carry_annotations=carried)
        report.articles_removed = len(doomed)
        report.sources_removed = len(previous.sources) - len(sources)
        report.articles_total, report.chunks_total, report.written = len(articles), len(chunks), True
        return report
