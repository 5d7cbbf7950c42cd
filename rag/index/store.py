"""The index on disk, read: a manifest naming segments, each with chunk vectors (rag/index/vectorstore.py), chunk and
article metadata in SQLite and BM25 postings (rag/index/lexical.py).

A segment `s` is `chunks-<s>.sqlite`, `bm25-<s>/` and its vectors (`vectors-<s>.faiss` or a Milvus collection
`<prefix>_g<s>`); it is never changed once written. Every change (rag/index/segments.py writes them) writes its new
segments and then replaces `manifest.json` atomically: the manifest lists the segments in force and the articles
deleted from each. A change that dies before that rename leaves the previous manifest and its segments untouched.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import CitelineError, IndexMismatchError, IndexMissingError, damaged, rebuild_hint
from rag.index.lexical import Bm25, Postings
from rag.index.vector_base import VectorStore, incomplete
from rag.index.vectorstore import open_vectors
from rag.schema import Annotation, Article, Chunk, LineSpans, span_rows

FORMAT_VERSION = 3  # 3: segments with BM25 postings; 2 (one generation, bm25s scores) needs a re-index
ARTICLES_KEPT = 2000  # articles (texts and their lines) kept in memory once read, the most recent first
ANNOTATIONS_KEPT = 5000  # articles' annotations kept in memory once read (a few KB each)
MANIFEST = "manifest.json"
FAISS_FLAT = {"backend": "faiss", "index": "flat"}  # what a manifest without a vector_store record means
# A generation's metadata under its final name: it is renamed into place just before the manifest is written,
# so a folder holding one has held a complete index (a build killed earlier leaves only temporary files).
_INDEX_DATA = re.compile(r"^(?:manifest\.json|chunks-\d+\.sqlite)$")



@dataclass
class Segment:
    """A part of the index written by one build, add or merge: its own SQLite file, BM25 postings and vectors.

    Segments are never changed once written; removing an article records its id in `deleted`, and a merge
    writes a new segment holding the live articles of several (see rag/index/segments.py)."""

    id: int
    articles: int  # rows of its articles table, deleted ones included
    chunks: int  # rows of its chunks table (and of its vectors)
    vectors: dict[str, Any]  # the vector store record (rag/index/vectorstore.py)
    deleted: list[str] = field(default_factory=list)  # ids of its articles taken out of the index
    deleted_chunks: int = 0  # chunks of those articles

    @property
    def live_chunks(self) -> int:
        return self.chunks - self.deleted_chunks

    @property
    def chunks_file(self) -> str:
        return f"chunks-{self.id:06d}.sqlite"

    @property
    def bm25_dir(self) -> str:
        return f"bm25-{self.id:06d}"

    @property
    def live_articles(self) -> int:
        return self.articles - len(self.deleted)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "articles": self.articles, "chunks": self.chunks, "vectors": self.vectors,
                "deleted": self.deleted, "deleted_chunks": self.deleted_chunks}


@dataclass
class Manifest:
    """What the index was built with and from, and the segments in force. Stored as JSON; never unpickled."""

    embedder: str
    dimension: int
    chunking: dict[str, Any]
    generation: int = 0  # raised by every commit; segment ids are taken from the same count
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # absolute path -> sha256, size, articles
    counts: dict[str, int] = field(default_factory=dict)  # live articles and chunks, sources
    format_version: int = FORMAT_VERSION
    created: str = ""
    updated: str = ""
    # The record of the newest segment's vectors: where this index keeps vectors (backend, Milvus URI, prefix).
    vector_store: dict[str, Any] = field(default_factory=lambda: dict(FAISS_FLAT))
    annotator: str = ""  # the pipeline and rules that marked the articles' phrases (rag/ingest/nlp.py); "" for none
    # Size of every file of every segment, relative to the index folder: a truncated file is told at once.
    file_sizes: dict[str, int] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": self.format_version,
                "embedder": {"name": self.embedder, "dimension": self.dimension},
                "chunking": self.chunking,
                "generation": self.generation,
                "segments": [segment.to_dict() for segment in self.segments],
                "vector_store": self.vector_store,
                "annotator": self.annotator,
                "counts": self.counts,
                "file_sizes": self.file_sizes,
                "created": self.created,
                "updated": self.updated,
                "sources": self.sources,
            },
            indent=1,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """The manifest, every field checked for its type (ValueError says which is wrong): a damaged or edited
        manifest must fail here, with a message, not deep inside a question."""
        from rag.index.manifest_check import checked

        data = checked(json.loads(text))
        return cls(
            embedder=data["embedder"]["name"],
            dimension=data["embedder"]["dimension"],
            chunking=data["chunking"],
            generation=data["generation"],
            sources=data["sources"],
            counts=data["counts"],
            format_version=data["format_version"],
            created=data["created"],
            updated=data["updated"],
            vector_store=data["vector_store"] or dict(FAISS_FLAT),
            file_sizes=data["file_sizes"],
            annotator=data["annotator"],
            segments=[Segment(**record) for record in data["segments"]],
        )


def check_index_dir(index_dir: Path) -> None:
    """An index folder that exists must be a folder; it is created when missing."""
    if Path(index_dir).exists() and not Path(index_dir).is_dir():
        raise CitelineError(f"the index folder {index_dir} is a file, not a folder: give --index-dir (or"
                            " CITELINE_INDEX_DIR) a folder; it is created when missing")


def read_manifest(index_dir: Path) -> Manifest | None:
    check_index_dir(index_dir)
    path = Path(index_dir) / MANIFEST
    try:
        text = path.read_bytes().decode("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        raise CitelineError(
            f"cannot read {path}: permission denied. The index belongs to another user or its permissions are"
            " too narrow: ask its owner to make it readable (chmod -R a+rX), or use your own --index-dir"
        ) from None
    except UnicodeDecodeError:
        raise damaged(index_dir, f"{MANIFEST} is not UTF-8 text") from None
    except OSError as exc:
        raise damaged(index_dir, f"{MANIFEST} cannot be read: {exc.strerror or exc}") from None
    try:
        return Manifest.from_json(text)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise damaged(index_dir, f"{MANIFEST} is not a Citeline manifest: {exc}") from None


def has_index_data(index_dir: Path) -> bool:
    """True when the folder holds an index, or what is left of one: a manifest or a generation's metadata."""
    try:
        return any(_INDEX_DATA.match(entry.name) for entry in os.scandir(index_dir))
    except OSError:
        return False


