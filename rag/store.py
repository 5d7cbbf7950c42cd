"""The index on disk: chunk vectors (rag/vectorstore.py), chunk and article metadata in SQLite, BM25, a manifest.

Every build writes a new generation (`chunks-<g>.sqlite`, `bm25-<g>/`, and the vectors: `vectors-<g>.faiss` or a
Milvus collection `<prefix>_g<g>`) and then replaces `manifest.json` atomically; the manifest names the generation
in force and the vector store that holds it. A build that dies before that rename leaves the previous generation,
and the manifest that names it, untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import CitelineError, IndexMismatchError, IndexMissingError, damaged, rebuild_hint
from rag.lexical import Bm25Index
from rag.schema import Annotation, Article, Chunk
from rag.vectorstore import (
    VectorStore,
    VectorStoreConfig,
    discard_vectors,
    drop_stale_vectors,
    incomplete,
    open_vectors,
    write_vectors,
)

FORMAT_VERSION = 2
ANNOTATIONS_KEPT = 5000  # articles' annotations kept in memory once read (a few KB each)
MANIFEST = "manifest.json"
_GENERATION_FILE = re.compile(r"^(?:chunks|bm25)-(\d+)(?:\.sqlite|)(?:\.tmp.*)?$")  # vectors: the backends
FAISS_FLAT = {"backend": "faiss", "index": "flat"}  # what a manifest without a vector_store record means
# A generation's metadata under its final name: it is renamed into place just before the manifest is written,
# so a folder holding one has held a complete index (a build killed earlier leaves only temporary files).
_INDEX_DATA = re.compile(r"^(?:manifest\.json|chunks-\d+\.sqlite)$")

_SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, source TEXT NOT NULL, title TEXT NOT NULL,
    published TEXT NOT NULL, url TEXT NOT NULL, text TEXT NOT NULL, furniture TEXT NOT NULL,
    aliases TEXT NOT NULL, position INTEGER NOT NULL UNIQUE
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


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`. The file gets the
    permissions the umask gives any new file (mkstemp's 0600 kept other users from reading the index)."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def current_umask() -> int:
    """The process's umask, read where the kernel shows it (no umask() round trip, which races threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


@dataclass
class Manifest:
    """What the index was built with and from. Stored as JSON; never unpickled."""

    embedder: str
    dimension: int
    chunking: dict[str, Any]
    generation: int = 0
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # absolute path -> sha256, size, articles
    counts: dict[str, int] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    created: str = ""
    updated: str = ""
    vector_store: dict[str, Any] = field(default_factory=lambda: dict(FAISS_FLAT))  # set by write_generation
    annotator: str = ""  # the pipeline and rules that marked the articles' phrases (rag/nlp.py); "" for none
    # Size of every file of the generation, relative to the index folder: a truncated file is told at once.
    file_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def chunks_file(self) -> str:
        return f"chunks-{self.generation:06d}.sqlite"

    @property
    def bm25_dir(self) -> str:
        return f"bm25-{self.generation:06d}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": self.format_version,
                "embedder": {"name": self.embedder, "dimension": self.dimension},
                "chunking": self.chunking,
                "generation": self.generation,
                "files": {"chunks": self.chunks_file, "bm25": self.bm25_dir,
                          **({"vectors": self.vector_store["file"]} if "file" in self.vector_store else {})},
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
        from rag.manifest_check import checked

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
    ids: list[str]  # article id by position
    sources: list[str]  # source by position
    keys: list[set[str]]  # doc ids, aliases and source of each position
    days: np.ndarray  # publication day (date ordinal) by position, 0 when unknown
    row_article: np.ndarray  # article position of every chunk row

    @classmethod
    def read(cls, db: sqlite3.Connection, size: int, count: int) -> ArticleLayout:
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
        row_article = np.zeros(size, dtype=np.int64)
        for row, article_id in db.execute("SELECT row, article_id FROM chunks"):
            row_article[row] = positions[article_id]
        return cls(ids, sources, keys, days, row_article)


