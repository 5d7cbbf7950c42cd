"""The default vector store: one FAISS file per generation in the index folder, exact or HNSW by size."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexMismatchError, damaged
from rag.index.vector_base import (
    ANN_THRESHOLD,
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    VectorBackend,
    VectorStoreConfig,
    beam,
    hnsw_missed,
    hnsw_record,
    incomplete,
    tune_ef,
)

_FILE = re.compile(r"^vectors-(\d+)\.faiss(?:\.tmp.*)?$")
# A filter that leaves at most this many rows is searched exactly: as cheap as an unfiltered exact search at the
# ANN threshold, and HNSW walks with a narrow filter lose recall.
EXACT_FILTER_ROWS = ANN_THRESHOLD


def file_name(generation: int) -> str:
    return f"vectors-{generation:06d}.faiss"


def write(index_dir: Path, generation: int, vectors: np.ndarray, ann_threshold: int) -> dict[str, Any]:
    """Exact IndexFlatIP up to `ann_threshold` rows; above, HNSW whose efSearch is raised until recall@10 >= 0.99.

    Rows whose vector is all zeros (chunks past an article's `dense_chunks`) are left out of the FAISS index, which
    then maps its entries back to row numbers (IndexIDMap2): they could never be a dense match, and searching them
    would cost time (most of the rows of a large archive are such chunks)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    present = np.flatnonzero(vectors.any(axis=1)) if len(vectors) else np.zeros(0, dtype=np.int64)
    sparse = len(present) < len(vectors)
    stored = vectors[present] if sparse else vectors
    record: dict[str, Any] = {"backend": "faiss", "file": file_name(generation), "index": "flat",
                              "rows": len(vectors), "vectors": len(stored)}
    ids = present.astype(np.int64) if sparse else None
    index = None
    if len(stored) > ann_threshold:
        index, details = _build_hnsw(stored, ids)
        record.update(details)
    if index is None:
        index = _filled(faiss.IndexFlatIP(vectors.shape[1]), stored, ids)
    path = Path(index_dir) / record["file"]
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        try:
            faiss.write_index(index, str(tmp))
        except RuntimeError as exc:  # FAISS reports a failed write (a full disk) as a RuntimeError
            last = (str(exc).strip().splitlines() or ["write error"])[-1]
            raise OSError(f"FAISS could not write {tmp.name}: {last}") from None
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return record


def _filled(index: Any, vectors: np.ndarray, ids: np.ndarray | None) -> Any:
    """`index` holding `vectors`; wrapped to answer with row numbers `ids` when not every row is stored."""
    import faiss

    if ids is None:
        index.add(vectors)
        return index
    mapped = faiss.IndexIDMap2(index)
    mapped.add_with_ids(vectors, ids)
    return mapped


def _build_hnsw(vectors: np.ndarray, ids: np.ndarray | None = None) -> tuple[Any, dict[str, Any]]:
    """An HNSW index and its manifest details; (None, why) when no efSearch reaches the recall target."""
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)  # building the graph is parallel work
    inner = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    wrapper = _filled(inner, vectors, ids)
    index = inner

    def search(queries: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        return index.search(queries, k, params=faiss.SearchParametersHNSW(efSearch=max(ef, k)))

    ef, recall = tune_ef(search, vectors)
    _one_thread_per_query()
    if ef is None:
        return None, {"index": "flat", "note": hnsw_missed(recall)}
    index.hnsw.efSearch = ef
    return wrapper, hnsw_record(ef, recall)


def open_store(index_dir: Path, generation: int, record: dict[str, Any], dimension: int,
               size: int | None = None) -> FaissStore:
    import faiss

    name = record.get("file", file_name(generation))
    if not _FILE.match(name) or ".tmp" in name:  # a plain file of the index folder, never a path out of it
        raise damaged(index_dir, f"the manifest names the vectors file {name!r}")
    path = Path(index_dir) / name
    if not path.is_file():
        raise incomplete(index_dir, path.name)
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:  # FAISS's own errors: a truncated or foreign file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise damaged(index_dir, f"{name} cannot be read by FAISS: {first}") from None
    if index.d != dimension:
        raise IndexMismatchError(f"{path} holds {index.d}-dimensional vectors, the manifest says {dimension};"
                                 f" re-index with `rag index --rebuild PATH... --index-dir {index_dir}`")
    rows = int(record.get("rows", index.ntotal if size is None else size))  # the chunk count, zero rows included
    if "vectors" in record and int(index.ntotal) != int(record["vectors"]):
        raise damaged(index_dir, f"{name} holds {index.ntotal} vectors, the manifest says {record['vectors']}")
    try:
        return FaissStore(index, int(record.get("ef_search", 0)), rows)
    except (IndexError, ValueError) as exc:  # row ids beyond the rows the manifest counts
        raise damaged(index_dir, f"{name} does not match the manifest ({exc})") from None


def drop(index_dir: Path, generation: int) -> None:
    with contextlib.suppress(OSError):
        (Path(index_dir) / file_name(generation)).unlink()


def drop_stale(index_dir: Path, keep: set[int]) -> None:
    for path in Path(index_dir).iterdir():
        match = _FILE.match(path.name)
        if match and (int(match.group(1)) not in keep or ".tmp" in path.name):
            with contextlib.suppress(OSError):
                path.unlink()


def _one_thread_per_query() -> None:
    """One query at a time is answered fastest on one thread: FAISS's OpenMP threads, when the other core is
    busy, turned an exact search of 18,520 vectors from 23 ms into 84 ms here (load 8). Index builds set their
    own thread count (see _build_hnsw)."""
    import faiss

    faiss.omp_set_num_threads(1)


class FaissStore:
    """A FAISS index in memory. Searches are read-only, so threads may share it."""

    def __init__(self, index: Any, ef_search: int = 0, rows: int | None = None):
        import faiss

        _one_thread_per_query()

        self.index = index
        self.ef_search = ef_search  # > 0 for HNSW
        self._rows = int(index.ntotal) if rows is None else rows
        # A sparse store (IndexIDMap2) holds only the rows that have a vector; `position` maps row -> entry.
        self.inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
        self.ids: np.ndarray | None = None
        self.position: np.ndarray | None = None
        if self.inner is not index:
            self.ids = faiss.vector_to_array(index.id_map).astype(np.int64)
            self.position = np.full(self._rows, -1, dtype=np.int64)
            self.position[self.ids] = np.arange(len(self.ids))

    @property
    def size(self) -> int:
        return self._rows

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        import faiss

        stored = int(self.index.ntotal)
        if stored == 0 or k < 1:
            return []
        vector = np.asarray(query, dtype=np.float32).reshape(1, -1)
        rows = None if allowed is None else np.flatnonzero(allowed).astype(np.int64)
        if rows is None or len(rows) == self.size:
            found, scores = self.search_arrays(vector, k)
            return list(zip(found.tolist(), scores.tolist(), strict=True))
        if self.position is not None:
            rows = rows[self.position[rows] >= 0]
        if not len(rows):
            return []
        k = min(k, len(rows))
        selector = faiss.IDSelectorBatch(rows)
        if self.ef_search and len(rows) > EXACT_FILTER_ROWS:
            # The walk skips rows outside the filter: a wider beam keeps about the same recall.
            ef = beam(self.ef_search, k, len(rows) / stored)
            found = _pairs(*self.index.search(vector, k, params=faiss.SearchParametersHNSW(efSearch=ef,
                                                                                             sel=selector)))
            if len(found) == k:
                return found
        # Exact over the allowed rows' vectors.
        scores = self.vectors(rows) @ vector[0]
        best = np.argsort(-scores, kind="stable")[:k]
        return [(int(rows[i]), float(scores[i])) for i in best]

    def search_arrays(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Unfiltered search as arrays (rows, inner products), best first: merging segments' results as arrays
        spares making a tuple of each of the 200 a segment returns (a millisecond a question on six segments)."""
        import faiss

        stored = int(self.index.ntotal)
        if stored == 0 or k < 1:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        k = min(k, stored)
        params = faiss.SearchParametersHNSW(efSearch=beam(self.ef_search, k)) if self.ef_search else None
        scores, rows = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k, params=params)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        if not len(rows):
            return np.zeros((0, self.dimension), dtype=np.float32)
        wanted = np.asarray(rows, dtype=np.int64)
        if self.position is None:
            return np.asarray(self.inner.reconstruct_batch(wanted), dtype=np.float32)
        out = np.zeros((len(wanted), self.dimension), dtype=np.float32)
        entries = self.position[wanted]
        have = entries >= 0
        if have.any():
            out[have] = self.inner.reconstruct_batch(entries[have])
        return out

    def all_vectors(self) -> np.ndarray:
        out = np.zeros((self.size, self.dimension), dtype=np.float32)
        stored = int(self.index.ntotal)
        if stored:
            found = np.asarray(self.inner.reconstruct_n(0, stored), dtype=np.float32)
            if self.ids is None:
                out[:stored] = found
            else:
                out[self.ids] = found
        return out

    def close(self) -> None:
        """Nothing to release but memory, which goes with the object: a question under way may still search."""


def _pairs(scores: np.ndarray, rows: np.ndarray) -> list[tuple[int, float]]:
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]


class FaissBackend(VectorBackend):
    """FAISS files in the index folder, one per generation: `vectors-<generation>.faiss`."""

    name = "faiss"

    def write(self, index_dir: Path, generation: int, vectors: np.ndarray, config: VectorStoreConfig
              ) -> dict[str, Any]:
        return write(index_dir, generation, vectors, config.ann_threshold)

    def open(self, index_dir: Path, generation: int, record: dict[str, Any], dimension: int, size: int,
             token: str = "") -> FaissStore:
        return open_store(index_dir, generation, record, dimension, size)

    def discard(self, index_dir: Path, generation: int, record: dict[str, Any], token: str = "") -> None:
        drop(index_dir, generation)

    def drop_stale(self, index_dir: Path, keep: set[int], records: Sequence[dict[str, Any]], token: str = ""
                   ) -> None:
        drop_stale(index_dir, keep)


BACKEND = FaissBackend()