def check_no_stray_index(index_dir: Path) -> None:
    """Refuse to start a new index over the files of one whose manifest is gone: that would drop them."""
    if has_index_data(index_dir) and read_manifest(index_dir) is None:
        raise IndexMissingError(
            f"{index_dir} holds index files but no {MANIFEST} (it was deleted, or the folder is damaged), so"
            f" nothing was changed; {rebuild_hint(index_dir)} to build a new index there, or choose another"
            " --index-dir"
        )


def check_compatible(manifest: Manifest, index_dir: Path, embedder: str, dimension: int | None) -> None:
    """Refuse an index whose vectors mean something else than the ones we would compute."""
    redo = f"re-index with `rag index --rebuild PATH... --index-dir {index_dir}`"
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index in {index_dir} has format version {manifest.format_version}, this Citeline reads"
            f" version {FORMAT_VERSION}; {redo}"
        )
    if manifest.embedder != embedder:
        raise IndexMismatchError(
            f"the index in {index_dir} was built with the embedder {manifest.embedder!r}, but the embedder"
            f" in use is {embedder!r}; {redo}, or set the embedder back"
        )
    if dimension is not None and manifest.dimension != dimension:
        raise IndexMismatchError(
            f"the index in {index_dir} holds {manifest.dimension}-dimensional vectors, the embedder makes"
            f" {dimension}-dimensional ones; {redo}"
        )


def article_search_text(article: Article) -> str:
    """What article-level BM25 reads: the title counts twice, as headlines carry the story's key words."""
    return f"{article.title}\n{article.title}\n{article.text}"


