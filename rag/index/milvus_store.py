"""Vectors in Milvus, a server or Milvus Lite in a file: one collection per generation, `<prefix>_g<generation>`.

pymilvus is imported in this module only, and only when an index uses Milvus: importing it takes a second or two
that the FAISS path must not pay. Every Milvus failure becomes a CitelineError that names the URI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import CitelineError
from rag.index.vector_base import (
    VectorBackend,
    VectorStoreConfig,
    beam,
    hnsw_build_params,
    hnsw_missed,
    hnsw_record,
    incomplete,
    is_server_uri,
    resolve_milvus_uri,
    tune_ef,
)

INSERT_BATCH = 5_000
FILTER_ROWS = 10_000  # row numbers listed in one filter expression; a longer list is searched in parts
MAX_TOP_K = 16_384  # Milvus's ceiling on k and on rows per query
CONNECT_TIMEOUT = 10.0  # seconds
# Collection property naming the index that wrote it, so that indexes sharing a server and a prefix never drop
# each other's collections: host:path of the index folder, or "." for a Lite file inside the index folder (all
# of it belongs to that index, wherever the folder is moved or copied).
OWNER = "citeline.index"

_lite_lock = threading.Lock()
_lite_clients: Counter[str] = Counter()  # open clients per Milvus Lite file in this process


def collection_name(prefix: str, generation: int) -> str:
    return f"{prefix}_g{generation:06d}"


def owner(index_dir: Path, uri: str) -> str:
    folder = Path(index_dir).resolve()
    if not is_server_uri(uri) and Path(uri).resolve().is_relative_to(folder):
        return "."
    return f"{socket.gethostname()}:{folder}"


@contextlib.contextmanager
def _errors(uri: str, doing: str) -> Iterator[None]:
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except MilvusException as exc:
        raise CitelineError(f"Milvus at {uri} failed while {doing}: {exc.message or exc}") from None


def connect(uri: str, token: str = "") -> Any:
    """A MilvusClient for `uri` (a server, or a Lite file), or a CitelineError that says what to check."""
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError:
        raise CitelineError("the milvus vector store needs pymilvus: pip install 'citeline[milvus]'"
                            " (or set CITELINE_VECTOR_STORE=faiss)") from None

    lite = not is_server_uri(uri)
    lite_logger = logging.getLogger("milvus_lite")
    if lite and not lite_logger.handlers:
        # Milvus Lite logs a traceback when it cannot open its file (to stderr when logging is not set up); the
        # error below says it in one line.
        lite_logger.addHandler(logging.NullHandler())
    # pymilvus pings every 10 s even when idle; Milvus Lite's gRPC server allows that every 5 minutes only, and
    # answers an idle `rag serve` with GOAWAY "too_many_pings" lines on stderr. Lite is in-process: no pings.
    options = {"grpc_options": {"grpc.keepalive_permit_without_calls": 0, "grpc.keepalive_time_ms": 600_000}}
    # A server gets a connection of this client's own: pymilvus (3.x) otherwise shares one per URI, and after the
    # server restarts the shared one keeps failing ("Fail connecting to server") where a new one succeeds.
    extra = options if lite else {"dedicated": True}
    try:
        try:
            client = MilvusClient(uri=uri, token=token, timeout=CONNECT_TIMEOUT, **extra)
        except TypeError:  # a pymilvus without `dedicated`
            client = MilvusClient(uri=uri, token=token, timeout=CONNECT_TIMEOUT)
    except MilvusException as exc:
        raise CitelineError(_connect_failure(uri, exc.message or str(exc))) from None
    if lite:
        with _lite_lock:
            _lite_clients[os.path.abspath(uri)] += 1
    return client


def disconnect(client: Any, uri: str) -> None:
    """Close a client; the last one on a Lite file in this process lets the file go for other processes."""
    with contextlib.suppress(Exception):
        client.close()
    if is_server_uri(uri):
        return
    path = os.path.abspath(uri)
    with _lite_lock:
        _lite_clients[path] -= 1
        last = _lite_clients[path] <= 0
        if last:
            del _lite_clients[path]
    if last:
        with contextlib.suppress(Exception):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)


def _connect_failure(uri: str, message: str) -> str:
    if is_server_uri(uri):
        return (f"cannot reach Milvus at {uri} ({message}); check that the server is running, and the URI"
                " (CITELINE_MILVUS_URI or --milvus-uri) and token (CITELINE_MILVUS_TOKEN) it needs")
    if _lite_locked(uri):
        return (f"the Milvus Lite database {uri} is open in another process (Milvus Lite serves one process at a"
                " time, e.g. a running `rag serve` or `rag index`); wait for it or stop it, or run against a"
                " Milvus server (CITELINE_MILVUS_URI=http://host:19530)")
    return f"cannot open the Milvus Lite database {uri} ({message}); is `pymilvus[milvus-lite]` installed?"


def _lite_locked(uri: str) -> bool:
    import fcntl

    lock = Path(uri) / "LOCK"
    if not lock.exists():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def _owner_of(client: Any, name: str) -> str:
    return str(client.describe_collection(name).get("properties", {}).get(OWNER, ""))


def write(index_dir: Path, generation: int, vectors: np.ndarray, config: VectorStoreConfig) -> dict[str, Any]:
    """A new collection for `generation`, filled, flushed and loaded; FLAT up to the ANN threshold, else HNSW."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    location = config.milvus_location()
    uri = resolve_milvus_uri(index_dir, location)
    name = collection_name(config.milvus_collection, generation)
    approximate = int(vectors.any(axis=1).sum()) > config.ann_threshold if len(vectors) else False
    client = connect(uri, config.milvus_token)
    try:
        with _errors(uri, f"writing the collection {name}"):
            _create(client, uri, name, index_dir, vectors.shape[1], approximate)
            try:
                record = _fill(client, uri, name, vectors, approximate)
            except BaseException:
                with contextlib.suppress(Exception):
                    client.drop_collection(name)
                raise
    finally:
        disconnect(client, uri)
    if record is None:  # HNSW missed the recall target: exact search instead
        flat = write(index_dir, generation, vectors, dataclasses.replace(config, ann_threshold=len(vectors)))
        return {**flat, "note": hnsw_missed()}
    return {"backend": "milvus", "uri": location, "prefix": config.milvus_collection, "collection": name,
            "metric": "IP", **record}


