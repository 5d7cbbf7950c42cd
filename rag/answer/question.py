"""Question analysis: what kind of thing the question asks for, and the words that say so.

"Which singer ..." asks for a person, "in which city" for a place, "what company" for an organisation, "how
much" for money, "which food" for a noun phrase. The question is parsed by spaCy (tags, dependencies and
entities); the answer class comes from the wh-word and the question's focus noun, and the learned reader later
weighs each candidate's entity label against that class with probabilities estimated from training questions.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache

from rag.ingest.nlp import NOT_SERVED, parse, role_of, served
from rag.text.terms import STOPWORDS, names, stem, terms, words

# Coarse answer classes. Every spaCy entity label and "NP" (a noun phrase) falls into one of them.
LABEL_CLASS = {
    "PERSON": "PERSON", "ORG": "ORG", "GPE": "PLACE", "LOC": "PLACE", "FAC": "PLACE", "NORP": "NORP",
    "DATE": "DATE", "TIME": "DATE", "MONEY": "MONEY", "PERCENT": "PERCENT", "CARDINAL": "NUMBER",
    "QUANTITY": "NUMBER", "ORDINAL": "NUMBER", "WORK_OF_ART": "WORK", "EVENT": "EVENT", "PRODUCT": "WORK",
    "LAW": "WORK", "LANGUAGE": "NORP", "NP": "THING",
}
# Focus nouns ("which <noun>") and the class of their answers. Unknown nouns ask for a THING: a noun phrase or
# any entity, left to the learned label probabilities.
_FOCUS_CLASS = {
    "PERSON": "person man woman people singer actor actress star player president leader minister senator "
              "governor official candidate judge justice chef author writer director ceo founder artist musician "
              "rapper athlete coach quarterback pitcher king queen prince princess pope billionaire celebrity "
              "comedian host journalist lawmaker member politician nominee winner mayor secretary chancellor "
              "driver golfer boxer tennis swimmer gymnast figure executive entrepreneur scientist astronaut "
              "musician band-member daughter son wife husband mother father character name rival opponent",
    "ORG": "company firm team airline automaker carmaker retailer brand network union university college school "
           "agency party newspaper app platform chain bank club organization organisation group outlet "
           "publication carrier maker manufacturer studio league restaurant tabloid broadcaster channel "
           "service streamer business giant startup corporation conglomerate publisher label insurer "
           "website site company's store supermarket hospital court committee institution charity church "
           "department ministry government",
    "PLACE": "country city state nation town island region county capital continent area province territory "
             "place location neighborhood neighbourhood village destination port border coast sea ocean river "
             "lake mountain volcano airport stadium venue park street district municipality island nation",
    "NORP": "nationality religion language ethnicity",
    "WORK": "film movie show book song album series novel game play musical documentary podcast painting "
            "artwork bill law act policy product device phone car model vehicle drug vaccine medication",
    "EVENT": "event holiday festival storm hurricane tournament championship race competition election war "
             "battle ceremony award prize",
    "DATE": "year month day date season decade century time week",
    "PERCENT": "percentage percent proportion share rate",
    "MONEY": "price cost amount fee salary fine worth value budget revenue sum",
}
FOCUS_CLASS = {word: cls for cls, nouns in _FOCUS_CLASS.items() for word in nouns.split()}
# "Which type of livestock": the noun after these is the real focus.
_OF_NOUNS = {"type", "kind", "sort", "form", "name", "variety", "brand", "species", "breed", "make", "style", "group",
             "piece", "part", "one", "branch"}
_NOUN_TAGS = {"NN", "NNS", "NNP", "NNPS"}
_MODIFIER_TAGS = {"JJ", "JJR", "JJS", "HYPH", "VBG", "VBN", "CD", *_NOUN_TAGS}
# "What did Ben Wallace say?": the answer is a statement, given as the sentences that make it.
_OPEN_VERBS = {stem(w) for w in "say said tell told announce announced do did happen happened mean meant warn warned "
               "claim claimed write wrote report reported describe described think thought".split()}
_AUX = {"did", "does", "do", "will", "would", "can", "could", "should", "has", "have", "had"}
_WH = {"which", "what", "who", "whom", "whose", "when", "where", "how", "why"}
_MONEY_WORDS = re.compile(r"\b(?:cost|costs|costing|pay|paid|worth|price|priced|spend|spent|sell|sold|raise|raised|"
                          r"fine|fined|budget|billion|million|dollars?|\$|£|€)\b", re.IGNORECASE)


@dataclass
class Question:
    """A question as the reader sees it."""

    text: str
    wh: str  # "which", "who", "how many", ... or "" for "Name the ..." and statements
    focus: str  # the focus noun's lemma ("city", "singer"), or ""
    answer_class: str  # PERSON, ORG, PLACE, NORP, DATE, MONEY, PERCENT, NUMBER, WORK, EVENT or THING
    terms: list[str] = field(default_factory=list)  # stems of the content words
    names: list[str] = field(default_factory=list)  # lower-cased names and years it mentions
    words: frozenset[str] = frozenset()  # its lower-cased words, which are never an answer on their own
    counted: str = ""  # the stem of what a "how many" question counts ("rocket")
    preposition: str = ""  # the word before the wh-phrase: "in" for "in which city" (the answer follows one too)
    verbs: frozenset[str] = frozenset()  # stems of its verbs: the answer's sentence tends to use them
    left: frozenset[str] = frozenset()  # stems of the content words just before the wh-phrase ...
    right: frozenset[str] = frozenset()  # ... and just after it: the answer's sentence has them around the answer
    role: str = ""  # the answer's grammatical role, as the wh-phrase has it ("subj", "obj", "in", ...)
    head: str = ""  # the stem of the word that governs the wh-phrase ("appoint" for "Who did X appoint")

    @property
    def factoid(self) -> bool:
        """Asks for a name, a number, a date or a thing, not for a reason, a manner or what someone said."""
        if self.wh == "why" or (self.wh == "how"):
            return False
        return not (self.wh == "what" and not self.focus and self.role == "obj" and self.head in _OPEN_VERBS)

    @property
    def key(self) -> str:
        """The finest description of what is asked, for the learned label probabilities."""
        return f"{self.wh}:{self.focus}" if self.focus else self.wh


@lru_cache(maxsize=65536)
def singular(word: str) -> str:
    """'players' -> 'player', 'cities' -> 'city', 'species' stays: enough to look a focus noun up."""
    for plural, single in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("s", "")):
        if word.endswith(plural) and len(word) > len(plural) + 2 and not word.endswith(("ss", "us", "is")):
            candidate = word[: len(word) - len(plural)] + single
            if plural == "s" or candidate in FOCUS_CLASS:
                return candidate
    return word


def _wh_token(doc):
    for token in doc:
        lower = token.lower_
        if lower in _WH and token.tag_ in ("WDT", "WP", "WP$", "WRB") and token.dep_ != "relcl":
            if lower in ("which", "what") and token.i > 0 and doc[token.i - 1].lower_ in ("that",):
                continue
            return token
    return None


def _noun_after(doc, index: int) -> tuple[str, int]:
    """The head noun of the noun phrase starting at `index` (its last noun), and where the phrase ends."""
    head, end = "", index
    i = index
    while i < len(doc) and (doc[i].tag_ in _MODIFIER_TAGS or doc[i].tag_ in ("DT", "POS", "PRP$")):
        if doc[i].tag_ in ("DT", "PRP$") and i > index:
            break
        if doc[i].tag_ in _NOUN_TAGS or doc[i].lower_ in FOCUS_CLASS:
            head, end = singular(doc[i].lower_), i + 1
        i += 1
    return head, end


def _focus(doc, wh) -> str:
    """'Which fast-food chain' -> 'chain'; 'which type of livestock' -> 'livestock'; 'What is the X' -> X."""
    start = wh.i + 1
    if start < len(doc) and doc[start].lower_ == "of":  # "Which of the following players"
        start += 1
        while start < len(doc) and doc[start].lower_ in ("the", "following", "these", "those"):
            start += 1
    focus, end = _noun_after(doc, start)
    if not focus and wh.lower_ == "what" and start < len(doc) and doc[start].lemma_ == "be":
        focus, end = _copula_focus(doc, start + 1)
    return _through_of(doc, focus, end)


def _copula_focus(doc, i: int) -> tuple[str, int]:
    """"What is the most climate-polluting fossil fuel?" -> fuel; "What is the EPA doing" is not a noun question."""
    while i < len(doc) and doc[i].tag_ in ("DT", "RBS", "RB"):
        i += 1
    focus, end = _noun_after(doc, i)
    if focus and end < len(doc) and doc[end].lower_ not in ("of", "?", "for", "in", "that", "to", "on", "at"):
        focus = ""
    return focus, end


def _through_of(doc, focus: str, end: int) -> str:
    """'type of livestock' -> livestock; 'the name of the baby penguin' -> penguin (a proper name of that thing)."""
    while focus in _OF_NOUNS and end + 1 < len(doc) and doc[end].lower_ == "of":
        inner, inner_end = _noun_after(doc, end + 1)
        if not inner:
            break
        if focus == "name":
            return inner
        focus, end = inner, inner_end
    return focus


def _count_class(text: str, after: str) -> str:
    if re.search(r"\bhow\s+much\b", text, re.IGNORECASE):
        return "MONEY" if _MONEY_WORDS.search(text) else "NUMBER"
    return "MONEY" if re.match(r"\s*(?:money|dollars|pounds|euros)\b", after, re.IGNORECASE) else "NUMBER"


def _content_stems(tokens) -> frozenset[str]:
    return frozenset(stem(t.lower_) for t in tokens if t.is_alpha and t.lower_ not in STOPWORDS)


def _slot_context(doc, wh, focus: str, width: int = 4) -> tuple[frozenset[str], frozenset[str]]:
    """The content words either side of the answer's slot: "crashed into the bridge in [which city], causing"."""
    if wh is None:
        return frozenset(), frozenset()
    end = wh.i + 1
    if focus:
        for i in range(wh.i + 1, min(len(doc), wh.i + 8)):
            if singular(doc[i].lower_) == focus:
                end = i + 1
                break
    return _content_stems(doc[max(0, wh.i - width) : wh.i]), _content_stems(doc[end : end + width])


