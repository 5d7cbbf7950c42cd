"""Build and update the index: load → chunk → embed → write a segment of what is new, record what is gone."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import numpy as np
from filelock import FileLock, Timeout

from rag.embed.embedding import Embedder
from rag.errors import CitelineError, IndexMismatchError, write_failed
from rag.index.segments import Update, merge, merges_due
from rag.index.store import (
    IndexReader,
    Manifest,
    Segment,
    SegmentReader,
    check_compatible,
    check_index_dir,
    check_no_stray_index,
    read_manifest,
)
from rag.index.vector_base import VectorStoreConfig
from rag.index.vectorstore import check_reachable
from rag.ingest.chunking import MAX_TITLE_TOKENS, Chunker
from rag.ingest.loading import LoadError, LoadLimits, SourceFile, discover, file_sha256, load_file, too_large
from rag.ingest.nlp import ANNOTATOR_VERSION, Annotator, lead_lines
from rag.schema import Annotation, Article, Chunk
from rag.settings import Settings

CHUNKER_VERSION = 1
LOCK_FILE = ".lock"
NO_VECTOR = -(2**62)  # a chunk past the article's dense_chunks: its vector stays zero, BM25 still finds it
# A build writes at most this many articles to one segment, so that its memory grows with a segment, not with the
# archive: the rtqa2025 corpus (2,148 articles) built as one segment peaked at 952 MiB, in segments of 500 at
# 662 MiB, as fast (BENCHMARKS.md).
SEGMENT_ARTICLES = 2000
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


class IndexOptions(TypedDict, total=False):
    """What `Citeline.index` passes on to `Indexer.index` besides the paths."""

    prune: bool
    rebuild: bool
    progress: bool
    log: Callable[[str], None] | None
    on_progress: Callable[[str, int, int], None] | None


class Indexer:
    def __init__(self, settings: Settings, embedder: Embedder):
        self.settings = settings
        self.embedder = embedder
        self._on_progress: Callable[[str, int, int], None] | None = None

    @property
    def chunking(self) -> dict[str, object]:
        return {
            "chunk_tokens": self.settings.chunk.chunk_tokens,
            "chunk_overlap_tokens": self.settings.chunk.chunk_overlap_tokens,
            "max_title_tokens": MAX_TITLE_TOKENS,
            "sentence_splitter": "sentencex",
            "chunker_version": CHUNKER_VERSION,
            "dense_chunks": self.settings.chunk.dense_chunks,
        }

    def make_chunker(self) -> Chunker:
        chunk = self.settings.chunk
        return Chunker(self.embedder.count_tokens, chunk.chunk_tokens, chunk.chunk_overlap_tokens,
                       self.embedder.max_tokens)

    def index(
        self,
        paths: Iterable[str | Path],
        *,  # the options, as IndexOptions lists them for Citeline.index
        prune: bool = False,
        rebuild: bool = False,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> IndexReport:
        """`prune` drops the articles of files no longer given, `rebuild` starts afresh; `progress` shows bars on a
        terminal; `on_progress(stage, done, total)` reports to a UI."""
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
        check_reachable(index_dir, self.settings.store)
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
            moved = self.settings.store.mismatch(previous.vector_store, index_dir)
            if moved:
                raise IndexMismatchError(
                    f"the index in {index_dir} {moved}; re-index with `rag index --rebuild PATH... --index-dir"
                    f" {index_dir}` to build it there, or use the same settings"
                )
            old = IndexReader(index_dir, previous, self.settings.store.milvus_token)
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
        limits = self.settings.limits.load_limits()
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
        articles: list[Article] = []
        chunks: list[Chunk] = []
        vector_source: list[int] = []
        fresh: list[Chunk] = []
        dense_cap = self.settings.chunk.dense_chunks or None  # chunks per article, from the top, that get a vector
        for article_id in wanted:
            if old is not None and article_id in old_rows:
                article = _copy(old.article(article_id))
                if article_id in loaded:
                    merge_aliases(article, loaded[article_id])
                articles.append(article)
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
                     ) -> tuple[dict[str, Annotation], list[Path]]:
        """The reader's annotations of the articles that have none yet (new ones, or all of them when the index
        was annotated otherwise), and the generation file that holds the others'."""
        started = time.perf_counter()
        carry = old is not None and previous is not None and previous.annotator == ANNOTATOR_VERSION
        annotated = old.annotated_ids() if carry else set()
        todo = [a for a in articles if a.id not in annotated or a.id not in old_rows]
        annotations = self._annotate(todo, progress)
        report.seconds["annotate"] = report.seconds.get("annotate", 0.0) + time.perf_counter() - started
        return annotations, old.chunks_paths if carry else []

    def _annotate(self, articles: list[Article], progress: bool) -> dict[str, Annotation]:
        """spaCy marks the phrases of each article's lead (its first `reader_lead_chars` characters), where news
        puts its answers, for the reader (rag/answer/reader.py)."""
        if not articles:
            return {}
        leads = {article.id: lead_lines(article, self.settings.reader.lead_chars) for article in articles}
        lines = [(article.id, number, article.lines[number - 1]) for article in articles
                 for number in leads[article.id]]
        found: dict[str, list] = {article.id: [] for article in articles}
        spans = Annotator(processes=self.settings.reader.annotate_processes).annotate(
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
        report.chunks_embedded += len(distinct)
        report.seconds["embed"] = report.seconds.get("embed", 0.0) + time.perf_counter() - embed_started
        vectors = np.zeros((rows, self.embedder.dimension), dtype=np.float32)
        carried = [(row, origin) for row, origin in enumerate(vector_source) if origin >= 0]
        if carried and old is not None:  # only the rows carried are read: an update costs what it changes
            vectors[[row for row, _ in carried]] = old.vectors([origin for _, origin in carried])
        for row, origin in enumerate(vector_source):
            if origin < 0 and origin != NO_VECTOR:
                vectors[row] = new_vectors[slot[-1 - origin]]
        return vectors

    def _build(self, index_dir, paths, previous, old, prune, progress, log, report, started, tqdm) -> IndexReport:
        old_sources: dict[str, dict] = dict(previous.sources) if previous else {}
        sources, loaded = self._sources(paths, old_sources, prune, progress, report, started, tqdm)
        wanted: list[str] = list(dict.fromkeys(i for entry in sources.values() for i in entry["articles"]))
        old_rows = old.chunk_rows_by_article() if old is not None else {}
        old_ids = set(old_rows)
        report.articles_added = sum(1 for i in wanted if i not in old_ids)
        report.articles_removed = len(old_ids - set(wanted))
        if previous is None and not wanted:  # nothing to index and no index yet: write nothing
            report.seconds["total"] = time.perf_counter() - started
            return report
        if (not report.changed and previous is not None and sources == old_sources
                and previous.annotator == ANNOTATOR_VERSION):
            report.articles_total = len(old_ids)
            report.chunks_total = int(previous.counts.get("chunks", 0))
            report.seconds["total"] = time.perf_counter() - started
            return report
        segment_ids, deleted = self._plan(wanted, old, old_ids, previous, loaded)
        self._write(index_dir, previous, old, old_rows, segment_ids, deleted, loaded, sources, progress, report)
        report.seconds["total"] = time.perf_counter() - started
        return report

    def _sources(self, paths, old_sources: dict[str, dict], prune: bool, progress: bool, report: IndexReport,
                 started: float, tqdm) -> tuple[dict[str, dict], dict[str, Article]]:
        """Every source file the index will hold (read again where it changed, dropped where `prune` finds it
        gone) and the articles of the files read."""
        discovery = discover(paths)
        report.skipped.extend(discovery.problems)
        report.files_seen = len(discovery.files)
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
        return sources, loaded

    def _plan(self, wanted: list[str], old: IndexReader | None, old_ids: set[str], previous: Manifest | None,
              loaded: dict[str, Article]) -> tuple[list[str], set[str]]:
        """The articles of the new segment and the articles to mark deleted."""
        if old is None or previous is None or previous.annotator != ANNOTATOR_VERSION:
            return wanted, set(old_ids)  # a first build, a rebuild or a new annotator: one segment of everything
        # an update: a segment of what is new (or has new aliases), deletions for what is gone
        segment_ids = [i for i in wanted if i not in old_ids or self._renamed(old, loaded.get(i))]
        return segment_ids, (old_ids - set(wanted)) | (set(segment_ids) & old_ids)

    @staticmethod
    def _renamed(old: IndexReader, loaded: Article | None) -> bool:
        """True when a file read again names an indexed article with ids it does not carry yet (a new copy)."""
        if loaded is None:
            return False
        article = _copy(old.article(loaded.id))
        before = len(article.aliases)
        merge_aliases(article, loaded)
        return len(article.aliases) != before

    def _write(self, index_dir: Path, previous: Manifest | None, old: IndexReader | None,
               old_rows: dict[str, list[int]], segment_ids: list[str], deleted: set[str], loaded: dict[str, Article],
               sources: dict[str, dict], progress: bool, report: IndexReport) -> None:
        """Write the segments of `segment_ids` (SEGMENT_ARTICLES at a time), record `deleted`, merge what the
        policy says, commit: all of it in force at once, or none of it."""
        write_started = time.perf_counter()
        full = set(deleted) == set(old_rows)  # nothing of the old index is kept
        kept = [] if full or old is None else _with_deletions(old, deleted, old_rows)
        manifest = Manifest(
            embedder=self.embedder.name,
            dimension=self.embedder.dimension,
            chunking=self.chunking,
            generation=previous.generation if previous else 0,
            sources=sources,
            created=previous.created if previous else "",
            annotator=ANNOTATOR_VERSION,
            vector_store=previous.vector_store if previous else {},
        )
        store = self.settings.store
        with Update(index_dir, self.settings.store.milvus_token) as update:
            for first in range(0, len(segment_ids), SEGMENT_ARTICLES):
                batch = segment_ids[first : first + SEGMENT_ARTICLES]
                segment = self._write_segment(update, batch, previous, old, old_rows, loaded, store, progress, report)
                kept.append(segment)
                manifest.vector_store = segment.vectors
            manifest.segments = self._merged(update, old, kept, store)
            update.commit(manifest)
        report.written = True
        report.articles_total = manifest.counts["articles"]
        report.chunks_total = manifest.counts["chunks"]
        report.seconds["write"] = time.perf_counter() - write_started - sum(
            report.seconds.get(stage, 0.0) for stage in ("chunk", "annotate", "embed"))

    def _write_segment(self, update: Update, segment_ids: list[str], previous: Manifest | None,
                       old: IndexReader | None, old_rows: dict[str, list[int]], loaded: dict[str, Article],
                       store: VectorStoreConfig, progress: bool, report: IndexReport) -> Segment:
        """Chunk, annotate, embed and write one segment; what it held is freed before the next one is read."""
        chunk_started = time.perf_counter()
        articles, chunks, vector_source, fresh = self._assemble(segment_ids, old, old_rows, loaded)
        report.seconds["chunk"] = report.seconds.get("chunk", 0.0) + time.perf_counter() - chunk_started
        annotations, carried_from = self._annotations(articles, old, previous, old_rows, progress, report)
        vectors = self._vectors(old, len(chunks), vector_source, fresh, progress, report)
        # What the write does not need goes before it: BM25 postings are the peak of a segment's memory.
        del vector_source, fresh
        gc.collect()
        return update.write(articles, chunks, vectors, store, self.embedder.dimension, annotations, carried_from)

    def _merged(self, update: Update, old: IndexReader | None, segments: list[Segment],
                store: VectorStoreConfig, everything: bool = False) -> list[Segment]:
        """The segments after the merges the tiered policy asks for (or, `everything`, after merging them all)."""
        segments = [s for s in segments if s.live_articles]
        groups = ([segments] if len(segments) > 1 or any(s.deleted for s in segments) else []) if everything \
            else merges_due(segments)
        for group in groups:
            merged = self._merge_group(update, old, group, store)
            members = {s.id for s in group}
            at = min(i for i, s in enumerate(segments) if s.id in members)
            segments = [s for s in segments if s.id not in members]
            segments.insert(at, merged)
        return segments

    def _merge_group(self, update: Update, old: IndexReader | None, group: list[Segment],
                     store: VectorStoreConfig) -> Segment:
        """One segment of `group`'s live articles: segments the index in force has open are read through it, the
        others (written by this change) opened for the merge."""
        parts = {p.segment.id: p for p in old.parts} if old is not None else {}
        opened = [SegmentReader(update.index_dir, s, self.embedder.dimension, self.settings.store.milvus_token)
                  for s in group if s.id not in parts]
        try:
            by_id = {**parts, **{p.segment.id: p for p in opened}}
            readers = [by_id[s.id] for s in group]
            for reader, segment in zip(readers, group, strict=True):
                reader.deleted = frozenset(segment.deleted)  # deletions recorded by this change too
            return merge(update, readers, store, self.embedder.dimension)
        finally:
            for reader in opened:
                reader.close()

    def _open_existing(self, index_dir: Path) -> tuple[Manifest, IndexReader]:
        """The index in force, for a change that needs one (compact, remove), checked against this embedder."""
        previous = read_manifest(index_dir)
        if previous is None:
            raise CitelineError(f"there is no index in {index_dir}")
        check_compatible(previous, index_dir, self.embedder.name, self.embedder.dimension)
        return previous, IndexReader(index_dir, previous, self.settings.store.milvus_token)

    def compact(self) -> IndexReport:
        """Merge every segment into one, dropping deleted articles for good; questions are answered meanwhile."""
        index_dir = Path(self.settings.index_dir)
        report = IndexReport()
        started = time.perf_counter()
        with writing(index_dir):
            previous, old = self._open_existing(index_dir)
            try:
                store = VectorStoreConfig.of_index(previous.vector_store, self.settings.store.ann_threshold,
                                                   self.settings.store.milvus_token)
                with Update(index_dir, self.settings.store.milvus_token) as update:
                    segments = self._merged(update, old, list(previous.segments), store, everything=True)
                    manifest = _successor(previous, segments)
                    report.written = bool(update.written) or len(segments) != len(previous.segments)
                    if report.written:
                        update.commit(manifest)
            finally:
                old.close()
        report.articles_total, report.chunks_total = previous.counts["articles"], previous.counts["chunks"]
        report.seconds["total"] = time.perf_counter() - started
        return report

    def remove(self, article_ids: Iterable[str]) -> IndexReport:
        """Take articles out of the index: their ids are recorded as deleted in the segments that hold them
        (nothing is rewritten or embedded); the files they came from are left alone."""
        index_dir = Path(self.settings.index_dir)
        doomed = {article_ids} if isinstance(article_ids, str) else set(article_ids)  # one id, not its letters
        report = IndexReport()
        with writing(index_dir):
            previous, old = self._open_existing(index_dir)
            try:
                held = _live_chunks(old, doomed)
                unknown = doomed - set(held)
                if unknown:
                    raise CitelineError(f"no indexed article has the id {', '.join(sorted(unknown))}")
                sources = {}
                for key, entry in previous.sources.items():
                    remaining = [i for i in entry["articles"] if i not in doomed]
                    if remaining:
                        sources[key] = {**entry, "articles": remaining}
                segments = _with_deletions(old, doomed, held)
                # Removing never moves the index: merged vectors go back to the store that holds them.
                store = VectorStoreConfig.of_index(previous.vector_store, self.settings.store.ann_threshold,
                                                   self.settings.store.milvus_token)
                with Update(index_dir, self.settings.store.milvus_token) as update:
                    manifest = _successor(previous, self._merged(update, old, segments, store), sources)
                    update.commit(manifest)
            finally:
                old.close()
        report.articles_removed = len(doomed)
        report.sources_removed = len(previous.sources) - len(sources)
        report.articles_total, report.chunks_total = manifest.counts["articles"], manifest.counts["chunks"]
        report.written = True
        return report


def _copy(article: Article) -> Article:
    """An article that may be changed without changing the reader's cached one."""
    return dataclasses.replace(article, aliases=list(article.aliases), furniture=list(article.furniture))


def _live_chunks(reader: IndexReader, ids: set[str]) -> dict[str, list[int]]:
    """Rows of the live articles among `ids`, by id (one query per segment, not a read of every row)."""
    found: dict[str, list[int]] = {}
    wanted = sorted(ids)
    for index, part in enumerate(reader.parts):
        offset = int(reader.row_offsets[index])
        for start in range(0, len(wanted), 900):
            batch = wanted[start:start + 900]
            for row, article_id in part.query(
                    f"SELECT row, article_id FROM chunks WHERE article_id IN ({','.join('?' * len(batch))})", batch):
                if article_id not in part.deleted:
                    found.setdefault(article_id, []).append(row + offset)
    return found


def _with_deletions(reader: IndexReader, ids: set[str], rows: dict[str, list[int]]) -> list[Segment]:
    """The reader's segments, each with the ids among `ids` that it holds recorded as deleted."""
    segments = []
    for index, part in enumerate(reader.parts):
        start, stop = int(reader.row_offsets[index]), int(reader.row_offsets[index + 1])
        mine = [i for i in ids if i in rows and start <= rows[i][0] < stop]
        segment = part.segment
        segments.append(dataclasses.replace(segment, deleted=[*segment.deleted, *sorted(mine)],
                                            deleted_chunks=segment.deleted_chunks + sum(len(rows[i]) for i in mine)))
    return segments


def _successor(previous: Manifest, segments: list[Segment], sources: dict[str, dict] | None = None) -> Manifest:
    """The previous manifest with other segments (and sources); the commit sets generation, counts and sizes."""
    return dataclasses.replace(previous, segments=segments, sources=previous.sources if sources is None else sources,
                               counts=dict(previous.counts), file_sizes=dict(previous.file_sizes))
