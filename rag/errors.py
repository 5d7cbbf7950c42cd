"""Errors a user can act on; the CLI prints their message without a traceback."""

from __future__ import annotations

import contextlib
import errno
import shutil
from pathlib import Path

LOW_SPACE = 4 << 20  # bytes free below which a write that failed without a reason is taken for a full disk


class CitelineError(Exception):
    """Base class for errors whose message tells the user what to do."""


class IndexMismatchError(CitelineError):
    """The index on disk was built with other settings than the ones in use."""


class IndexMissingError(CitelineError):
    """There is no index where one was expected."""


class IndexDamagedError(IndexMismatchError):
    """A file of the index is missing, truncated or not what the manifest says; only a rebuild mends it."""


class IndexWriteError(CitelineError):
    """The index could not be written (disk full, no permission); the index in force is unchanged."""


class ArticleNotFoundError(CitelineError):
    """No indexed article has the id or name given, or several have it."""


class BadQuestionError(CitelineError):
    """The question (or one of its options) is empty, too long, or not a question at all."""


class SettingsError(CitelineError, ValueError):
    """A setting has a value that cannot work."""


def rebuild_hint(index_dir: Path | str) -> str:
    return f"rebuild it with `rag index --rebuild PATH... --index-dir {index_dir}`"


def damaged(index_dir: Path | str, detail: str) -> IndexDamagedError:
    """The one message for an index whose files cannot be read as the manifest says."""
    return IndexDamagedError(f"the index in {index_dir} is damaged ({detail}); {rebuild_hint(index_dir)}")


def os_error_advice(exc: OSError) -> str:
    """What a user can do about a failed read or write, by its cause."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "free some disk space (or choose another --index-dir) and run the command again"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ("the folder belongs to another user or is read-only: run as its owner, fix its permissions,"
                " or choose another --index-dir")
    if exc.errno == errno.EROFS:
        return "the file system is read-only: choose another --index-dir"
    return "check the folder and run the command again"


def write_failed(index_dir: Path | str, exc: OSError) -> IndexWriteError:
    """A failed write as a message. Some writers (numpy, FAISS, SQLite) lose the errno of a full disk; the free
    space tells it then."""
    reason = exc.strerror or str(exc)
    if exc.errno is None:
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(index_dir).free
            if free < LOW_SPACE:
                exc = OSError(errno.ENOSPC, f"no space left on the disk ({free:,} bytes free; {reason})")
                reason = exc.strerror
    return IndexWriteError(f"cannot write the index in {index_dir}: {reason}; {os_error_advice(exc)}."
                           " The index in force is unchanged")