def _slot_role(doc, wh, focus: str) -> tuple[str, str]:
    """The grammatical role of the answer's slot: that of the focus noun ("which city") or of the wh-word."""
    if wh is None:
        return "", ""
    token = wh
    if focus and wh.dep_ == "det":
        token = wh.head
    role, head = role_of(token)
    if token is wh and wh.lower_ in ("who", "whom", "what") and wh.i + 1 < len(doc) and doc[wh.i + 1].lower_ in _AUX:
        return "obj", _verb_after_subject(doc, wh, head)
    return role, head


def _verb_after_subject(doc, wh, head: str) -> str:
    """"Who did Macron appoint as ...": the wh-word is the object of the verb after the subject. spaCy often reads
    it as the subject of "did" and tags the verb a noun; the verb is the last word before the preposition or the
    end."""
    rest = [t for t in doc[wh.i + 2 :] if not t.is_punct]
    verbs = [t for t in rest if t.tag_.startswith("VB")]
    if verbs:
        return verbs[0].lower_
    before = [t for t in rest if t.tag_ not in ("IN", "TO")]
    cut = next((i for i, t in enumerate(rest) if t.tag_ in ("IN", "TO")), len(rest))
    return rest[cut - 1].lower_ if cut else (before[-1].lower_ if before else head)


