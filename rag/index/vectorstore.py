"""Where chunk vectors live: FAISS files in the index folder (default) or Milvus, each a backend
(rag/index/vector_base.py) chosen by name from a registry.

Row r of a vector store is chunk row r of the metadata (SQLite `chunks.row`), 0..size-1. The manifest's
`vector_store` record says which backend holds a generation and how, so reading never depends on the settings.
A backend's module is imported when an index uses it: pymilvus takes a second or two the FAISS path must not pay.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.index.vector_base import BACKENDS, VectorBackend, VectorStore, VectorStoreConfig

_MODULES = {"faiss": "rag.index.faiss_store", "milvus": "rag.index.milvus_store"}
assert set(_MODULES) == set(BACKENDS)


def backend(name: str) -> VectorBackend:
    """The backend called `name` ("faiss" or "milvus"), as settings and manifests name them."""
    return importlib.import_module(_MODULES[name]).BACKEND


def _of(record: dict[str, Any]) -> VectorBackend:
    return backend(record.get("backend", "faiss"))


def write_vectors(index_dir: Path, generation: int, vectors: np.ndarray, config: VectorStoreConfig) -> dict[str, Any]:
    """Store generation `generation` durably (not yet in force) and return its manifest record."""
    return backend(config.backend).write(index_dir, generation, vectors, config)


def check_reachable(index_dir: Path, config: VectorStoreConfig) -> None:
    """Fail before a long embedding run, not after it, when the store cannot be reached."""
    backend(config.backend).check_reachable(index_dir, config)


def open_vectors(index_dir: Path, generation: int, record: dict[str, Any], dimension: int, size: int,
                 milvus_token: str = "") -> VectorStore:
    """The generation a manifest names, read the way its record says (whatever the settings say now)."""
    return _of(record).open(index_dir, generation, record, dimension, size, milvus_token)


def discard_vectors(index_dir: Path, generation: int, record: dict[str, Any], milvus_token: str = "") -> None:
    """Undo write_vectors for a generation that was never committed."""
    _of(record).discard(index_dir, generation, record, milvus_token)


def drop_stale_vectors(index_dir: Path, keep: set[int], records: Sequence[dict[str, Any]],
                       milvus_token: str = "") -> None:
    """Drop vectors of generations not in `keep`, also those a killed build left behind.

    `records[0]` is the generation just committed, `records[1:]` the one before. FAISS files in the index folder
    are always looked for (cheap, and a rebuild may have moved the index away from FAISS); every other backend a
    record names drops its own. Best effort: what fails here goes at the next build.
    """
    for name in dict.fromkeys(["faiss", *(r.get("backend", "faiss") for r in records)]):
        backend(name).drop_stale(index_dir, keep, records, milvus_token)
