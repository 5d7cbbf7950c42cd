"""What every vector backend shares: the store a generation is read through, the backend's interface, the vector
settings, and the approximate-search constants and recall check. The backends (rag/index/faiss_store.py,
rag/index/milvus_store.py) build on this module; rag/index/vectorstore.py picks one by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import IndexMismatchError, SettingsError
from rag.options import Section, flag, setting

BACKENDS = ("faiss", "milvus")
# Exact IndexFlatIP search of one 384-d query (k=200, as retrieval asks) passes ~5 ms at about 25,000 rows on
# this 2-core machine (median of 100 random unit queries over random unit vectors, default 2 faiss threads,
# machine shared with other work: 20,000 rows 4.6 ms, 22,500 4.8 ms, 25,000 5.2 ms, 27,500 5.8 ms, 30,000
# 6.1 ms; 100,000 rows 21 ms). Above it, an approximate (HNSW) index; below, exact search is fast enough.
ANN_THRESHOLD = 25_000
RECALL_TARGET = 0.99  # recall@10 an approximate index must reach against exact search, checked at build time
RECALL_SAMPLE = 200  # indexed vectors used as queries for that check
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = (64, 128, 256, 512, 1024)  # tried in turn until the recall target is met
MAX_EF = 4096


def beam(ef_search: int, k: int, share: float = 1.0) -> int:
    """efSearch for one query: the tuned value, at least 2k, wider when a filter leaves a `share` of the rows.

    The recall check queries with indexed vectors, which sit where the graph is dense; questions do not. On 6,000
    real chunk vectors (rtqa2022) with efSearch 64 tuned, 300 questions got recall@200 0.972 at ef 200 and 0.996
    at ef 400 (recall@10 0.990 at ef 64): retrieval asks for 200 candidates, so the beam is at least 2k.
    """
    return max(k, min(MAX_EF, max(2 * k, int(ef_search / max(share, 1e-9)))))  # never below k


DEFAULT_LITE_FILE = "milvus.db"  # Milvus Lite's data, inside the index folder, when no URI is given
_SERVER_URI = re.compile(r"^(https?|tcp)://|^unix:", re.IGNORECASE)
_COLLECTION_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")


class VectorStore(Protocol):
    """One generation's vectors, opened for reading."""

    @property
    def size(self) -> int:
        """Number of rows."""
        ...

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Up to k (row, inner product) best first; `allowed` is a boolean mask over rows (None: every row)."""
        ...

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of these rows, in this order."""
        ...

    def all_vectors(self) -> np.ndarray:
        """Every row's vector, row order: what an incremental build carries over without embedding again."""
        ...

    def close(self) -> None: ...


class VectorBackend:
    """One place vectors can live. Every backend writes generation g completely before the manifest names it (the
    commit point, in rag/index/store.py), reads the generation a manifest names, and drops the data of generations no
    manifest needs any more. `record` is the manifest's `vector_store` record of a generation."""

    name = ""

    def check_reachable(self, index_dir: Path, config: VectorStoreConfig) -> None:
        """Fail before a long embedding run, not after it, when the store cannot be reached."""

    def write(self, index_dir: Path, generation: int, vectors: np.ndarray, config: VectorStoreConfig
              ) -> dict[str, Any]:
        """Store the generation durably (not yet in force); its manifest record."""
        raise NotImplementedError

    def open(self, index_dir: Path, generation: int, record: dict[str, Any], dimension: int, size: int,
             token: str = "") -> VectorStore:
        raise NotImplementedError

    def discard(self, index_dir: Path, generation: int, record: dict[str, Any], token: str = "") -> None:
        """Undo `write` for a generation that was never committed."""
        raise NotImplementedError

    def drop_stale(self, index_dir: Path, keep: set[int], records: Sequence[dict[str, Any]], token: str = ""
                   ) -> None:
        """Drop this backend's data of generations not in `keep` (records[0] the one just committed)."""
        raise NotImplementedError


def incomplete(index_dir: Path, missing: str) -> IndexMismatchError:
    return IndexMismatchError(
        f"the index in {index_dir} is incomplete ({missing} is missing); re-index with"
        f" `rag index --rebuild PATH... --index-dir {index_dir}`"
    )


def is_server_uri(uri: str) -> bool:
    return bool(_SERVER_URI.match(uri))


