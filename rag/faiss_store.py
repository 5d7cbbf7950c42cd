"""The default vector store: one FAISS file per generation in the index folder, exact or HNSW by size."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexMismatchError
from rag.vectorstore import (
    ANN_THRESHOLD,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    RECALL_TARGET,
    beam,
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
    """Exact IndexFlatIP up to `ann_threshold` rows; above, HNSW whose efSearch is raised until recall@10 >= 0.99."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    record: dict[str, Any] = {"backend": "faiss", "file": file_name(generation), "index": "flat"}
    index = None
    if len(vectors) > ann_threshold:
        index, details = _build_hnsw(vectors)
        record.update(details)
    if index is None:
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
    path = Path(index_dir) / record["file"]
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        faiss.write_index(index, str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return record


def _build_hnsw(vectors: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """An HNSW index and its manifest details; (None, why) when no efSearch reaches the recall target."""
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(vectors)

    def search(queries: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        return index.search(queries, k, params=faiss.SearchParametersHNSW(efSearch=max(ef, k)))

    ef, recall = tune_ef(search, vectors)
    if ef is None:
        return None, {"index": "flat", "note": f"HNSW reached recall@10 {recall:.4f} < {RECALL_TARGET} at efSearch"
                      f" {HNSW_EF_SEARCH[-1]}; exact search instead"}
    index.hnsw.efSearch = ef
    return index, {"index": "hnsw", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": ef,
                   "recall_at_10": round(recall, 4)}


def open_store(index_dir: Path, generation: int, record: dict[str, Any], dimension: int) -> FaissStore:
    import faiss

    path = Path(index_dir) / record.get("file", file_name(generation))
    if not path.exists():
        raise incomplete(index_dir, path.name)
    index = faiss.read_index(str(path))
    if index.d != dimension:
        raise IndexMismatchError(f"{path} holds {index.d}-dimensional vectors, the manifest says {dimension};"
                                 f" re-index with `rag index --rebuild PATH... --index-dir {index_dir}`")
    return FaissStore(index, int(record.get("ef_search", 0)))


def drop(index_dir: Path, generation: int) -> None:
    with contextlib.suppress(OSError):
        (Path(index_dir) / file_name(generation)).unlink()


def drop_stale(index_dir: Path, keep: set[int]) -> None:
    for path in Path(index_dir).iterdir():
        match = _FILE.match(path.name)
        if match and (int(match.group(1)) not in keep or ".tmp" in path.name):
            with contextlib.suppress(OSError):
                path.unlink()


class FaissStore:
    """A FAISS index in memory. Searches are read-only, so threads may share it."""

    def __init__(self, index: Any, ef_search: int = 0):
        self.index = index
        self.ef_search = ef_search  # > 0 for HNSW

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        import faiss

        n = self.size
        if n == 0 or k < 1:
            return []
        vector = np.asarray(query, dtype=np.float32).reshape(1, -1)
        rows = None if allowed is None else np.flatnonzero(allowed).astype(np.int64)
        if rows is None or len(rows) == n:
            k = min(k, n)
            params = faiss.SearchParametersHNSW(efSearch=beam(self.ef_search, k)) if self.ef_search else None
            return _pairs(*self.index.search(vector, k, params=params))
        if not len(rows):
            return []
        k = min(k, len(rows))
        selector = faiss.IDSelectorBatch(rows)
        if self.ef_search and len(rows) > EXACT_FILTER_ROWS:
            # The walk skips rows outside the filter: a wider beam keeps about the same recall.
            ef = beam(self.ef_search, k, len(rows) / n)
            found = _pairs(*self.index.search(vector, k, params=faiss.SearchParametersHNSW(efSearch=ef,
                                                                                             sel=selector)))
            if len(found) == k:
                return found
        flat = faiss.downcast_index(self.index.storage) if self.ef_search else self.index
        return _pairs(*flat.search(vector, k, params=faiss.SearchParameters(sel=selector)))

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        if not len(rows):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self.index.reconstruct_batch(np.asarray(rows, dtype=np.int64)), dtype=np.float32)

    def all_vectors(self) -> np.ndarray:
        if not self.size:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self.index.reconstruct_n(0, self.size), dtype=np.float32)

    def close(self) -> None:
        """Nothing to release but memory, which goes with the object: a question under way may still search."""


def _pairs(scores: np.ndarray, rows: np.ndarray) -> list[tuple[int, float]]:
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