@dataclass
class ArticleLayout:
    """Per-article and per-row arrays over every segment, numbered one segment after another."""

    ids: list[str]  # article id by position
    sources: list[str]  # source by position
    keys: list[set[str]]  # doc ids, aliases and source of each position
    days: np.ndarray  # publication day (date ordinal) by position, 0 when unknown
    row_article: np.ndarray  # article position of every chunk row
    live: np.ndarray  # False for positions of deleted articles
    live_rows: np.ndarray  # False for the chunk rows of deleted articles

    @functools.cached_property
    def _by_article(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.row_article, kind="stable")
        bounds = np.searchsorted(self.row_article[order], np.arange(len(self.ids) + 1))
        return order, bounds

    def chunk_rows(self, position: int) -> np.ndarray:
        """The chunk rows of the article at `position`, in row order: sorted once per opened index (a scan of
        every row per article was 2 ms a question on an 11,000-article index)."""
        order, bounds = self._by_article
        return order[bounds[position] : bounds[position + 1]]

    @classmethod
    def read(cls, db: sqlite3.Connection, size: int, count: int, deleted: Iterable[str] = ()) -> ArticleLayout:
        ids, sources, keys = [""] * count, [""] * count, [set() for _ in range(count)]
        days = np.zeros(count, dtype=np.int64)
        positions = {}
        for article_id, position, source, doc_id, aliases, published in db.execute(
            "SELECT id, position, source, doc_id, aliases, published FROM articles"
        ):
            ids[position], sources[position] = article_id, source
            keys[position] = {k for k in (doc_id, source, *json.loads(aliases)) if k}
            positions[article_id] = position
            if published:
                with contextlib.suppress(ValueError):
                    days[position] = date.fromisoformat(published).toordinal()
        row_article = _row_articles(db, size, positions)
        live = np.ones(count, dtype=bool)
        live[[positions[i] for i in deleted if i in positions]] = False
        return cls(ids, sources, keys, days, row_article, live, live[row_article])

    @classmethod
    def empty(cls) -> ArticleLayout:
        none = np.zeros(0, dtype=np.int64)
        return cls([], [], [], none, none, np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))

    @classmethod
    def joined(cls, parts: Sequence[ArticleLayout]) -> ArticleLayout:
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0, *(len(p.ids) for p in parts)])
        return cls(
            [i for p in parts for i in p.ids], [s for p in parts for s in p.sources],
            [k for p in parts for k in p.keys],
            np.concatenate([p.days for p in parts]),
            np.concatenate([p.row_article + o for p, o in zip(parts, offsets, strict=False)]),
            np.concatenate([p.live for p in parts]),
            np.concatenate([p.live_rows for p in parts]),
        )


def _row_articles(db: sqlite3.Connection, size: int, positions: dict[str, int]) -> np.ndarray:
    """The article position of every chunk row. A segment's writer puts each article's chunks in one run of
    rows, in article order, so one grouped query over the (article_id) index gives them; reading every row
    into Python was most of a cold question's time (0.6 s for 128,602 rows). A row whose article is missing,
    or rows out of place, are damage."""
    runs = sorted((first, positions[article_id], count) for article_id, first, count in db.execute(
        "SELECT article_id, min(row), count(*) FROM chunks GROUP BY article_id"))
    starts = np.array([first for first, _, _ in runs], dtype=np.int64)
    counts = np.array([count for _, _, count in runs], dtype=np.int64)
    if int(counts.sum()) != size or (len(runs) and (starts[0] != 0 or
                                                     (starts[1:] != np.cumsum(counts)[:-1]).any())):
        raise ValueError(f"the chunk rows of {len(runs)} articles are not {size} rows, article after article")
    return np.repeat(np.array([position for _, position, _ in runs], dtype=np.int64), counts)