def _asked_for(doc, wh_token, text: str) -> tuple[str, str, str, str]:
    """The wh-word, the focus, the class of answer asked for, and the stem of what a "how many" counts."""
    lower = text.lower()
    how = re.search(r"\bhow\s+(many|much|long|old|far|big|tall|often)\b", lower)
    if how:
        return _how(how, text)
    if wh_token is not None:
        wh = wh_token.lower_
        if wh in ("who", "whom", "whose"):
            return "who", "", "PERSON", ""
        if wh in ("where", "when"):
            return wh, "", "PLACE" if wh == "where" else "DATE", ""
        if wh in ("which", "what"):
            focus = _focus(doc, wh_token)
            answer_class = "PERCENT" if re.search(r"\bwhat\s+percent", lower) else FOCUS_CLASS.get(focus, "THING")
            return wh, focus, answer_class, ""
        return wh, "", "THING", ""
    if re.match(r"\s*name\b", lower):
        focus, _ = _noun_after(doc, 1)
        return "name", focus, FOCUS_CLASS.get(focus, "THING"), ""
    return "", "", "THING", ""


def _how(how: re.Match, text: str) -> tuple[str, str, str, str]:
    """"how many rockets", "how much money", "how long", "how old"."""
    after = text[how.end():]
    # What is counted comes right after "how many" ("how many more people"); "how much did X cost" counts none.
    following = list(itertools.dropwhile(lambda w: w in ("more", "of", "the"), words(after)))[:1]
    following = [w for w in following if w not in STOPWORDS]
    counted = stem(following[0]) if following else ""
    focus = singular(following[0]) if following and how.group(1) in ("many", "much") else ""
    answer_class = {"many": _count_class(text, after), "much": _count_class(text, after),
                    "long": "DATE", "old": "NUMBER"}.get(how.group(1), "NUMBER")
    return f"how {how.group(1)}", focus, answer_class, counted


def analyse(text: str) -> Question:
    """Parse a question into its wh-word, focus, expected answer class, terms and names."""
    answered = served("analyse", text)
    if answered is not NOT_SERVED:
        return answered
    doc = parse(text)
    wh_token = _wh_token(doc)
    wh, focus, answer_class, counted = _asked_for(doc, wh_token, text)
    preposition = ""
    if wh_token is not None and wh_token.i > 0 and doc[wh_token.i - 1].tag_ == "IN":
        preposition = doc[wh_token.i - 1].lower_
    verbs = frozenset(stem(t.lower_) for t in doc if t.pos_ == "VERB" and t.lower_ not in STOPWORDS)
    left, right = _slot_context(doc, wh_token, focus)
    role, head = _slot_role(doc, wh_token, focus)
    subject = names(text)
    name_terms = {t for name in subject for t in terms(name)}
    asked = [t for t in dict.fromkeys(terms(text)) if t not in name_terms]
    return Question(text=text, wh=wh, focus=focus, answer_class=answer_class,
                    terms=asked or list(dict.fromkeys(terms(text))), names=subject, words=frozenset(words(text)),
                    counted=counted, preposition=preposition, verbs=verbs, left=left, right=right, role=role,
                    head=stem(head) if head else "")
