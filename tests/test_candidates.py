"""Candidate rules of the reader (rag/answer/candidates.py) that need no index: which mentions a sentence gives,
and what a candidate is called."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from rag.answer.candidates import (
    CANDIDATE_FEATURES,
    CandidateExtractor,
    M,
    full_name,
    group,
    set_label_prior,
    with_label_priors,
)
from rag.answer.question import analyse
from rag.ingest.nlp import NOUN_PHRASE
from rag.schema import Article, Chunk, Hit, Span


def _mentions(*pairs: tuple[str, str]) -> list:
    return [SimpleNamespace(text=text, label=label) for text, label in pairs]


@pytest.mark.parametrize(
    ("text", "label", "mentions", "expected"),
    [
        ("Harris", "PERSON", [("Harris", "PERSON"), ("Kamala Harris", "PERSON"), ("Harris", "PERSON")],
         "Kamala Harris"),
        ("Lions", "ORG", [("Lions", "ORG"), ("the Detroit Lions", "ORG")], "Detroit Lions"),
        # the longer form given most often wins over a rarer one
        ("Biden", "PERSON", [("Joe Biden", "PERSON"), ("Joe Biden", "PERSON"), ("Hunter Biden", "PERSON")],
         "Joe Biden"),
        # titles, storms and pairs are not a longer form of the name
        ("Dixon", "PERSON", [("Superintendent Talisa Dixon", "PERSON")], "Dixon"),
        ("Ernesto", "ORG", [("Hurricane Ernesto", "ORG")], "Ernesto"),
        ("Affleck", "PERSON", [("Jennifer Lopez and Ben Affleck", "PERSON")], "Affleck"),
        # another kind of entity, a place, or a longer name of another label keeps the text as stated
        ("Mexico", "GPE", [("Mexico City", "GPE")], "Mexico"),
        ("Starliner", "PRODUCT", [("CST-100 Starliner", "PRODUCT")], "Starliner"),
        ("Maresca", "PERSON", [("Ilona Maresca", "NP")], "Maresca"),
        # a name already long, or a form more than two words longer, stays as it is
        ("Ketanji Brown Jackson", "PERSON", [("Justice Ketanji Brown Jackson", "PERSON")], "Ketanji Brown Jackson"),
        ("Jackson", "PERSON", [("Ketanji Onyika Brown Jackson", "PERSON")], "Jackson"),
    ],
)
def test_a_name_is_given_in_full_as_its_mentions_state_it(text, label, mentions, expected):
    assert full_name(text, label, _mentions(*mentions)) == expected


def test_an_amount_is_the_figure_even_where_the_parser_missed_it():
    """RealTimeQA's answers are figures ("$9,000", "33,000"): a sum the English pipeline left inside a longer
    phrase becomes a mention of its own, and "around" stays in the quoted sentence, not in the short answer."""
    line = "Merchan gave Trump a $9,000 fine and potential jail time, and around 33,000 workers went on strike."
    article = Article("a1", "a.txt", "Fines", f"Fines\n\n{line}")
    hit = Hit(Chunk("a1", 3, 3, line), article, score=1.0, rank=1)
    fine, around = line.index("$9,000"), line.index("around")
    spans = [Span(3, fine, line.index(", and"), NOUN_PHRASE, "obj", "gave"),
             Span(3, around, line.index(" workers"), "CARDINAL", "nummod", "workers")]
    extractor = CandidateExtractor(lambda article, number, parse=True: spans if number == 3 else [])
    mentions = extractor.extract(analyse("How much was Donald Trump fined?"), [hit]).mentions
    labels = {m.text: m.label for m in mentions}
    assert labels["$9,000"] == "MONEY" and labels["$9,000 fine and potential jail time"] == NOUN_PHRASE
    assert labels["33,000"] == "CARDINAL" and not any(text.startswith("around") for text in labels)
    assert {m.key for m in mentions if m.label == "CARDINAL"} == {"33000"}


def test_phrases_of_a_kind_that_cannot_answer_are_counted_but_not_weighed():
    """With the reader's answer typing, a sentence's place names are not scored for "how much" (half of all
    mentions are of a kind that cannot answer), but the sentence still counts as stating a phrase; every other
    mention is the same as without the typing."""
    line = "In Manhattan, Merchan gave Trump a $9,000 fine."
    article = Article("a1", "a.txt", "Fines", f"Fines\n\n{line}")
    hit = Hit(Chunk("a1", 3, 3, line), article, score=1.0, rank=1)
    spans = [Span(3, line.index("Manhattan"), line.index(","), "GPE", "pobj", "in"),
             Span(3, line.index("$9,000"), line.index(" fine"), "MONEY", "nmod", "fine")]
    extractor = CandidateExtractor(lambda article, number, parse=True: spans if number == 3 else [])
    question = analyse("How much was Donald Trump fined?")
    everything = extractor.extract(question, [hit])
    typed = extractor.extract(question, [hit], lambda label: label == "MONEY")
    assert {m.label for m in everything.mentions} == {"GPE", "MONEY"}
    assert [m.text for m in typed.mentions] == ["$9,000"]
    assert typed.mentions[0].features.tolist() == everything.mentions[1].features.tolist()
    assert [v.sentence.line for v in typed.mentioned] == [v.sentence.line for v in everything.mentioned] == [3]
    nothing = extractor.extract(question, [hit], lambda label: False)
    assert nothing.mentions == [] and len(nothing.mentioned) == 1


def _reference_features(members: list, articles_read: int) -> dict[str, float]:
    """A candidate's features computed plainly, by name, from its mentions best first."""
    scores = [m.score for m in members]
    articles = len({m.article.id for m in members})
    return {
        "best_mention": scores[0],
        "mention_mass": math.log(sum(math.exp(min(max(s, -30.0), 30.0)) for s in scores)),
        "label_prior": max(float(m.features[M["label_prior"]]) for m in members),
        "mentions": math.log1p(len(members)),
        "articles": articles,
        "article_share": articles / max(articles_read, 1),
        "in_top_article": float(any(m.article_rank == 1 for m in members)),
        "mean_sentence_terms": sum(float(m.features[M["sentence_terms"]]) for m in members) / len(members),
        "mean_proximity": sum(float(m.features[M["proximity"]]) for m in members) / len(members),
    }