def _create(client: Any, uri: str, name: str, index_dir: Path, dimension: int, approximate: bool) -> None:
    from pymilvus import DataType, MilvusClient

    if client.has_collection(name):
        theirs = _owner_of(client, name)
        if theirs != owner(index_dir, uri):
            raise CitelineError(
                f"the Milvus collection {name} at {uri} belongs to another index ({theirs or 'not Citeline'});"
                " give this index its own collection prefix (CITELINE_MILVUS_COLLECTION or --milvus-collection)"
            )
        client.drop_collection(name)  # left by a build of this index that died before its commit
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    index_params = client.prepare_index_params()
    if approximate:
        index_params.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                               params=hnsw_build_params())
    else:
        index_params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    # Strong consistency: a search right after the build sees every row.
    client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong",
                             properties={OWNER: owner(index_dir, uri)})


def _fill(client: Any, uri: str, name: str, vectors: np.ndarray, approximate: bool) -> dict[str, Any] | None:
    """Insert, flush, load, count; for HNSW, the efSearch that reaches the recall target (None if none does)."""
    # Rows without a vector (chunks past an article's dense_chunks) are not stored: they can never match.
    present = np.flatnonzero(vectors.any(axis=1)) if len(vectors) else np.zeros(0, dtype=np.int64)
    for start in range(0, len(present), INSERT_BATCH):
        batch = present[start : start + INSERT_BATCH]
        client.insert(name, [{"row": int(row), "vector": vectors[row]} for row in batch])
    client.flush(name)
    client.load_collection(name)
    count = int(client.get_collection_stats(name).get("row_count", -1))
    if count != len(present):
        raise CitelineError(f"Milvus at {uri} holds {count} rows in {name} after inserting {len(present)}")
    if not approximate:
        return {"index": "flat", "vectors": len(present)}

    def search(queries: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        results = client.search(name, data=list(queries), limit=k, anns_field="vector", output_fields=["row"],
                                search_params={"metric_type": "IP", "params": {"ef": max(ef, k)}})
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        for i, hits in enumerate(results):
            for j, hit in enumerate(hits[:k]):
                scores[i, j], rows[i, j] = hit["distance"], hit["row"]
        return scores, rows

    ef, recall = tune_ef(search, vectors[present])
    if ef is None:
        return None
    return {**hnsw_record(ef, recall), "vectors": len(present)}


def open_store(index_dir: Path, record: dict[str, Any], dimension: int, size: int, token: str = "") -> MilvusStore:
    uri = resolve_milvus_uri(index_dir, record["uri"])
    name = record["collection"]
    client = connect(uri, token)
    try:
        with _errors(uri, f"opening the collection {name}"):
            if not client.has_collection(name):
                raise incomplete(index_dir, f"the Milvus collection {name} at {uri}")
            count = int(client.get_collection_stats(name).get("row_count", -1))
            stored = int(record.get("vectors", size))
            if count != stored:
                raise incomplete(index_dir, f"{stored - count} of {stored} rows of the Milvus collection {name}")
            client.load_collection(name)  # a server may have released it since the build
    except BaseException:
        disconnect(client, uri)
        raise
    return MilvusStore(client, uri, name, size, dimension, int(record.get("ef_search", 0)))


def drop(index_dir: Path, record: dict[str, Any], token: str = "") -> None:
    """Drop one generation's collection (one that was written but never committed)."""
    uri = resolve_milvus_uri(index_dir, record["uri"])
    client = connect(uri, token)
    try:
        with _errors(uri, f"dropping {record['collection']}"):
            client.drop_collection(record["collection"])
    finally:
        disconnect(client, uri)


def drop_stale(index_dir: Path, record: dict[str, Any], keep: set[int], token: str = "") -> None:
    """Drop this index's collections under the record's prefix whose generation is not kept."""
    uri = resolve_milvus_uri(index_dir, record["uri"])
    pattern = re.compile(rf"^{re.escape(record['prefix'])}_g(\d+)$")
    me = owner(index_dir, uri)
    client = connect(uri, token)
    try:
        with _errors(uri, "dropping old collections"):
            for name in client.list_collections():
                match = pattern.match(name)
                if match and int(match.group(1)) not in keep and _owner_of(client, name) == me:
                    client.drop_collection(name)
    finally:
        disconnect(client, uri)


class MilvusStore:
    """One generation's collection, searched with inner product. Row numbers are the primary key."""

    def __init__(self, client: Any, uri: str, name: str, size: int, dimension: int, ef_search: int = 0):
        self.client = client
        self.uri = uri
        self.name = name
        self._size = size
        self.dimension = dimension
        self.ef_search = ef_search  # > 0 for HNSW

    @property
    def size(self) -> int:
        return self._size

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        n = self.size
        if n == 0 or k < 1:
            return []
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if allowed is None:
            return self._search(vector, min(k, n), "", 1.0)
        allowed = np.asarray(allowed, dtype=bool)
        rows = np.flatnonzero(allowed)
        if not len(rows):
            return []
        k = min(k, len(rows))
        blocked = np.flatnonzero(~allowed)
        if len(blocked) <= FILTER_ROWS:
            where = f"row not in {blocked.tolist()}" if len(blocked) else ""
            return self._search(vector, k, where, len(rows) / n)
        found: list[tuple[int, float]] = []
        for start in range(0, len(rows), FILTER_ROWS):
            part = rows[start : start + FILTER_ROWS]
            found.extend(self._search(vector, min(k, len(part)), f"row in {part.tolist()}", len(part) / n))
        return sorted(found, key=lambda pair: -pair[1])[:k]

    def _search(self, vector: np.ndarray, k: int, where: str, share: float) -> list[tuple[int, float]]:
        k = min(k, MAX_TOP_K)
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.ef_search:
            params["params"] = {"ef": beam(self.ef_search, k, share)}
        with _errors(self.uri, f"searching {self.name}"):
            results = self.client.search(self.name, data=[vector], limit=k, filter=where, anns_field="vector",
                                         search_params=params, output_fields=["row"])
        return [(int(hit["row"]), float(hit["distance"])) for hit in results[0]]

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        rows = [int(r) for r in rows]
        found: dict[int, np.ndarray] = {}
        for start in range(0, len(rows), FILTER_ROWS):
            found.update(self._fetch(f"row in {rows[start : start + FILTER_ROWS]}", FILTER_ROWS))
        zero = np.zeros(self.dimension, dtype=np.float32)  # a row without a vector (not embedded)
        return np.array([found.get(r, zero) for r in rows], dtype=np.float32).reshape(len(rows), self.dimension)

    def all_vectors(self) -> np.ndarray:
        out = np.zeros((self.size, self.dimension), dtype=np.float32)
        for start in range(0, self.size, INSERT_BATCH):
            stop = min(start + INSERT_BATCH, self.size)
            part = self._fetch(f"row >= {start} and row < {stop}", stop - start)
            for row, vector in part.items():
                out[row] = vector
        return out

    def _fetch(self, where: str, limit: int) -> dict[int, np.ndarray]:
        with _errors(self.uri, f"reading vectors of {self.name}"):
            records = self.client.query(self.name, filter=where, output_fields=["row", "vector"], limit=limit)
        return {int(r["row"]): np.asarray(r["vector"], dtype=np.float32) for r in records}

    def close(self) -> None:
        if self.client is not None:
            disconnect(self.client, self.uri)
            self.client = None


class MilvusBackend(VectorBackend):
    """A Milvus server, or Milvus Lite in a file: one collection per generation."""

    name = "milvus"

    def check_reachable(self, index_dir: Path, config: VectorStoreConfig) -> None:
        uri = resolve_milvus_uri(index_dir, config.milvus_location())
        disconnect(connect(uri, config.milvus_token), uri)

    def write(self, index_dir: Path, generation: int, vectors: np.ndarray, config: VectorStoreConfig
              ) -> dict[str, Any]:
        return write(index_dir, generation, vectors, config)

    def open(self, index_dir: Path, generation: int, record: dict[str, Any], dimension: int, size: int,
             token: str = "") -> MilvusStore:
        return open_store(index_dir, record, dimension, size, token)

    def discard(self, index_dir: Path, generation: int, record: dict[str, Any], token: str = "") -> None:
        drop(index_dir, record, token)

    def drop_stale(self, index_dir: Path, keep: set[int], records: Sequence[dict[str, Any]], token: str = ""
                   ) -> None:
        """A store the new generation no longer uses (a rebuild moved the index to FAISS or elsewhere) is emptied
        of all this index's collections: no later build would look there again."""
        current = _place(index_dir, records[0]) if records else None
        done: set[tuple[str, str]] = set()
        for record in records:
            place = _place(index_dir, record)
            if place is None or place in done:
                continue
            done.add(place)
            with contextlib.suppress(CitelineError):
                drop_stale(index_dir, record, keep if place == current else set(), token)


def _place(index_dir: Path, record: dict[str, Any]) -> tuple[str, str] | None:
    if record.get("backend") != "milvus":
        return None
    return resolve_milvus_uri(index_dir, record["uri"]), record["prefix"]


BACKEND = MilvusBackend()