class IndexReader:
    """An open generation of the index: vector search plus metadata look-ups."""

    def __init__(self, index_dir: Path, manifest: Manifest, milvus_token: str = ""):
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        chunks = self.index_dir / manifest.chunks_file
        if not chunks.exists():
            raise incomplete(index_dir, chunks.name)
        check_file_sizes(self.index_dir, manifest)
        self.vector_store: VectorStore = open_vectors(self.index_dir, manifest.generation, manifest.vector_store,
                                                      manifest.dimension, int(manifest.counts.get("chunks", 0)),
                                                      milvus_token)
        self.db = sqlite3.connect(f"file:{chunks}?mode=ro", uri=True, check_same_thread=False)
        try:
            with self.damage_check():
                self._check_counts()
        except BaseException:
            self.close()
            raise
        self._articles: dict[str, Article] = {}
        self._annotations: OrderedDict[str, Annotation | None] = OrderedDict()  # the last ANNOTATIONS_KEPT read
        self._has_annotations = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'annotations'").fetchone() is not None
        self._bm25: Bm25Index | None = None
        self._article_bm25: Bm25Index | None = None
        self._layout: ArticleLayout | None = None

    def _check_counts(self) -> None:
        """The metadata holds the rows the manifest counts: a damaged or foreign SQLite file fails here, once."""
        (chunks,), (articles,) = (self.db.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("chunks",
                                                                                                     "articles"))
        want = (int(self.manifest.counts.get("chunks", chunks)), self.manifest.counts.get("articles", articles))
        if (chunks, articles) != want or self.vector_store.size != chunks:
            raise damaged(self.index_dir, f"{self.manifest.chunks_file} holds {chunks} chunks and {articles}"
                          f" articles, the vectors {self.vector_store.size} rows, the manifest counts {want[0]}"
                          f" chunks and {want[1]} articles")

    @contextlib.contextmanager
    def damage_check(self, what: str = ""):
        """Errors of a damaged SQLite file, as the one message that says to rebuild."""
        try:
            yield
        except sqlite3.Error as exc:
            raise damaged(self.index_dir, f"{what or self.manifest.chunks_file}: {exc}") from None

    def _load_bm25(self, part: str, size: int) -> Bm25Index:
        folder = self.index_dir / self.manifest.bm25_dir / part
        try:
            return Bm25Index.load(folder, size)
        except FileNotFoundError:
            raise damaged(self.index_dir, f"{folder.relative_to(self.index_dir)} is missing") from None
        except Exception as exc:  # bm25s and numpy raise many kinds on a damaged file
            raise damaged(self.index_dir, f"{folder.relative_to(self.index_dir)} cannot be read: {exc}") from None

    @property
    def bm25(self) -> Bm25Index:
        """BM25 over chunks, row for row with the vectors. Loaded on first use: `rag list` does not need it."""
        if self._bm25 is None:
            self._bm25 = self._load_bm25("chunks", self.size)
        return self._bm25

    @property
    def article_bm25(self) -> Bm25Index:
        """BM25 over whole articles (title and text), one row per article position."""
        if self._article_bm25 is None:
            self._article_bm25 = self._load_bm25("articles", self.article_count)
        return self._article_bm25

    @property
    def article_count(self) -> int:
        return int(self.manifest.counts.get("articles", 0))

    def layout(self) -> ArticleLayout:
        """Per-row and per-article arrays that retrieval filters and groups by; read once per generation."""
        if self._layout is None:
            try:
                with self.damage_check():
                    self._layout = ArticleLayout.read(self.db, self.size, self.article_count)
            except (KeyError, IndexError, ValueError) as exc:
                raise damaged(self.index_dir, f"its chunks and articles do not match ({exc!r})") from None
        return self._layout

    @property
    def size(self) -> int:
        return self.vector_store.size

    def close(self) -> None:
        self.vector_store.close()
        self.db.close()

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top k rows by inner product; with a mask, only rows where it is True."""
        return self.vector_store.search(query, k, mask)

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        found = {
            row: Chunk(article_id=a, line_start=s, line_end=e, text=t, embed_text=et)
            for row, a, s, e, t, et in self._query(
                f"SELECT row, article_id, line_start, line_end, text, embed_text FROM chunks WHERE row IN ({marks})",
                list(rows),
            )
        }
        missing = [r for r in rows if r not in found]
        if missing:
            raise damaged(self.index_dir, f"chunk rows {missing[:5]} are missing from {self.manifest.chunks_file}")
        return [found[r] for r in rows]

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a metadata query; a damaged SQLite file is a message, not a traceback."""
        with self.damage_check():
            return self.db.execute(sql, params).fetchall()

    def article(self, article_id: str) -> Article:
        if article_id not in self._articles:
            found = self._query(
                "SELECT id, doc_id, source, title, published, url, text, furniture, aliases FROM articles WHERE id = ?",
                (article_id,),
            )
            if not found:
                raise KeyError(article_id)
            self._articles[article_id] = self._article(found[0])
        return self._articles[article_id]

    def annotation(self, article_id: str) -> Annotation | None:
        """The phrases marked in the article's first lines when it was indexed; None for an index built before
        articles were annotated, or with another annotator."""
        if article_id in self._annotations:
            self._annotations.move_to_end(article_id)
            return self._annotations[article_id]
        row = None
        if self._has_annotations and self.manifest.annotator:
            row = self.db.execute("SELECT lines, spans FROM annotations WHERE article_id = ?",
                                  (article_id,)).fetchone()
        annotation = self._annotations[article_id] = Annotation.from_json(*row) if row else None
        while len(self._annotations) > ANNOTATIONS_KEPT:
            self._annotations.popitem(last=False)
        return annotation

    def annotated_ids(self) -> set[str]:
        if not (self._has_annotations and self.manifest.annotator):
            return set()
        return {article_id for (article_id,) in self.db.execute("SELECT article_id FROM annotations")}

    @property
    def chunks_path(self) -> Path:
        return self.index_dir / self.manifest.chunks_file

    def articles(self) -> list[Article]:
        rows = self._query(
            "SELECT id, doc_id, source, title, published, url, text, furniture, aliases FROM articles ORDER BY source"
        )
        return [self._article(r) for r in rows]

    def _article(self, row: tuple) -> Article:
        try:
            return _article_from_row(row)
        except (ValueError, TypeError) as exc:
            raise damaged(self.index_dir, f"an article of {self.manifest.chunks_file} cannot be read: {exc}") from None

    def article_rows(self) -> dict[str, list[int]]:
        """Chunk rows of every article, in row order."""
        rows: dict[str, list[int]] = {}
        for row, article_id in self._query("SELECT row, article_id FROM chunks ORDER BY row"):
            rows.setdefault(article_id, []).append(row)
        return rows

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        return self.vector_store.vectors(rows)

    def all_vectors(self) -> np.ndarray:
        return self.vector_store.all_vectors()

    def chunks_of(self, article_id: str) -> list[Chunk]:
        return [
            Chunk(article_id=a, line_start=s, line_end=e, text=t, embed_text=et)
            for a, s, e, t, et in self._query(
                "SELECT article_id, line_start, line_end, text, embed_text FROM chunks WHERE article_id = ?"
                " ORDER BY row",
                (article_id,),
            )
        ]