class SegmentReader:
    """One segment opened for reading: its SQLite file and its vectors; rows and positions are its own."""

    def __init__(self, index_dir: Path, segment: Segment, dimension: int, milvus_token: str = ""):
        self.index_dir = index_dir
        self.segment = segment
        self.deleted = frozenset(segment.deleted)
        path = index_dir / segment.chunks_file
        if not path.exists():
            raise incomplete(index_dir, path.name)
        self.path = path
        self.vectors: VectorStore = open_vectors(index_dir, segment.id, segment.vectors, dimension, segment.chunks,
                                                 milvus_token)
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        try:
            with damage_check(index_dir, path.name):
                self._check_counts()
            self.has_annotations = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'annotations'").fetchone() is not None
        except BaseException:
            self.close()
            raise

    def _check_counts(self) -> None:
        """The metadata holds the rows the manifest counts: a damaged or foreign SQLite file fails here, once."""
        (chunks,), (articles,) = (self.db.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("chunks",
                                                                                                     "articles"))
        want = (self.segment.chunks, self.segment.articles)
        if (chunks, articles) != want or self.vectors.size != chunks:
            raise damaged(self.index_dir, f"{self.path.name} holds {chunks} chunks and {articles} articles, the"
                          f" vectors {self.vectors.size} rows, the manifest counts {want[0]} chunks and {want[1]}"
                          " articles")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with damage_check(self.index_dir, self.path.name):
            return self.db.execute(sql, params).fetchall()

    def rows(self, sql: str, params: Sequence[Any] = (), batch: int = 1000) -> Iterator[tuple]:
        """The rows of `sql` a batch at a time, on a cursor of its own (a merge streams a segment's texts)."""
        with damage_check(self.index_dir, self.path.name):
            cursor = self.db.execute(sql, params)
            while found := cursor.fetchmany(batch):
                yield from found

    def postings(self, part: str, size: int) -> Postings:
        folder = self.index_dir / self.segment.bm25_dir / part
        try:
            return Postings.load(folder, size)
        except FileNotFoundError:
            raise damaged(self.index_dir, f"{folder.relative_to(self.index_dir)} is missing") from None
        except Exception as exc:  # numpy and json raise many kinds on a damaged file
            raise damaged(self.index_dir, f"{folder.relative_to(self.index_dir)} cannot be read: {exc}") from None

    def close(self) -> None:
        self.vectors.close()
        self.db.close()


@contextlib.contextmanager
def damage_check(index_dir: Path, what: str):
    """Errors of a damaged SQLite file, as the one message that says to rebuild."""
    try:
        yield
    except sqlite3.Error as exc:
        raise damaged(index_dir, f"{what}: {exc}") from None


ARTICLE_COLUMNS = "id, doc_id, source, title, published, url, text, furniture, aliases"


_MISSING = object()


def _untracked(lines: int, text: str) -> tuple[int, dict[int, tuple[tuple, ...]]]:
    """An annotation kept as plain tuples by line, which the garbage collector stops tracking (it tracks named
    tuples for ever): the 5,000 annotations kept were some 170,000 objects that every full collection walked, about
    110 ms of each pause on the archive (a full collection after the 206 rtqa2022 questions: 290 ms, 180 ms
    without)."""
    return int(lines), LineSpans.group(span_rows(text))


