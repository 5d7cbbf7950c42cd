"""Turn files and folders into Articles: .txt, .md, .html, and .jsonl(.gz) in the benchmark corpus format."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.dates import find_published, parse_date
from rag.furniture import furniture_lines
from rag.schema import Article

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + MARKDOWN_SUFFIXES + HTML_SUFFIXES + JSONL_SUFFIXES


class LoadError(Exception):
    """A file that cannot be indexed; the message is the reason, shown on one line."""


@dataclass(frozen=True)
class SourceFile:
    """A file found on disk. `key` is its absolute path, the identity used by the index."""

    path: Path
    key: str
    size: int
    mtime_ns: int


@dataclass
class Discovery:
    files: list[SourceFile] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def suffix_of(path: Path) -> str:
    name = path.name.lower()
    for suffix in SUPPORTED_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def is_supported(path: Path) -> bool:
    return suffix_of(path) in SUPPORTED_SUFFIXES


def discover(paths: Iterable[str | Path]) -> Discovery:
    """Expand files and folders (recursively) into supported files; hidden files and folders are passed over."""
    found = Discovery()
    seen: set[str] = set()

    def add(path: Path) -> None:
        try:
            stat = path.stat()
        except OSError as exc:
            found.problems.append((str(path), f"cannot be read ({exc.strerror or exc})"))
            return
        key = str(path.resolve())
        if key not in seen:
            seen.add(key)
            found.files.append(SourceFile(path=path, key=key, size=stat.st_size, mtime_ns=stat.st_mtime_ns))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    child = Path(root) / name
                    if is_supported(child):
                        add(child)
                    else:
                        found.problems.append((str(child), f"not a supported type ({', '.join(SUPPORTED_SUFFIXES)})"))
        elif path.is_file():
            if is_supported(path):
                add(path)
            else:
                found.problems.append((str(path), f"not a supported type ({', '.join(SUPPORTED_SUFFIXES)})"))
        else:
            found.problems.append((str(path), "no such file or folder"))
    return found


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def article_id(text: str) -> str:
    """Stable id from the content, blind to white space, so re-saved copies of an article match."""
    normalised = " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else a confidently detected encoding; binary and undecodable data refused."""
    if b"\x00" in data[:8192]:
        raise LoadError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise LoadError("not UTF-8 and no text encoding could be detected")
    text = str(best)
    if _control_ratio(text) > 0.01:
        raise LoadError(f"not UTF-8, and as {best.encoding} it is not text")
    return text


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    return controls / len(text)


def normalise_text(text: str) -> str:
    """Newlines as \\n and no trailing blank lines; every other character kept, so lines match `cat -n`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.rstrip()


def first_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def make_article(
    text: str, source: str, *, title: str = "", published: str = "", url: str = "", doc_id: str = ""
) -> Article:
    text = normalise_text(text)
    if not text.strip():
        raise LoadError("empty (no text)")
    lines = text.split("\n")
    return Article(
        id=article_id(text),
        source=source,
        title=title.strip(),
        text=text,
        published=published or find_published(lines),
        url=url,
        doc_id=doc_id,
        furniture=furniture_lines(lines, title),
    )


def load_text(path: Path, source: str) -> list[Article]:
    text = decode(path.read_bytes())
    return [make_article(text, source, title=first_line(text))]


def load_markdown(path: Path, source: str) -> list[Article]:
    text = decode(path.read_bytes())
    title = re.sub(r"^#+\s*", "", first_line(text)).strip()
    return [make_article(text, source, title=title)]


def load_html(path: Path, source: str) -> list[Article]:
    import trafilatura

    html = decode(path.read_bytes())
    if not html.strip():
        raise LoadError("empty (no text)")
    document = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True, favor_recall=True
    )
    text = getattr(document, "text", None) if document is not None else None
    if not text or not text.strip():
        raise LoadError("no article text found in the HTML")
    title = getattr(document, "title", None) or first_line(text)
    published = parse_date(document.date) if getattr(document, "date", None) else ""
    return [make_article(text, source, title=title, published=published, url=getattr(document, "url", "") or "")]


def iter_jsonl(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            yield from enumerate(handle, start=1)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot be read as JSON lines ({exc})") from None


def load_jsonl(path: Path, source: str, problems: list[tuple[str, str]] | None = None) -> list[Article]:
    """One article per line: {"id", "url", "title", "published", "text"}; bad lines are reported and skipped."""
    articles = []
    for number, raw in iter_jsonl(path):
        if not raw.strip():
            continue
        where = f"{source}:{number}"
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            _report(problems, where, f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            _report(problems, where, 'no "text" field')
            continue
        doc_id = str(record.get("id") or "")
        try:
            article = make_article(
                record["text"],
                f"{source}#{doc_id}" if doc_id else f"{source}:{number}",
                title=str(record.get("title") or ""),
                published=_iso_or_blank(record.get("published")),
                url=str(record.get("url") or ""),
                doc_id=doc_id,
            )
        except LoadError as exc:
            _report(problems, where, str(exc))
            continue
        articles.append(article)
    if not articles:
        raise LoadError("no articles in it")
    return articles


def _iso_or_blank(value: object) -> str:
    return parse_date(value) if isinstance(value, str) and value.strip() else ""


def _report(problems: list[tuple[str, str]] | None, where: str, reason: str) -> None:
    if problems is not None:
        problems.append((where, reason))


def load_file(path: Path, source: str | None = None, problems: list[tuple[str, str]] | None = None,
              max_bytes: int | None = None) -> list[Article]:
    """Articles in one file, or LoadError with the reason it cannot be indexed."""
    source = source or str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise LoadError("empty (0 bytes)")
    kind = suffix_of(path)
    if max_bytes is not None and size > max_bytes and kind not in JSONL_SUFFIXES:
        raise LoadError(f"too large for one article ({size:,} bytes; the limit is {max_bytes:,})")
    try:
        if kind in JSONL_SUFFIXES:
            return load_jsonl(path, source, problems)
        if kind in HTML_SUFFIXES:
            return load_html(path, source)
        if kind in MARKDOWN_SUFFIXES:
            return load_markdown(path, source)
        if kind in TEXT_SUFFIXES:
            return load_text(path, source)
    except OSError as exc:
        raise LoadError(f"cannot be read ({exc.strerror or exc})") from None
    raise LoadError(f"not a supported type ({', '.join(SUPPORTED_SUFFIXES)})")
