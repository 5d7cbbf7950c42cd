"""Publication dates as articles state them ("13 March, 2020", "March 13, 2020", "2020-03-13")."""

from __future__ import annotations

import re
from datetime import date, timedelta

from dateutil import parser as date_parser

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?:[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d\d|2[01]\d\d)"

DATE_PATTERN = re.compile(
    rf"\b(?:{_DAY}\s+{_MONTH},?\s+{_YEAR}"  # 13 March, 2020
    rf"|{_MONTH}\s+{_DAY},?\s+{_YEAR}"  # March 13, 2020
    rf"|{_YEAR}-[01]\d-[0-3]\d)\b",  # 2020-03-13
    re.IGNORECASE,
)

# How far into an article a dateline is looked for: further down, a date is about the news, not the article.
HEADER_LINES = 12


def parse_date(text: str) -> str:
    """ISO date (YYYY-MM-DD) for one date expression, or "" when it is not a real date."""
    try:
        parsed = date_parser.parse(text.strip(), fuzzy=False, default=None)
    except (ValueError, OverflowError, TypeError):
        try:
            parsed = date_parser.parse(text.strip(), fuzzy=False)
        except (ValueError, OverflowError):
            return ""
    return parsed.date().isoformat()


def find_published(lines: list[str], header_lines: int = HEADER_LINES) -> str:
    """The first date stated in the article's header lines, as YYYY-MM-DD, or ""."""
    for line in lines[:header_lines]:
        for match in DATE_PATTERN.finditer(line):
            iso = parse_date(match.group(0))
            if iso:
                return iso
    return ""


def is_date_only(line: str) -> bool:
    """True for a dateline such as "13 March, 2020" or "Published: March 13, 2020 10:02 GMT"."""
    stripped = DATE_PATTERN.sub("", line)
    stripped = re.sub(
        r"(?i)\b(published|updated|posted|last|on|at|gmt|utc|bst|est|edt|am|pm|a\.m\.|p\.m\.)\b", "", stripped
    )
    return bool(DATE_PATTERN.search(line)) and not re.search(r"[A-Za-z]{2,}", re.sub(r"[\d:|,.\-–—/()]", " ",
                                                                                      stripped))


def to_date(iso: str) -> date | None:
    try:
        return date.fromisoformat(iso)
    except (TypeError, ValueError):
        return None


_RELATIVE = [
    (re.compile(r"\btoday\b|\bthis morning\b|\btonight\b", re.I), lambda d: (d, d)),
    (re.compile(r"\byesterday\b", re.I), lambda d: (d - timedelta(days=1), d - timedelta(days=1))),
    (re.compile(r"\b(?:this|past)\s+week(?:end)?\b|\bthis\s+past\s+week\b", re.I),
     lambda d: (d - timedelta(days=7), d)),
    (re.compile(r"\blast\s+week(?:end)?\b", re.I), lambda d: (d - timedelta(days=14), d - timedelta(days=6))),
    (re.compile(r"\b(?:recent(?:ly)?|latest|days? ago|just)\b", re.I), lambda d: (d - timedelta(days=14), d)),
    (re.compile(r"\b(?:this|past)\s+month\b", re.I), lambda d: (d - timedelta(days=31), d)),
    (re.compile(r"\blast\s+month\b", re.I), lambda d: _previous_month(d)),
    (re.compile(r"\bthis\s+year\b", re.I), lambda d: (date(d.year, 1, 1), d)),
    (re.compile(r"\blast\s+year\b", re.I), lambda d: (date(d.year - 1, 1, 1), date(d.year - 1, 12, 31))),
]


def _previous_month(day: date) -> tuple[date, date]:
    last = day.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def relative_window(question: str, as_of: date) -> tuple[date, date] | None:
    """The dates a relative expression in the question points at ("this week", "last month"), or None."""
    for pattern, window in _RELATIVE:
        if pattern.search(question):
            return window(as_of)
    return None
