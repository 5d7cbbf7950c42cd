"""Follow-up questions in a chat, made self-contained before retrieval, without a language model.

"And how many were wounded?" after "Who was killed at Camp Taji?" is searched as
"how many were wounded at Camp Taji?"; "What about Jurf al-Sakher?" re-asks the last question about it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text.terms import names

_LEAD = re.compile(r"^\s*(?:and|but|so|also|then|ok(?:ay)?|well)\b[\s,]*", re.IGNORECASE)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<subject>.+?)\s*\??\s*$", re.IGNORECASE)
_REFERS_BACK = re.compile(r"\b(?:they|them|their|he|him|his|she|her|it|its|there|that|those|this|these)\b",
                          re.IGNORECASE)
_PREPOSITION = r"(?:at|in|on|of|for|about|from|near|to|against|by|with)"


def _subject(question: str) -> tuple[str, str] | None:
    """The last name in a question as written, and the phrase that carries it ("at Camp Taji")."""
    found = names(question)
    if not found:
        return None
    name = found[-1]
    match = re.search(rf"(?:\b{_PREPOSITION}\s+)?{re.escape(name)}", question, re.IGNORECASE)
    if match is None:
        return None
    exact = re.search(re.escape(name), question, re.IGNORECASE)
    return (exact.group(0) if exact else name), match.group(0)


def is_follow_up(question: str) -> bool:
    return bool(_LEAD.match(question) or _WHAT_ABOUT.match(question) or _REFERS_BACK.search(question)
                or not names(question))


def rewrite(question: str, previous: Sequence[str]) -> str:
    """The question as it should be searched, given the earlier questions of the conversation (oldest first)."""
    question = " ".join(question.split())
    if not previous or not is_follow_up(question):
        return question
    earlier = next((q for q in reversed(previous) if names(q)), None)
    if earlier is None:
        return question
    subject = _subject(earlier)
    if subject is None:
        return question
    name, phrase = subject
    about = _WHAT_ABOUT.match(question)
    if about:
        return re.sub(re.escape(name), about.group("subject"), earlier, count=1, flags=re.IGNORECASE)
    if names(question) and not _REFERS_BACK.search(question) and not _LEAD.match(question):
        return question  # it names its own subject
    if name.lower() in question.lower():
        return question
    body = _LEAD.sub("", question).rstrip(" ?")
    body = body[:1].upper() + body[1:]
    return f"{body} {phrase}?"
