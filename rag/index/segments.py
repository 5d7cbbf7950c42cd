"""Changing the index: write new segments, then commit one manifest that names them; merge small segments.

An `Update` allocates segment ids, writes each segment completely (SQLite metadata with the articles'
annotations, BM25 postings, vectors) under its final names, and commits by replacing `manifest.json` atomically.
Until that rename nothing that readers use has changed; if the process dies, the files it wrote belong to no
manifest and the next change removes them. Segments of the previous manifest are kept one change longer, for
readers that opened it a moment ago (as Lucene keeps files a reader still holds).

Merging follows the tiered policy of search engines: a segment's tier is the number of digits of its live
article count; when MERGE_FACTOR segments share a tier they are merged into one, so an index of n articles holds
O(log n) segments and each article is rewritten O(log n) times. Merging drops deleted articles for good.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import CitelineError
from rag.files import atomic_write_text, fsync_dir
from rag.index.lexical import Postings
from rag.index.store import (
    ARTICLE_COLUMNS,
    MANIFEST,
    Manifest,
    Segment,
    SegmentReader,
    article_from_row,
    article_search_text,
    read_manifest,
    segment_file_sizes,
)
from rag.index.vector_base import VectorStoreConfig
from rag.index.vectorstore import discard_vectors, drop_stale_vectors, write_vectors
from rag.schema import Annotation, Article, Chunk

MERGE_FACTOR = 8  # segments of one tier that are merged into one
_SEGMENT_FILE = re.compile(r"^(?:chunks|bm25)-(\d+)(?:\.sqlite|)(?:\.tmp.*)?$")  # vectors: the backends
_FILE_SEGMENT = re.compile(r"^(?:chunks|bm25|vectors)-(\d+)")
_SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL UNIQUE, doc_id TEXT NOT NULL, source TEXT NOT NULL,
    published TEXT NOT NULL, aliases TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL,
    furniture TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
    line_start INTEGER NOT NULL, line_end INTEGER NOT NULL, text TEXT NOT NULL, embed_text TEXT NOT NULL
);
CREATE INDEX chunks_by_article ON chunks(article_id);
CREATE TABLE annotations (
    article_id TEXT PRIMARY KEY REFERENCES articles(id), lines INTEGER NOT NULL, spans TEXT NOT NULL
);
"""


def tier(segment: Segment) -> int:
    """Digits of the live article count: 1-9 articles tier 1, 10-99 tier 2, ...; 0 for an empty segment."""
    return len(str(segment.live_articles)) if segment.live_articles else 0


def merges_due(segments: Sequence[Segment], factor: int | None = None) -> list[list[Segment]]:
    """Groups of segments to merge now: every tier holding `factor` (MERGE_FACTOR) segments or more."""
    factor = factor or MERGE_FACTOR
    tiers: dict[int, list[Segment]] = {}
    for segment in segments:
        if segment.live_articles:
            tiers.setdefault(tier(segment), []).append(segment)
    return [group for _, group in sorted(tiers.items()) if len(group) >= factor]


@dataclass
class Contents:
    """What a segment will hold: its counts, and passes over its articles and chunks (each call a new pass)."""

    articles: int
    chunks: int
    article_pass: Callable[[], Iterable[Article]]
    chunk_pass: Callable[[], Iterable[Chunk]]


