"""Turn files and folders into Articles: .txt, .md, .html, and .jsonl(.gz) in the benchmark corpus format."""

from __future__ import annotations

import codecs
import contextlib
import gzip
import hashlib
import json
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rag.ingest.furniture import furniture_lines
from rag.schema import Article
from rag.text.dates import find_published, parse_date
from rag.text.textsafe import encodable, has_surrogates

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + MARKDOWN_SUFFIXES + HTML_SUFFIXES + JSONL_SUFFIXES


# Bad lines of one .jsonl file reported one by one; past this, one line counts the rest.
MAX_PROBLEMS_PER_FILE = 20
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class LoadError(Exception):
    """A file that cannot be indexed; the message is the reason, shown on one line."""


@dataclass(frozen=True)
class LoadLimits:
    """How much one file may hold. Checked before reading, and while a .jsonl(.gz) streams, so that no file
    (a decompression bomb, one endless line, /dev/zero behind a link) can exhaust memory or time."""

    max_file_bytes: int = 200_000_000  # bytes read from one file, a .gz counted as it expands
    max_article_bytes: int = 5_000_000  # one .txt/.md/.html file, or one line of a .jsonl
    max_articles: int = 100_000  # articles in one file
    upload: bool = False  # the limits of one upload in the chat, which are smaller

    @property
    def setting(self) -> str:
        """The setting that raises the file limit."""
        return "CITELINE_MAX_UPLOAD_BYTES" if self.upload else "CITELINE_MAX_FILE_BYTES"

    def too_many_articles(self) -> str:
        if self.upload:
            return (f"holds more than {self.max_articles:,} articles, the most one upload may hold; index large"
                    " collections with `rag index`")
        return f"holds more than {self.max_articles:,} articles (the limit is CITELINE_MAX_FILE_ARTICLES)"

    def file_limit(self, path: Path) -> int:
        """The most bytes this file may hold on disk."""
        return self.max_file_bytes if suffix_of(path) in JSONL_SUFFIXES else self.max_article_bytes


def file_kind(mode: int) -> str:
    """What a path is, in words, for a path that is not a regular file."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: Path, max_bytes: int | None = None) -> BinaryIO:
    """Open a regular file for reading; FIFOs, devices and sockets are refused without blocking on them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise LoadError(f"cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LoadError(f"not a regular file ({file_kind(info.st_mode)}); only regular files are read")
        if max_bytes is not None and info.st_size > max_bytes:
            raise LoadError(too_large(info.st_size, max_bytes))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def too_large(size: int, limit: int, setting: str = "CITELINE_MAX_ARTICLE_BYTES") -> str:
    return f"too large ({size:,} bytes; the limit is {limit:,}, {setting})"


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The whole file, refused (before it is held) when it is, or grows, larger than max_bytes."""
    with open_regular(path, max_bytes) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise LoadError(too_large(len(data), max_bytes))
    return data


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
        if has_surrogates(str(path)):  # bytes that are not UTF-8: SQLite could not store the name
            found.problems.append((encodable(str(path)), "its name is not valid UTF-8; rename the file"))
            return
        if not is_supported(path):
            found.problems.append((str(path), f"not a supported type ({', '.join(SUPPORTED_SUFFIXES)})"))
            return
        try:
            info = path.stat()  # follows links: a link to /dev/zero is a device
            key = str(path.resolve())
        except OSError as exc:
            found.problems.append((str(path), f"cannot be read ({exc.strerror or exc})"))
            return
        if not stat.S_ISREG(info.st_mode):
            found.problems.append((str(path), f"not a regular file ({file_kind(info.st_mode)});"
                                   " only regular files are read"))
        elif key not in seen:
            seen.add(key)
            found.files.append(SourceFile(path=path, key=key, size=info.st_size, mtime_ns=info.st_mtime_ns))

    for raw in [paths] if isinstance(paths, str | os.PathLike) else paths:
        if not isinstance(raw, str | os.PathLike) or not str(raw) or "\x00" in str(raw):
            found.problems.append((encodable(repr(raw)[:80]), "not a path"))
            continue
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        add(Path(root) / name)
        elif os.path.lexists(path):
            add(path)
        else:
            found.problems.append((str(path), "no such file or folder"))
    return found


def file_sha256(path: Path, max_bytes: int | None = None) -> str:
    """SHA-256 of a regular file, read in blocks; LoadError for anything else, or past max_bytes."""
    digest = hashlib.sha256()
    read = 0
    with open_regular(path, max_bytes) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            read += len(block)
            if max_bytes is not None and read > max_bytes:
                raise LoadError(too_large(read, max_bytes))
            digest.update(block)
    return digest.hexdigest()


def article_id(text: str) -> str:
    """Stable id from the content, blind to white space, so re-saved copies of an article match."""
    normalised = " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


# The encodings charset-normalizer names for Western European text (it reports cp1252 text as cp1250 when the
# bytes read the same in both).
_WESTERN = {"cp1250", "cp1252", "latin_1", "iso8859_15"}


def decode(data: bytes) -> str:
    """The encoding a BOM names (UTF-8, UTF-16, UTF-32), else UTF-8, else a confidently detected encoding;
    binary and undecodable data refused."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise LoadError(f"starts with a {encoding.upper()} byte order mark but is not {encoding.upper()}"
                                ) from None
            if "\x00" in text or _control_ratio(text) > 0.01:
                raise LoadError(f"not text (as {encoding.upper()}, which its byte order mark names)")
            return text
    if b"\x00" in data[:8192]:
        raise LoadError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    if best is None or best.encoding is None:
        raise LoadError("not UTF-8 and no text encoding could be detected")
    encoding, text = _likeliest(best, list(results), data)
    if _control_ratio(text) > 0.01:
        raise LoadError(f"not UTF-8, and as {encoding} it is not text")
    return text


