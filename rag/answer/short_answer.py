"""The shortest phrase of a cited sentence that answers a who / how many / when / where question.

"Who was killed at Camp Taji?" over "Two Americans and a 26-year-old British soldier were killed, ..." gives
"Two Americans and a 26-year-old British soldier"; "How many rockets were fired?" gives "around 18".
Rules over the sentence's words, with dateutil for dates; no model.
"""

from __future__ import annotations

import re

from rag.text.terms import STOPWORDS, names, stem, terms, words

MAX_WORDS = 12
_APPROX = (
    r"(?:(?:around|about|some|nearly|almost|roughly|approximately|over|more than|less than|fewer than|at least|"
    r"up to|as many as|an estimated)\s+)?"
)
_NUMBER_WORD = (
    r"(?:\d[\d,.]*(?:\s*(?:%|per cent|percent))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundreds?|thousands?|millions?|billions?|dozens?)"
)
_QUANTITY = re.compile(rf"\b{_APPROX}{_NUMBER_WORD}(?:[\s-]+{_NUMBER_WORD})*", re.IGNORECASE)
_AUX = r"(?:was|were|is|are|has been|have been|had been|will be|would be|got)"
_WHEN = re.compile(
    r"\b(?:(?:on|in|by|since|until|last|this|next)\s+)?(?:"
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)(?:\s+(?:morning|afternoon|evening|night))?"
    r"|\d{1,2}\s+(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"(?:,?\s+\d{4})?"
    r"|(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"(?:\s+\d{1,2}(?:st|nd|rd|th)?)?(?:,?\s+\d{4})?"
    r"|(?:19|20)\d\d|yesterday|today|tonight|(?:week|month|year)"
    r")\b"
)
_CLAUSE_BREAK = re.compile(r"[,;:]\s+|\s+(?:after|before|when|while|as|because|which|who|that)\s+")


def question_kind(question: str) -> str:
    q = question.strip().lower()
    if re.search(r"\bhow\s+(?:many|much)\b", q):
        return "count"
    if re.match(r"(?:and\s+)?(?:when)\b", q) or re.search(r"\bwhat\s+(?:year|date|day|month|time)\b", q):
        return "time"
    if re.match(r"(?:and\s+)?where\b", q):
        return "place"
    if re.match(r"(?:and\s+)?(?:who|whom)\b", q):
        return "person"
    return ""


def _short(phrase: str) -> str:
    phrase = phrase.strip(" ,;:.")
    return phrase if phrase and len(phrase.split()) <= MAX_WORDS else ""


def _count(question: str, sentence: str) -> str:
    after = re.split(r"\bhow\s+(?:many|much)\b", question, flags=re.IGNORECASE)[-1]
    counted = [stem(w) for w in words(after) if w not in STOPWORDS][:1]
    quantities = list(_QUANTITY.finditer(sentence))
    if not quantities:
        return ""
    # The number just before what is counted ("18 rockets"), else before the question's verb ("14 others
    # wounded" for "how many people were wounded"), else the first number.
    asked = set(terms(after))
    for wanted in (set(counted), asked):
        for match in quantities:
            following = [stem(w) for w in words(sentence[match.end():])[:3]]
            if wanted & set(following):
                return _short(match.group(0))
    return _short(quantities[0].group(0))


def _person(question: str, sentence: str) -> str:
    asked = set(terms(question))
    # Passive: "<who> were killed": the phrase before the auxiliary, from the start of its clause.
    for match in re.finditer(rf"\b{_AUX}\s+(\w+)", sentence):
        if stem(match.group(1).lower()) in asked:
            before = sentence[: match.start()]
            clause = _CLAUSE_BREAK.split(before)[-1]
            return _short(clause)
    # Active: "<who> killed ...".
    tokens = list(re.finditer(r"[\w’'-]+", sentence))
    for index, token in enumerate(tokens):
        if index and stem(token.group(0).lower()) in asked and token.group(0).lower() not in STOPWORDS:
            before = sentence[: token.start()]
            relative = re.search(r"\s+(?:that|which|who)\s*$", before)
            if relative:  # "... followed by a US airstrike that killed ...": the noun phrase before "that"
                phrase = re.split(r"\b(?:by|from|of|with|after|to)\s+", before[: relative.start()])[-1]
                return _short(phrase) if len(phrase.split()) <= 5 else ""
            clause = _CLAUSE_BREAK.split(before)[-1]
            if clause.strip() and clause.strip()[0].isupper():
                return _short(clause)
            break
    known = set(names(question))
    for name in names(sentence):
        if name not in known:
            match = re.search(re.escape(name), sentence, re.IGNORECASE)
            return _short(match.group(0)) if match else ""
    return ""


def _time(sentence: str) -> str:
    match = _WHEN.search(sentence)
    return _short(match.group(0)) if match else ""


def _place(question: str, sentence: str) -> str:
    known = set(names(question))
    place = r"((?:[a-z]{1,3}-)?[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*)"
    for match in re.finditer(rf"\b(?:in|at|on|near|outside|inside)\s+{place}", sentence):
        if match.group(1).lower() not in known and not _WHEN.fullmatch(match.group(1)):
            return _short(match.group(0))
    return ""


def short_answer(question: str, sentence: str) -> str:
    """The phrase answering the question, or "" when the question asks for no such thing or none is found."""
    kind = question_kind(question)
    if kind == "count":
        return _count(question, sentence)
    if kind == "person":
        return _person(question, sentence)
    if kind == "time":
        return _time(sentence)
    if kind == "place":
        return _place(question, sentence)
    return ""