class Update:
    """One change to the index: segments written, then committed by one manifest; undone if it fails."""

    def __init__(self, index_dir: Path, milvus_token: str = ""):
        self.index_dir = Path(index_dir)
        self.previous = _on_disk(self.index_dir)  # a rebuild too takes ids after it, and keeps its files a while
        self.milvus_token = milvus_token
        self.next_id = (self.previous.generation if self.previous else 0) + 1
        self.written: list[Segment] = []
        self.file_sizes: dict[str, int] = {}
        self.committed = False

    def __enter__(self) -> Update:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, kind, error, trace) -> None:
        if error is not None and not self.committed:
            self._discard()

    def write(self, articles: Sequence[Article], chunks: Sequence[Chunk], vectors: np.ndarray,
              store: VectorStoreConfig, dimension: int, annotations: Mapping[str, Annotation] | None = None,
              carry_annotations: Sequence[Path] = ()) -> Segment:
        """Write a segment holding `articles` and their `chunks` (in article order) and `vectors` (row for row).
        `annotations` are new articles' phrases; those of the others are copied from the SQLite files
        `carry_annotations`, without being read into memory."""
        return self.write_streamed(Contents(len(articles), len(chunks), lambda: iter(articles), lambda: iter(chunks)),
                                   vectors, store, dimension, annotations, carry_annotations)

    def write_streamed(self, contents: Contents, vectors: np.ndarray, store: VectorStoreConfig, dimension: int,
                       annotations: Mapping[str, Annotation] | None = None, carry_annotations: Sequence[Path] = ()
                       ) -> Segment:
        """As `write`, with the articles and chunks read in passes rather than held: a merge's memory is its
        vectors and postings, not its texts."""
        if contents.chunks != len(vectors):
            raise ValueError(f"{contents.chunks} chunks but {len(vectors)} vectors")
        segment = Segment(id=self.next_id, articles=contents.articles, chunks=contents.chunks, vectors={})
        self.next_id += 1
        self.written.append(segment)
        chunks_path = self.index_dir / segment.chunks_file
        bm25_path = self.index_dir / segment.bm25_dir
        tmp_chunks = chunks_path.with_name(chunks_path.name + f".tmp{os.getpid()}")
        tmp_bm25 = bm25_path.with_name(bm25_path.name + f".tmp{os.getpid()}")
        try:
            chunk_postings = Postings.build(c.embed_text for c in contents.chunk_pass())
            article_postings = Postings.build(article_search_text(a) for a in contents.article_pass())
            if (chunk_postings.size, article_postings.size) != (contents.chunks, contents.articles):
                raise ValueError(f"{chunk_postings.size} chunks and {article_postings.size} articles read, "
                                 f"{contents.chunks} and {contents.articles} expected")
            chunk_postings.save(tmp_bm25 / "chunks")
            article_postings.save(tmp_bm25 / "articles")
            del chunk_postings, article_postings
            write_sqlite(tmp_chunks, contents.article_pass(), contents.chunk_pass(), annotations or {},
                         carry_annotations)
            vectors = np.asarray(vectors, dtype=np.float32).reshape(contents.chunks, dimension)
            segment.vectors = write_vectors(self.index_dir, segment.id, vectors, store)  # durable, not in force
            os.replace(tmp_chunks, chunks_path)
            shutil.rmtree(bm25_path, ignore_errors=True)
            os.replace(tmp_bm25, bm25_path)
            fsync_dir(self.index_dir)
        finally:
            with contextlib.suppress(OSError):
                tmp_chunks.unlink()
            shutil.rmtree(tmp_bm25, ignore_errors=True)
        self.file_sizes.update(segment_file_sizes(self.index_dir, segment))
        return segment

    def commit(self, manifest: Manifest) -> Manifest:
        """Make `manifest` (whose segments are kept ones of the previous manifest and written ones) the index in
        force; then remove what neither it nor the previous manifest names."""
        previous = self.previous
        manifest.generation = max(self.next_id - 1, (previous.generation if previous else 0) + 1)
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest.created = manifest.created or (previous.created if previous else "") or now
        manifest.updated = now
        ids = {s.id for s in manifest.segments}
        old_sizes = previous.file_sizes if previous else {}
        manifest.file_sizes = {name: size for name, size in {**old_sizes, **self.file_sizes}.items()
                               if _segment_of(name) in ids}
        manifest.counts = {"sources": len(manifest.sources),
                           "articles": sum(s.live_articles for s in manifest.segments),
                           "chunks": sum(s.live_chunks for s in manifest.segments)}
        atomic_write_text(self.index_dir / MANIFEST, manifest.to_json())  # the commit point
        self.committed = True
        keep = ids | ({s.id for s in previous.segments} if previous else set())
        stores = [manifest.vector_store, *([previous.vector_store] if previous else [])]
        remove_stale_segments(self.index_dir, keep, stores, self.milvus_token)
        return manifest

    def _discard(self) -> None:
        """Remove the segments written by a change that failed before its commit (best effort)."""
        with contextlib.suppress(Exception):
            committed = read_manifest(self.index_dir)  # an interrupt may land just after the commit
            if committed is not None and {s.id for s in self.written} & {s.id for s in committed.segments}:
                return
        for segment in self.written:
            with contextlib.suppress(OSError):
                (self.index_dir / segment.chunks_file).unlink()
            shutil.rmtree(self.index_dir / segment.bm25_dir, ignore_errors=True)
            if segment.vectors:
                with contextlib.suppress(Exception):
                    discard_vectors(self.index_dir, segment.id, segment.vectors, self.milvus_token)


def _on_disk(index_dir: Path) -> Manifest | None:
    """The manifest in force, or None when there is none or it cannot be read (a rebuild replaces it)."""
    try:
        return read_manifest(index_dir)
    except CitelineError:
        return None


def _segment_of(name: str) -> int | None:
    match = _FILE_SEGMENT.match(name)
    return int(match.group(1)) if match else None


