"""Every field of an index manifest checked for its type before any of it is used.

A manifest that was damaged or edited by hand (counts of the wrong type, a vectors path that leaves the index
folder) must be refused when it is read, with a message naming the field, not fail deep inside a question. Each
check raises ValueError; rag.index.store turns it into "the index is damaged ...; rebuild it with ...".
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

_FAISS_FILE = re.compile(r"^vectors-\d{6}\.faiss$")  # a plain name in the index folder, never a path
_COLLECTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_FAISS_INTS = ("rows", "vectors", "ef_search", "M", "ef_construction")


def _whole(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where} is {value!r}, not a whole number of at least {minimum}")
    return value


def _typed(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        raise ValueError(f"{where} is {value!r}, not {'an object' if kind is dict else 'a ' + kind.__name__}")
    return value


def _sources(value: Any) -> dict[str, dict[str, Any]]:
    for key, entry in _typed(value, dict, "sources").items():
        where = f"sources[{key!r}]"
        _typed(entry, dict, where)
        _typed(entry.get("sha256"), str, f"{where}.sha256")
        _whole(entry.get("size"), f"{where}.size")
        _whole(entry.get("mtime_ns"), f"{where}.mtime_ns")
        for article in _typed(entry.get("articles"), list, f"{where}.articles"):
            _typed(article, str, f"{where}.articles[]")
    return value


def _counts(value: Any) -> dict[str, int]:
    for key, count in _typed(value, dict, "counts").items():
        _whole(count, f"counts.{key}")
    return value


def _vector_store(value: Any) -> dict[str, Any]:
    if value is None or value == {}:
        return {}
    record = _typed(value, dict, "vector_store")
    backend = record.get("backend", "faiss")
    if backend == "faiss":
        if "file" in record and not _FAISS_FILE.match(str(record["file"])):
            raise ValueError(f"vector_store.file is {record['file']!r}, not a vectors-NNNNNN.faiss file of the"
                             " index folder (a vectors path may never leave it)")
        if record.get("index", "flat") not in ("flat", "hnsw"):
            raise ValueError(f"vector_store.index is {record.get('index')!r}, not 'flat' or 'hnsw'")
        for name in _FAISS_INTS:
            if name in record:
                _whole(record[name], f"vector_store.{name}")
    elif backend == "milvus":
        _typed(record.get("uri"), str, "vector_store.uri")
        for name in ("prefix", "collection"):
            if not _COLLECTION.match(str(record.get(name, ""))):
                raise ValueError(f"vector_store.{name} is {record.get(name)!r}, not a Milvus collection name")
    else:
        raise ValueError(f"vector_store.backend is {backend!r}, not 'faiss' or 'milvus'")
    return record


def _segments(value: Any) -> list[dict[str, Any]]:
    """Each segment's record; ids distinct (an index of format 2 has none: it is refused as an older format)."""
    records = []
    for number, record in enumerate(_typed(value, list, "segments")):
        where = f"segments[{number}]"
        _typed(record, dict, where)
        deleted = _typed(record.get("deleted", []), list, f"{where}.deleted")
        for article in deleted:
            _typed(article, str, f"{where}.deleted[]")
        records.append({"id": _whole(record.get("id"), f"{where}.id", 1),
                        "articles": _whole(record.get("articles"), f"{where}.articles"),
                        "chunks": _whole(record.get("chunks"), f"{where}.chunks"),
                        "vectors": _vector_store(record.get("vectors")) or {"backend": "faiss", "index": "flat"},
                        "deleted": deleted,
                        "deleted_chunks": _whole(record.get("deleted_chunks", 0), f"{where}.deleted_chunks")})
        if len(set(deleted)) > records[-1]["articles"]:
            raise ValueError(f"{where} deletes {len(set(deleted))} articles of {records[-1]['articles']}")
    if len({r["id"] for r in records}) != len(records):
        raise ValueError("segments lists a segment id twice")
    return records


def _file_sizes(value: Any) -> dict[str, int]:
    for name, size in _typed(value, dict, "file_sizes").items():
        path = PurePosixPath(name)
        if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
            raise ValueError(f"file_sizes names {name!r}, a path outside the index folder")
        _whole(size, f"file_sizes[{name!r}]")
    return value


def checked(data: Any) -> dict[str, Any]:
    """The manifest's fields, each of the type the index needs; ValueError names the first that is not."""
    _typed(data, dict, "the manifest")
    embedder = _typed(data.get("embedder"), dict, "embedder")
    return {
        "embedder": {"name": _typed(embedder.get("name"), str, "embedder.name"),
                     "dimension": _whole(embedder.get("dimension"), "embedder.dimension", 1)},
        "chunking": _typed(data.get("chunking", {}), dict, "chunking"),
        "generation": _whole(data.get("generation"), "generation"),
        "format_version": _whole(data.get("format_version"), "format_version"),
        "sources": _sources(data.get("sources", {})),
        "counts": _counts(data.get("counts", {})),
        "created": _typed(data.get("created", ""), str, "created"),
        "updated": _typed(data.get("updated", ""), str, "updated"),
        "vector_store": _vector_store(data.get("vector_store")),
        "file_sizes": _file_sizes(data.get("file_sizes", {})),
        "annotator": _typed(data.get("annotator", ""), str, "annotator"),
        "segments": _segments(data.get("segments", [])),
    }