def test_mentions_of_one_answer_become_one_candidate_with_their_evidence():
    """`group` over the mentions of three articles: "Harris" joins "Kamala Harris" (and gives the full name), the
    best-scored mention comes first, and every candidate's features are those computed plainly by name; the
    label priors set for all mentions at once are those set one by one."""
    lines = ["Kamala Harris won in Atlanta, Harris said.", "Harris spoke in Atlanta on Monday.",
             "Voters in Georgia backed Kamala Harris."]
    articles = [Article(f"a{i}", f"{i}.txt", f"Title {i}", f"Title {i}\n\n{line}") for i, line in enumerate(lines)]
    hits = [Hit(Chunk(a.id, 3, 3, line), a, score=1.0 - i / 10, rank=i + 1, similarity=0.5)
            for i, (a, line) in enumerate(zip(articles, lines, strict=True))]

    def spans(article, number, parse=True):
        line = lines[int(article.id[1:])]
        found = [(name, label) for name, label in (("Kamala Harris", "PERSON"), ("Harris", "PERSON"),
                                                  ("Atlanta", "GPE"), ("Georgia", "GPE"), ("Monday", "DATE"))]
        out, taken = [], set()
        for name, label in found:
            at = line.find(name)
            while at >= 0:
                if not any(at >= s and at < e for s, e in taken):
                    out.append(Span(3, at, at + len(name), label, "nsubj", "won"))
                    taken.add((at, at + len(name)))
                at = line.find(name, at + 1)
        return out if number == 3 else []

    question = analyse("Which candidate spoke and won?")
    mentions = CandidateExtractor(spans).extract(question, hits).mentions
    one_by_one = [m.features.copy() for m in mentions]
    probability = {"PERSON": 0.8, "GPE": 0.1, "DATE": 0.01}.get
    for m, f in zip(mentions, one_by_one, strict=True):
        m.features = f
        set_label_prior(m, probability(m.label))
    expected = np.stack([m.features for m in mentions])
    for m in mentions:
        m.features = m.features.copy()
        m.features[M["label_prior"]] = m.features[M["title_fit"]] = m.features[M["sentence_fit"]] = 0.0
    table = with_label_priors(mentions, probability)
    assert table.tolist() == expected.tolist()
    assert all(m.features.tolist() == row for m, row in zip(mentions, expected.tolist(), strict=True))
    for number, m in enumerate(mentions):
        m.score = 2.0 - number / 7
    candidates = group(mentions, articles_read=3)
    by_text = {c.text: c for c in candidates}
    assert set(by_text) == {"Kamala Harris", "Atlanta", "Georgia", "Monday"}
    harris = by_text["Kamala Harris"]
    assert len(harris.mentions) == 4 and {m.text for m in harris.mentions} == {"Kamala Harris", "Harris"}
    assert [m.score for m in harris.mentions] == sorted((m.score for m in harris.mentions), reverse=True)
    assert len(by_text["Atlanta"].mentions) == 2 and len(by_text["Monday"].mentions) == 1
    for candidate in candidates:
        reference = _reference_features(candidate.mentions, 3)
        assert dict(zip(CANDIDATE_FEATURES, candidate.features.tolist(), strict=True)) == reference