def merge(update: Update, parts: Sequence[SegmentReader], store: VectorStoreConfig, dimension: int) -> Segment:
    """Write one segment holding the live articles of `parts` (open segments), in their order, with their chunks,
    vectors and annotations: nothing is embedded or annotated again. Texts are streamed from the parts' SQLite
    files, a pass at a time: merging the 11,188-article archive held them all and peaked at 2.5 GB."""
    rows = [_live_chunk_rows(part) for part in parts]
    articles = sum(_live_article_count(part) for part in parts)
    vectors = [np.zeros((0, dimension), dtype=np.float32)]
    vectors.extend(part.vectors.vectors(live) for part, live in zip(parts, rows, strict=True) if len(live))

    def article_pass() -> Iterator[Article]:
        for part in parts:
            for row in part.rows(f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY position"):
                article = article_from_row(row)
                if article.id not in part.deleted:
                    yield article

    def chunk_pass() -> Iterator[Chunk]:
        for part in parts:
            for article_id, start, end, text, embed_text in part.rows(
                    "SELECT article_id, line_start, line_end, text, embed_text FROM chunks ORDER BY row"):
                if article_id not in part.deleted:
                    yield Chunk(article_id=article_id, line_start=start, line_end=end, text=text,
                                embed_text=embed_text)

    contents = Contents(articles, sum(len(live) for live in rows), article_pass, chunk_pass)
    return update.write_streamed(contents, np.concatenate(vectors), store, dimension,
                                 carry_annotations=[part.path for part in parts])


def _live_chunk_rows(part: SegmentReader) -> np.ndarray:
    found = [row for row, article_id in part.rows("SELECT row, article_id FROM chunks ORDER BY row")
             if article_id not in part.deleted]
    return np.array(found, dtype=np.int64)


def _live_article_count(part: SegmentReader) -> int:
    return sum(1 for (article_id,) in part.rows("SELECT id FROM articles") if article_id not in part.deleted)


def remove_stale_segments(index_dir: Path, keep: set[int], stores: Sequence[dict[str, Any]] = (),
                          milvus_token: str = "") -> None:
    """Files and vectors of segments not kept, and temporary files: left by earlier changes or by one that died.

    `stores` are the vector store records of the new manifest and of the previous one. Best effort: the new
    manifest is in force already, and what is left here goes at the next change.
    """
    for path in Path(index_dir).iterdir():
        match = _SEGMENT_FILE.match(path.name)
        if match and (int(match.group(1)) not in keep or ".tmp" in path.name):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
    drop_stale_vectors(index_dir, keep, stores, milvus_token)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_sqlite(path: Path, articles: Iterable[Article], chunks: Iterable[Chunk],
                 annotations: Mapping[str, Annotation], carry_from: Sequence[Path]) -> None:
    """The metadata of a segment. SQLite's own errors (a full disk) are OSErrors here, as other writes' are."""
    try:
        _fill_sqlite(path, articles, chunks, annotations, carry_from)
    except sqlite3.Error as exc:
        raise OSError(f"SQLite could not write {path.name}: {exc}") from None
    _fsync_file(path)


def _fill_sqlite(path: Path, articles: Iterable[Article], chunks: Iterable[Chunk],
                 annotations: Mapping[str, Annotation], carry_from: Sequence[Path]) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    db = sqlite3.connect(path)
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        # The small columns first: reading them (the layout, at a cold question) never walks a text's pages.
        db.executemany(
            "INSERT INTO articles (id, position, doc_id, source, published, aliases, title, url, furniture, text)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (a.id, position, a.doc_id, a.source, a.published, json.dumps(a.aliases), a.title, a.url,
                 json.dumps(a.furniture), a.text)
                for position, a in enumerate(articles)
            ),
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
            ((row, c.article_id, c.line_start, c.line_end, c.text, c.embed_text) for row, c in enumerate(chunks)),
        )
        db.executemany("INSERT INTO annotations VALUES (?, ?, ?)",
                       ((article_id, a.lines, a.to_json()) for article_id, a in annotations.items()))
        db.commit()
        for source in carry_from:  # annotations of carried articles, from the segments that held them
            db.execute("ATTACH DATABASE ? AS old", (str(source),))
            has_table = db.execute("SELECT 1 FROM old.sqlite_master WHERE type = 'table' AND name = 'annotations'"
                                   ).fetchone()
            if has_table:
                db.execute("INSERT OR IGNORE INTO annotations SELECT a.article_id, a.lines, a.spans FROM"
                           " old.annotations a WHERE a.article_id IN (SELECT id FROM articles)")
            db.commit()
            db.execute("DETACH DATABASE old")
        db.commit()
    finally:
        db.close()
