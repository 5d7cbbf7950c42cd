"""Errors a user can act on; the CLI prints their message without a traceback."""

from __future__ import annotations


class CitelineError(Exception):
    """Base class for errors whose message tells the user what to do."""


class IndexMismatchError(CitelineError):
    """The index on disk was built with other settings than the ones in use."""


class IndexMissingError(CitelineError):
    """There is no index where one was expected."""


class BadQuestionError(CitelineError):
    """The question is empty or too long."""


class SettingsError(CitelineError, ValueError):
    """A setting has a value that cannot work."""
