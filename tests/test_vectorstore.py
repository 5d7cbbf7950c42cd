"""rag/index/vectorstore.py and vector_base.py: the registry of vector backends and a generation's life in the
FAISS one (write, open, search, discard, drop when stale). Milvus: tests/test_milvus*.py."""

from __future__ import annotations

import numpy as np
import pytest

from rag.index.vector_base import BACKENDS, VectorBackend, VectorStoreConfig, beam, is_server_uri, recall_at
from rag.index.vectorstore import backend, discard_vectors, drop_stale_vectors, open_vectors, write_vectors


def _vectors(rows: int = 50, dimension: int = 8) -> np.ndarray:
    vectors = np.random.default_rng(0).standard_normal((rows, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[7] = 0  # a chunk without a vector (past the dense_chunks of its article)
    return vectors


def test_every_backend_name_has_a_backend_class():
    assert set(BACKENDS) == {"faiss", "milvus"}
    faiss_backend = backend("faiss")
    assert isinstance(faiss_backend, VectorBackend) and faiss_backend.name == "faiss"


def test_a_generation_is_written_opened_searched_and_dropped(tmp_path):
    vectors = _vectors()
    record = write_vectors(tmp_path, 3, vectors, VectorStoreConfig())
    assert record["backend"] == "faiss" and record["rows"] == 50 and record["vectors"] == 49  # the zero row left out
    store = open_vectors(tmp_path, 3, record, 8, 50)
    try:
        (row, score), *_ = store.search(vectors[5], 3)
        assert row == 5 and score == pytest.approx(1.0, abs=1e-5)
        allowed = np.ones(50, dtype=bool)
        allowed[5] = False
        assert 5 not in [r for r, _ in store.search(vectors[5], 3, allowed)]
        assert np.allclose(store.vectors([5, 9]), vectors[[5, 9]]) and store.all_vectors().shape == (50, 8)
    finally:
        store.close()
    uncommitted = write_vectors(tmp_path, 4, vectors, VectorStoreConfig())
    discard_vectors(tmp_path, 4, uncommitted)
    assert sorted(p.name for p in tmp_path.iterdir()) == [record["file"]]
    newer = write_vectors(tmp_path, 5, vectors, VectorStoreConfig())
    drop_stale_vectors(tmp_path, {5}, [newer, record])
    assert sorted(p.name for p in tmp_path.iterdir()) == [newer["file"]]


def test_the_helpers_of_approximate_search():
    assert beam(64, 10) == 64 and beam(64, 200) >= 200  # never a beam narrower than the results asked for
    assert beam(64, 10, share=0.1) > beam(64, 10)  # a filter that keeps a tenth of the rows widens it
    assert is_server_uri("http://127.0.0.1:19530") and not is_server_uri("milvus.db")
    exact = np.array([[0.9, 0.8, 0.7]])
    assert recall_at(exact, np.array([[1, 2, 3]]), exact) == 1.0