def _likeliest(best, matches: list, data: bytes) -> tuple[str, str]:
    """The detector's best reading, except where it recognises no language (a few words: "Caf\xe9 reopens."
    read as cp1006) and a Western encoding reads the bytes as well as any: then Windows-1252, the encoding of
    most non-UTF-8 English and Western European text."""
    tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    if best.coherence == 0 and tied & _WESTERN:
        with contextlib.suppress(UnicodeDecodeError):
            return "cp1252", data.decode("cp1252")
    return best.encoding, str(best)


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
    text: str, source: str, *, title: str = "", published: str = "", url: str = "", doc_id: str = "",
    dated: bool = False,
) -> Article:
    """`dated`: the date came from metadata (or its absence did); the text is not searched for one."""
    text = normalise_text(text)
    if not text.strip():
        raise LoadError("empty (no text)")
    lines = text.split("\n")
    return Article(
        id=article_id(text),
        source=source,
        title=title.strip(),
        text=text,
        published=published or ("" if dated else find_published(lines)),
        url=url,
        doc_id=doc_id,
        furniture=furniture_lines(lines, title),
    )


def load_text(path: Path, source: str, limits: LoadLimits) -> list[Article]:
    text = decode(read_bounded(path, limits.max_article_bytes))
    return [make_article(text, source, title=first_line(text))]


def load_markdown(path: Path, source: str, limits: LoadLimits) -> list[Article]:
    text = decode(read_bounded(path, limits.max_article_bytes))
    title = re.sub(r"^#+\s*", "", first_line(text)).strip()
    return [make_article(text, source, title=title)]


def load_html(path: Path, source: str, limits: LoadLimits) -> list[Article]:
    """The article text by trafilatura; the date only from the page's metadata (JSON-LD, <meta>, <time>, the
    URL), through htmldate without its extensive search of the text, which dated pages 1 January of any year
    they mentioned. No date is better than an invented one: dates drive ranking and filters."""
    import trafilatura
    from trafilatura.settings import set_date_params

    html = decode(read_bounded(path, limits.max_article_bytes))
    if not html.strip():
        raise LoadError("empty (no text)")
    document = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True, favor_recall=True,
        date_extraction_params=set_date_params(False),
    )
    text = getattr(document, "text", None) if document is not None else None
    if not text or not text.strip():
        raise LoadError("no article text found in the HTML")
    title = getattr(document, "title", None) or first_line(text)
    published = parse_date(document.date) if getattr(document, "date", None) else ""
    url = getattr(document, "url", "") or ""
    return [make_article(text, source, title=title, published=published, url=url, dated=True)]