def _article_from_row(row: tuple) -> Article:
    article_id, doc_id, source, title, published, url, text, furniture, aliases = row
    return Article(id=article_id, doc_id=doc_id, source=source, title=title, published=published, url=url,
                   text=text, furniture=json.loads(furniture), aliases=json.loads(aliases))


def generation_file_sizes(index_dir: Path, manifest: Manifest) -> dict[str, int]:
    """Bytes of each file of the manifest's generation, by path relative to the index folder."""
    names = [manifest.chunks_file, *(p.relative_to(index_dir).as_posix()
                                      for p in sorted((index_dir / manifest.bm25_dir).rglob("*")) if p.is_file())]
    if "file" in manifest.vector_store:
        names.append(manifest.vector_store["file"])
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


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    articles: Iterable[Article],
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    store: VectorStoreConfig | None = None,
    annotations: Mapping[str, Annotation] | None = None,
    carry_annotations: Path | None = None,
) -> Manifest:
    """Write a new generation and make it the one in force. Returns the manifest as written.

    `annotations` are new articles' phrases; those of the other articles are copied from the generation file
    `carry_annotations` (the previous one), without being read into memory.
    """
    store = store or VectorStoreConfig()
    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        previous = read_manifest(index_dir)
    except IndexMismatchError:  # an unreadable manifest is being replaced by a rebuild
        previous = None
    generation = max(manifest.generation, previous.generation if previous else 0) + 1
    manifest.generation = generation
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest.created = manifest.created or (previous.created if previous else "") or now
    manifest.updated = now

    chunks_path = index_dir / manifest.chunks_file
    bm25_path = index_dir / manifest.bm25_dir
    tmp_chunks = chunks_path.with_name(chunks_path.name + f".tmp{os.getpid()}")
    tmp_bm25 = bm25_path.with_name(bm25_path.name + f".tmp{os.getpid()}")
    written: dict[str, Any] | None = None
    try:
        articles = list(articles)
        Bm25Index.build([c.embed_text for c in chunks]).save(tmp_bm25 / "chunks")
        Bm25Index.build([article_search_text(a) for a in articles]).save(tmp_bm25 / "articles")
        for part in tmp_bm25.glob("*/*"):
            _fsync_file(part)
        _write_sqlite(tmp_chunks, articles, chunks, annotations or {}, carry_annotations)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), manifest.dimension)
        written = write_vectors(index_dir, generation, vectors, store)  # durable, not yet in force
        manifest.vector_store = written
        os.replace(tmp_chunks, chunks_path)
        shutil.rmtree(bm25_path, ignore_errors=True)
        os.replace(tmp_bm25, bm25_path)
        fsync_dir(index_dir)
        manifest.file_sizes = generation_file_sizes(index_dir, manifest)
        atomic_write_text(index_dir / MANIFEST, manifest.to_json())  # the commit point
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_chunks.unlink()
        shutil.rmtree(tmp_bm25, ignore_errors=True)
        if written is not None:
            with contextlib.suppress(Exception):
                committed = read_manifest(index_dir)  # an interrupt may land just after the commit
                if committed is None or committed.generation != generation:
                    discard_vectors(index_dir, generation, written, store.milvus_token)
        raise
    # The previous generation stays until the next build, for readers that opened it a moment ago.
    remove_stale_generations(index_dir, keep={generation, previous.generation if previous else generation},
                             stores=[manifest.vector_store, *([previous.vector_store] if previous else [])],
                             milvus_token=store.milvus_token)
    return manifest