@dataclass(frozen=True)
class VectorStoreConfig(Section):
    """The vector store a build uses (the `store` section of the settings); checked here so a bad value fails
    before any work starts."""

    backend: str = setting("faiss", name="vector_store", cli=flag(
        "settings", "where a new index keeps its vectors: FAISS files in the index folder (default) or Milvus; an "
        "existing index is read from the store its manifest names", choices=BACKENDS))
    ann_threshold: int = setting(ANN_THRESHOLD, low=1, cli=flag(
        "index", "chunks above which the vector index is approximate (HNSW, recall checked; default {default})"))
    # "" = Milvus Lite in <index_dir>/milvus.db; http://host:19530 = a Milvus server
    milvus_uri: str = setting("", cli=flag(
        "settings", "http://host:19530 for a Milvus server, or a Milvus Lite file ending in .db (default: milvus.db"
        " in the index folder); the token comes from CITELINE_MILVUS_TOKEN"))
    milvus_token: str = setting("", repr=False)  # "user:password" or an API key, for a server that asks for one
    # prefix: one collection per generation, <prefix>_g<generation>
    milvus_collection: str = setting("citeline", cli=flag(
        "settings", "prefix of this index's Milvus collections (default {default})"))

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise SettingsError(f"vector_store must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        uri = self.milvus_uri
        if uri and not is_server_uri(uri) and not uri.endswith(".db"):
            raise SettingsError(
                f"milvus_uri must be a Milvus server (http://host:19530) or a Milvus Lite file ending in .db,"
                f" not {uri!r}"
            )
        if not _COLLECTION_PREFIX.match(self.milvus_collection):
            raise SettingsError(
                "milvus_collection must start with a letter or _ and hold only letters, digits and _"
                f" (at most 201 characters), not {self.milvus_collection!r}"
            )

    @classmethod
    def of_index(cls, record: dict[str, Any], ann_threshold: int = ANN_THRESHOLD, milvus_token: str = ""
                 ) -> VectorStoreConfig:
        """The settings that write into the same store as `record` (a manifest's), e.g. to remove articles."""
        if record.get("backend", "faiss") != "milvus":
            return cls(ann_threshold=ann_threshold)
        uri = "" if record["uri"] == DEFAULT_LITE_FILE else record["uri"]
        return cls("milvus", ann_threshold, uri, milvus_token, record["prefix"])

    def milvus_location(self) -> str:
        """The URI as the manifest records it: the default Lite file relative to the index folder."""
        if not self.milvus_uri:
            return DEFAULT_LITE_FILE
        return self.milvus_uri if is_server_uri(self.milvus_uri) else str(Path(self.milvus_uri).resolve())

    def mismatch(self, record: dict[str, Any], index_dir: Path) -> str:
        """Why an index holding `record` cannot be updated with these settings ("" when it can)."""
        have = record.get("backend", "faiss")
        if have != self.backend:
            return f"keeps its vectors in {have}, the settings say {self.backend} (CITELINE_VECTOR_STORE)"
        if have == "milvus":
            theirs = resolve_milvus_uri(index_dir, record["uri"])
            ours = resolve_milvus_uri(index_dir, self.milvus_location())
            if theirs != ours:
                return f"keeps its vectors in Milvus at {theirs}, the settings say {ours} (CITELINE_MILVUS_URI)"
            if record.get("prefix") != self.milvus_collection:
                return (f"names its Milvus collections {record.get('prefix')}_g..., the settings say"
                        f" {self.milvus_collection}_g... (CITELINE_MILVUS_COLLECTION)")
        return ""


def resolve_milvus_uri(index_dir: Path, uri: str) -> str:
    """A server URI as it is; a Lite file relative to the index folder, as the manifest records the default."""
    if is_server_uri(uri):
        return uri
    path = Path(uri)
    return str(path if path.is_absolute() else (Path(index_dir) / path).resolve())


# -- recall of an approximate index, shared by the backends ----------------------------------------------------------
def recall_sample(vectors: np.ndarray, size: int = RECALL_SAMPLE) -> np.ndarray:
    """Rows whose vectors serve as queries: a fixed random sample, so a rebuild measures the same way."""
    rows = np.random.default_rng(0).choice(len(vectors), min(size, len(vectors)), replace=False)
    return np.sort(rows)


def recall_at(found_scores: np.ndarray, found_rows: np.ndarray, exact_scores: np.ndarray) -> float:
    """Share of the approximate top k that belongs to the exact top k.

    A row counts when its score reaches the exact k-th score: copies of an article have identical vectors,
    and any of them is a right answer.
    """
    k = exact_scores.shape[1]
    kth = exact_scores[:, -1:]
    hits = (found_rows[:, :k] >= 0) & (found_scores[:, :k] >= kth - 1e-5)
    return float(hits.sum() / exact_scores.size)


def hnsw_build_params() -> dict[str, int]:
    """HNSW's graph parameters as Milvus names them."""
    return {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}


def hnsw_record(ef: int, recall: float) -> dict[str, Any]:
    """What a manifest records of an HNSW index that reached the recall target."""
    return {"index": "hnsw", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": ef,
            "recall_at_10": round(recall, 4)}


def hnsw_missed(recall: float | None = None) -> str:
    """The note of a build whose HNSW index missed the recall target, so that it searches exactly."""
    reached = f" (reached {recall:.4f})" if recall is not None else ""
    return f"HNSW missed recall@10 {RECALL_TARGET}{reached} at efSearch {HNSW_EF_SEARCH[-1]}; exact search instead"


def tune_ef(search: Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]], vectors: np.ndarray,
            k: int = 10) -> tuple[int | None, float]:
    """The smallest efSearch in HNSW_EF_SEARCH whose recall@k reaches RECALL_TARGET, and that recall.

    `search(queries, k, ef)` returns (scores, rows) as faiss does. (None, best recall) when no ef reaches it.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    queries = vectors[recall_sample(vectors)]
    k = min(k, len(vectors))
    exact_scores, _ = faiss.knn(queries, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
    best = 0.0
    for ef in HNSW_EF_SEARCH:
        scores, rows = search(queries, k, ef)
        recall = recall_at(np.asarray(scores), np.asarray(rows), exact_scores)
        best = max(best, recall)
        if recall >= RECALL_TARGET:
            return ef, recall
    return None, best