class _Recent:
    """The last `size` values read, the least recently used dropped first: a server reads an archive's articles
    over days, and its memory must not grow with them. Threads may share it (a race only costs a reread)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        """The value kept for `key` (which may be None), or _MISSING."""
        value = self._items.get(key, _MISSING)
        if value is not _MISSING:
            with contextlib.suppress(KeyError):  # another thread dropped it meanwhile: it is still returned
                self._items.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> Any:
        self._items[key] = value
        while len(self._items) > self.size:
            with contextlib.suppress(KeyError):  # another thread emptied it meanwhile
                self._items.popitem(last=False)
        return value


class IndexReader:
    """The segments a manifest names, read as one index: rows and article positions are numbered segment after
    segment; deleted articles are never returned and score nothing."""

    def __init__(self, index_dir: Path, manifest: Manifest, milvus_token: str = ""):
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        check_file_sizes(self.index_dir, manifest)
        self.parts: list[SegmentReader] = []
        try:
            for segment in manifest.segments:
                self.parts.append(SegmentReader(self.index_dir, segment, manifest.dimension, milvus_token))
        except BaseException:
            self.close()
            raise
        self.row_offsets = np.cumsum([0, *(s.chunks for s in manifest.segments)]).astype(np.int64)
        self.article_offsets = np.cumsum([0, *(s.articles for s in manifest.segments)]).astype(np.int64)
        self._articles = _Recent(ARTICLES_KEPT)
        self._annotations = _Recent(ANNOTATIONS_KEPT)
        self._layout: ArticleLayout | None = None
        self._holder_of: dict[str, int] | None = None

    @property
    def has_deletions(self) -> bool:
        return any(part.deleted for part in self.parts)

    @contextlib.contextmanager
    def damage_check(self, what: str = ""):
        with damage_check(self.index_dir, what or "the index's SQLite files"):
            yield

    def warm_up(self) -> None:
        """Read now what the first question would: the layout, both BM25 indexes and the table of segments (about
        a second on an 11,000-article archive)."""
        self._holders()
        _ = self.bm25, self.article_bm25

    @functools.cached_property
    def bm25(self) -> Bm25:
        """BM25 over chunks, row for row with the vectors. Loaded on first use: `rag list` does not need it."""
        return self._open_bm25("chunks", self.layout().live_rows, self.row_offsets)

    @functools.cached_property
    def article_bm25(self) -> Bm25:
        """BM25 over whole articles (title and text), one document per article position."""
        return self._open_bm25("articles", self.layout().live, self.article_offsets)

    def _open_bm25(self, kind: str, live: np.ndarray, offsets: np.ndarray) -> Bm25:
        """Every segment's postings of `kind` ("chunks" or "articles", as many documents as the segment holds of
        them), with the live documents of each."""
        return Bm25([p.postings(kind, getattr(p.segment, kind)) for p in self.parts], self._split(live, offsets))

    def _split(self, mask: np.ndarray, offsets: np.ndarray) -> list[np.ndarray | None]:
        """`mask` cut at the segments' offsets; None for a segment that deletes nothing."""
        return [mask[offsets[i]:offsets[i + 1]] if part.deleted else None for i, part in enumerate(self.parts)]

    @property
    def article_count(self) -> int:
        """Article positions, deleted ones included."""
        return int(self.article_offsets[-1])

    def layout(self) -> ArticleLayout:
        """Per-row and per-article arrays that retrieval filters and groups by; read once per opened index."""
        if self._layout is None:
            try:
                with self.damage_check():
                    self._layout = ArticleLayout.joined([
                        ArticleLayout.read(p.db, p.segment.chunks, p.segment.articles, p.deleted)
                        for p in self.parts])
            except (KeyError, IndexError, ValueError) as exc:
                raise damaged(self.index_dir, f"its chunks and articles do not match ({exc!r})") from None
        return self._layout

    @property
    def size(self) -> int:
        """Chunk rows, those of deleted articles included."""
        return int(self.row_offsets[-1])

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def _where(self, rows: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
        """(position in `rows`, segment row) of each row, by segment."""
        found: dict[int, list[tuple[int, int]]] = {}
        segment_of = np.searchsorted(self.row_offsets, np.asarray(rows, dtype=np.int64), side="right") - 1
        for at, (row, index) in enumerate(zip(rows, segment_of.tolist(), strict=True)):
            if not 0 <= row < self.size:
                raise damaged(self.index_dir, f"chunk row {row} is not in the index")
            found.setdefault(index, []).append((at, int(row - self.row_offsets[index])))
        return found

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top k rows by inner product over every segment; with a mask, only rows where it is True. Rows of
        deleted articles are never found."""
        if self.has_deletions:
            live = self.layout().live_rows
            mask = live if mask is None else (mask & live)
        rows: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for index, part in enumerate(self.parts):
            start, stop = int(self.row_offsets[index]), int(self.row_offsets[index + 1])
            allowed = None if mask is None else mask[start:stop]
            if allowed is not None and allowed.all():
                allowed = None
            if stop == start or (allowed is not None and not allowed.any()):
                continue
            as_arrays = getattr(part.vectors, "search_arrays", None)
            if allowed is None and as_arrays is not None:
                found, found_scores = as_arrays(query, k)
            else:
                pairs = part.vectors.search(query, k, allowed)
                found = np.array([row for row, _ in pairs], dtype=np.int64)
                found_scores = np.array([score for _, score in pairs], dtype=np.float64)
            rows.append(np.asarray(found, dtype=np.int64) + start)
            scores.append(found_scores)
        if not rows:
            return []
        all_rows, all_scores = np.concatenate(rows), np.concatenate(scores)
        if len(rows) > 1:  # best first; ties in segment order, as the segments found them
            best = np.argsort(-all_scores, kind="stable")[:k]
            all_rows, all_scores = all_rows[best], all_scores[best]
        return list(zip(all_rows[:k].tolist(), all_scores[:k].tolist(), strict=True))

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        if not rows:
            return []
        out: list[Chunk | None] = [None] * len(rows)
        for index, wanted in self._where(rows).items():
            part = self.parts[index]
            local = [row for _, row in wanted]
            found = {}
            for start in range(0, len(local), 900):  # SQLite's limit on parameters
                batch = local[start:start + 900]
                found.update({
                    row: Chunk(article_id=a, line_start=s, line_end=e, text=t, embed_text=et)
                    for row, a, s, e, t, et in part.query(
                        "SELECT row, article_id, line_start, line_end, text, embed_text FROM chunks WHERE row IN"
                        f" ({','.join('?' * len(batch))})", batch)
                })
            for at, row in wanted:
                out[at] = found.get(row)
        missing = [rows[i] for i, chunk in enumerate(out) if chunk is None]
        if missing:
            raise damaged(self.index_dir, f"chunk rows {missing[:5]} are missing from the index's SQLite files")
        return out  # type: ignore[return-value]

    def _holder(self, article_id: str) -> SegmentReader | None:
        """The segment where the article is live (the newest, should a build have written it twice). Once the
        layout is read (the first question), a lookup: asking each segment in turn cost a question about 60 SQLite
        queries on a six-segment archive."""
        if self._layout is not None:
            index = self._holders().get(article_id)
            return None if index is None else self.parts[index]
        for part in reversed(self.parts):
            if article_id not in part.deleted and part.query("SELECT 1 FROM articles WHERE id = ?", (article_id,)):
                return part
        return None

    def _holders(self) -> dict[str, int]:
        """The segment of every live article, from the layout (a later segment's copy wins, as in `_holder`)."""
        if self._holder_of is None:
            layout = self.layout()
            segment = np.searchsorted(self.article_offsets, np.arange(len(layout.ids)), side="right") - 1
            self._holder_of = {layout.ids[p]: int(segment[p]) for p in np.flatnonzero(layout.live).tolist()}
        return self._holder_of

    def article(self, article_id: str) -> Article:
        article = self._articles.get(article_id)
        if article is _MISSING:
            part = self._holder(article_id)
            if part is None:
                raise KeyError(article_id)
            found = part.query(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,))
            article = self._articles.put(article_id, self._article(found[0]))
        return article

    def annotation(self, article_id: str) -> Annotation | None:
        """The phrases marked in the article's first lines when it was indexed; None for an index built before
        articles were annotated, or with another annotator."""
        found = self.line_spans(article_id)
        return None if found is None else Annotation(found.lines, found.spans)

    def line_spans(self, article_id: str) -> LineSpans | None:
        """The same as `annotation`, as a question reads it: by line, each line's spans made when asked for."""
        kept = self._annotations.get(article_id)
        if kept is _MISSING:
            row = None
            part = self._holder(article_id) if self.manifest.annotator else None
            if part is not None and part.has_annotations:
                found = part.query("SELECT lines, spans FROM annotations WHERE article_id = ?", (article_id,))
                row = found[0] if found else None
            kept = self._annotations.put(article_id, _untracked(*row) if row else None)
        return None if kept is None else LineSpans(*kept)

    def annotated_ids(self) -> set[str]:
        if not self.manifest.annotator:
            return set()
        return {article_id for part in self.parts if part.has_annotations
                for (article_id,) in part.query("SELECT article_id FROM annotations") if article_id not in part.deleted}

    @property
    def chunks_paths(self) -> list[Path]:
        """The SQLite file of every segment, oldest first."""
        return [part.path for part in self.parts]

    def articles(self) -> list[Article]:
        """Every live article, ordered by source."""
        return [self._article(row) for row in self._live_rows(ARTICLE_COLUMNS, source_at=2)]

    def headers(self) -> list[tuple[str, str, str, str, str]]:
        """Every live article's id, source, title, date and corpus id, ordered by source, without reading a text:
        the articles table keeps its small columns first."""
        return self._live_rows("id, source, title, published, doc_id", source_at=1)

    def _live_rows(self, columns: str, source_at: int) -> list[tuple]:
        """`columns` (the id first) of every live article of every segment, ordered by source (column
        `source_at`)."""
        found = [row for part in self.parts
                 for row in part.query(f"SELECT {columns} FROM articles ORDER BY source") if row[0] not in part.deleted]
        if len(self.parts) > 1:
            found.sort(key=lambda row: row[source_at])
        return found

    def _article(self, row: tuple) -> Article:
        try:
            return article_from_row(row)
        except (ValueError, TypeError) as exc:
            raise damaged(self.index_dir, f"an article of the index cannot be read: {exc}") from None

    def chunk_rows_by_article(self) -> dict[str, list[int]]:
        """Chunk rows of every live article, in row order."""
        rows: dict[str, list[int]] = {}
        for index, part in enumerate(self.parts):
            offset = int(self.row_offsets[index])
            for row, article_id in part.query("SELECT row, article_id FROM chunks ORDER BY row"):
                if article_id not in part.deleted:
                    rows.setdefault(article_id, []).append(row + offset)
        return rows

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(rows), self.manifest.dimension), dtype=np.float32)
        for index, wanted in self._where(rows).items():
            out[[at for at, _ in wanted]] = self.parts[index].vectors.vectors([row for _, row in wanted])
        return out

    def all_vectors(self) -> np.ndarray:
        if not self.parts:
            return np.zeros((0, self.manifest.dimension), dtype=np.float32)
        return np.concatenate([part.vectors.all_vectors() for part in self.parts])

    def chunks_of(self, article_id: str) -> list[Chunk]:
        part = self._holder(article_id)
        if part is None:
            return []
        return [
            Chunk(article_id=a, line_start=s, line_end=e, text=t, embed_text=et)
            for a, s, e, t, et in part.query(
                "SELECT article_id, line_start, line_end, text, embed_text FROM chunks WHERE article_id = ?"
                " ORDER BY row",
                (article_id,),
            )
        ]


