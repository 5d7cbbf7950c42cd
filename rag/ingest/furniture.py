"""Page furniture: lines that are kept with their numbers but are never reporting, so never an answer."""

from __future__ import annotations

import re

from rag.text.dates import is_date_only

_PATTERNS = [
    r"\d+\s*(?:-\s*)?(?:min|mins|minute|minutes)\s+read",
    r"(?:read|see)\s+(?:more|also)\b.*",
    r"(?:follow|like)\s+us\b.*",
    r"(?:share|share this(?: article| story)?|share on \w+|tweet|email|print|comments?)\s*:?",
    r"(?:sign\s*up|subscribe)\b.{0,120}",
    r"advertisement|sponsored(?: content)?|promoted(?: stories)?",
    r"(?:image|photo|picture|video)\s*(?:caption|credit|source)s?\b.*",
    r"(?:©|\(c\)|copyright\s*(?:©|\(c\))?\s*\d{4}).{0,150}",
    r".{0,100}all rights reserved\.?",
    r"(?:related|more on this|more from [\w ]{1,30}|most read|trending(?: now)?|recommended(?: for you)?)"
    r"(?:\s+(?:articles?|stories|coverage|content|topics?|news|reading|videos?))?\s*(?::.{0,100})?",
    r"(?:click|tap)\s+here\b.*",
    r"(?:skip to (?:main )?content|back to top|jump to)\b.*",
    r"[\w ,&-]{1,60}\s+contributed to this (?:report|article|story)\.?",
    r"\(?(?:additional\s+)?(?:reporting|writing|editing)\s+by\b.{0,200}",
    r"(?:last\s+)?(?:updated|published|posted)\s*:?\s*(?:\d{1,2}:\d\d\b.{0,40}|\d+\s+(?:minutes?|hours?|days?)\s+ago)",
]
_FURNITURE = re.compile(r"^\s*(?:" + "|".join(_PATTERNS) + r")\s*$", re.IGNORECASE)
# Bylines are told by their capitals, so this one is case-sensitive: "By Jane Doe", "By JANE DOE and Li Wei".
_BYLINE = re.compile(
    r"^(?:By|BY)\s+[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,3}(?:\s*(?:,|and|\|)\s*[A-Z][\w .,'’-]{0,60})?$"
)
# A trailing photo credit marks a caption, e.g. "... were killed. [Getty]" or "(AFP via Getty Images)".
_CREDIT = re.compile(
    r"[\[(]\s*(?:photo:?\s*)?(?:getty(?: images)?|afp|reuters|ap(?: photo)?|epa|anadolu|shutterstock|file)"
    r"[^\])]{0,60}[\])]\s*$",
    re.IGNORECASE,
)


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def is_furniture(line: str) -> bool:
    """One line on its own: a fixed phrase of page furniture, a dateline, or a captioned photo."""
    stripped = line.strip()
    if not stripped:
        return False
    return bool(
        _FURNITURE.match(stripped) or _BYLINE.match(stripped) or _CREDIT.search(stripped)
        or is_date_only(stripped)
    )


def furniture_lines(lines: list[str], title: str = "") -> list[int]:
    """1-based numbers of the furniture lines, headline copies included."""
    title_key = _norm(title)
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if (title_key and _norm(line) == title_key) or is_furniture(line):
            found.append(number)
    return found