def remove_stale_generations(index_dir: Path, keep: set[int], stores: Sequence[dict[str, Any]] = (),
                             milvus_token: str = "") -> None:
    """Files and vectors of generations not kept, and temporary files: left by earlier builds or by one that died.

    `stores` are the vector store records of the new generation and of the previous one. Best effort: the new
    generation is in force already, and what is left here goes at the next build.
    """
    for path in Path(index_dir).iterdir():
        match = _GENERATION_FILE.match(path.name)
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


def _write_sqlite(path: Path, articles: Iterable[Article], chunks: Sequence[Chunk],
                  annotations: Mapping[str, Annotation], carry_from: Path | None) -> None:
    """The metadata of a generation. SQLite's own errors (a full disk) are OSErrors here, as other writes' are."""
    try:
        _fill_sqlite(path, articles, chunks, annotations, carry_from)
    except sqlite3.Error as exc:
        raise OSError(f"SQLite could not write {path.name}: {exc}") from None
    _fsync_file(path)


def _fill_sqlite(path: Path, articles: Iterable[Article], chunks: Sequence[Chunk],
                 annotations: Mapping[str, Annotation], carry_from: Path | None) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    db = sqlite3.connect(path)
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        db.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (a.id, a.doc_id, a.source, a.title, a.published, a.url, a.text, json.dumps(a.furniture),
                 json.dumps(a.aliases), position)
                for position, a in enumerate(articles)
            ),
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
            ((row, c.article_id, c.line_start, c.line_end, c.text, c.embed_text) for row, c in enumerate(chunks)),
        )
        db.executemany("INSERT INTO annotations VALUES (?, ?, ?)",
                       ((article_id, a.lines, a.to_json()) for article_id, a in annotations.items()))
        if carry_from is not None:
            db.execute("ATTACH DATABASE ? AS old", (str(carry_from),))
            db.execute("INSERT OR IGNORE INTO annotations SELECT a.article_id, a.lines, a.spans FROM old.annotations a"
                       " WHERE a.article_id IN (SELECT id FROM articles)")
            db.commit()
            db.execute("DETACH DATABASE old")
        db.commit()
    finally:
        db.close()