def article_from_row(row: tuple) -> Article:
    article_id, doc_id, source, title, published, url, text, furniture, aliases = row
    return Article(id=article_id, doc_id=doc_id, source=source, title=title, published=published, url=url,
                   text=text, furniture=json.loads(furniture), aliases=json.loads(aliases))


def segment_file_sizes(index_dir: Path, segment: Segment) -> dict[str, int]:
    """Bytes of each file of a segment, by path relative to the index folder."""
    names = [segment.chunks_file, *(p.relative_to(index_dir).as_posix()
                                    for p in sorted((index_dir / segment.bm25_dir).rglob("*")) if p.is_file())]
    if "file" in segment.vectors:
        names.append(segment.vectors["file"])
    return {name: (index_dir / name).stat().st_size for name in names}


def check_file_sizes(index_dir: Path, manifest: Manifest) -> None:
    """Every file the manifest recorded is there, at its size: a truncated or missing file is told at once."""
    for name, size in manifest.file_sizes.items():
        try:
            actual = (index_dir / name).stat().st_size
        except FileNotFoundError:
            raise damaged(index_dir, f"{name} is missing") from None
        except OSError as exc:
            raise damaged(index_dir, f"{name} cannot be read: {exc.strerror or exc}") from None
        if actual != size:
            raise damaged(index_dir, f"{name} is {actual:,} bytes, the manifest says {size:,}: it was truncated"
                          " or changed")


def open_index(index_dir: Path, embedder: str, dimension: int | None = None, milvus_token: str = "") -> IndexReader:
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise IndexMissingError(f"there is no index in {index_dir}; build one with `rag index PATH...`")
    check_compatible(manifest, Path(index_dir), embedder, dimension)
    return IndexReader(Path(index_dir), manifest, milvus_token)