def iter_jsonl(path: Path, limits: LoadLimits) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of a JSON lines file, decompressed as it is read. A line longer than an article may
    be comes as None, skipped in bounded pieces; past max_file_bytes (as it expands) the file is refused."""
    gz = path.name.lower().endswith(".gz")
    with open_regular(path) as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        total, number, limit = 0, 0, limits.max_article_bytes
        try:
            while line := stream.readline(limit + 1):
                number += 1
                total += len(line)
                long = len(line) > limit and not line.endswith(b"\n")
                while long and not line.endswith(b"\n"):  # the rest of an over-long line, never held whole
                    line = stream.readline(1 << 20)
                    total += len(line)
                    if not line or total > limits.max_file_bytes:
                        break
                if total > limits.max_file_bytes:
                    raise LoadError(f"holds more than {limits.max_file_bytes:,} bytes"
                                    f"{' once decompressed' if gz else ''} (the limit is {limits.setting})")
                yield number, None if long else line
        except (OSError, EOFError, zlib.error) as exc:
            raise LoadError(f"cannot be read as {'gzip-compressed ' if gz else ''}JSON lines ({exc})") from None


def load_jsonl(path: Path, source: str, problems: list[tuple[str, str]] | None = None,
               limits: LoadLimits | None = None) -> list[Article]:
    """One article per line: {"id", "url", "title", "published", "text"}; bad lines are reported and skipped."""
    limits = limits or LoadLimits()
    articles: list[Article] = []
    bad = _Problems(problems, source)
    for number, raw in iter_jsonl(path, limits):
        where = f"{source}:{number}"
        if raw is None:
            bad.add(where, f"a line longer than {limits.max_article_bytes:,} bytes, the most one article may hold"
                    " (CITELINE_MAX_ARTICLE_BYTES)")
            continue
        article = _jsonl_article(raw, number, source, where, bad)
        if article is not None:
            articles.append(article)
            if len(articles) > limits.max_articles:
                raise LoadError(limits.too_many_articles())
    bad.close()
    if not articles:
        raise LoadError("no articles in it")
    return articles


def _jsonl_article(raw: bytes, number: int, source: str, where: str, bad: _Problems) -> Article | None:
    if not raw.strip():
        return None
    try:
        record = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
    except UnicodeDecodeError:
        bad.add(where, "not UTF-8")
        return None
    except (json.JSONDecodeError, RecursionError) as exc:
        bad.add(where, f"not valid JSON ({getattr(exc, 'msg', 'nested too deeply')})")
        return None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        bad.add(where, 'no "text" field')
        return None
    doc_id = _plain(record.get("id"))
    try:
        return make_article(
            record["text"],
            f"{source}#{doc_id}" if doc_id else f"{source}:{number}",
            title=_plain(record.get("title")),
            published=_iso_or_blank(record.get("published")),
            url=_plain(record.get("url")),
            doc_id=doc_id,
        )
    except LoadError as exc:
        bad.add(where, str(exc))
        return None


def _plain(value: object) -> str:
    """A field that should be a string: numbers are taken as written, anything else is left out."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _iso_or_blank(value: object) -> str:
    return parse_date(value) if isinstance(value, str) and value.strip() else ""


class _Problems:
    """Bad lines of one file, each reported up to MAX_PROBLEMS_PER_FILE, then counted in one closing line."""

    def __init__(self, problems: list[tuple[str, str]] | None, source: str):
        self.problems = problems
        self.source = source
        self.count = 0

    def add(self, where: str, reason: str) -> None:
        self.count += 1
        if self.problems is not None and self.count <= MAX_PROBLEMS_PER_FILE:
            self.problems.append((where, reason))

    def close(self) -> None:
        more = self.count - MAX_PROBLEMS_PER_FILE
        if self.problems is not None and more > 0:
            self.problems.append((self.source, f"{more:,} more bad lines skipped"))


def load_file(path: Path, source: str | None = None, problems: list[tuple[str, str]] | None = None,
              limits: LoadLimits | None = None) -> list[Article]:
    """Articles in one file, or LoadError with the reason it cannot be indexed."""
    source = source or str(path)
    limits = limits or LoadLimits()
    kind = suffix_of(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise LoadError(f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise LoadError(f"not a regular file ({file_kind(info.st_mode)}); only regular files are read")
    if info.st_size == 0:
        raise LoadError("empty (0 bytes)")
    try:
        if kind in JSONL_SUFFIXES:
            return load_jsonl(path, source, problems, limits)
        if kind in HTML_SUFFIXES:
            return load_html(path, source, limits)
        if kind in MARKDOWN_SUFFIXES:
            return load_markdown(path, source, limits)
        if kind in TEXT_SUFFIXES:
            return load_text(path, source, limits)
    except OSError as exc:
        raise LoadError(f"cannot be read ({exc.strerror or exc})") from None
    raise LoadError(f"not a supported type ({', '.join(SUPPORTED_SUFFIXES)})")
