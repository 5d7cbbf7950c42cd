"""Fine answer typing for place questions: the gazetteer, and the reader choosing a state or a city by it."""

from __future__ import annotations

import pytest

from rag.answer.places import countries, place_fit, states
from rag.text.normalize import normalize_answer


def test_the_lists_know_countries_by_the_names_news_uses_and_the_us_states():
    for name in ("Iceland", "Mexico", "Russia", "South Korea", "Vietnam", "the U.S.", "Britain"):
        assert normalize_answer(name) in countries(), name
    for name in ("California", "New Hampshire", "Texas", "Georgia"):
        assert normalize_answer(name) in states(), name
    assert "los angeles" not in countries() | states()


@pytest.mark.parametrize(
    ("focus", "key", "expected"),
    [
        ("country", "indonesia", (1.0, 0.0)),
        ("nation", "iceland", (1.0, 0.0)),
        ("country", "texas", (0.0, 1.0)),
        ("country", "los angeles", (0.0, 1.0)),
        ("state", "minnesota", (1.0, 0.0)),
        ("state", "canada", (0.0, 1.0)),
        ("state", "scottsboro", (0.0, 1.0)),
        ("city", "china", (0.0, 1.0)),
        ("city", "california", (0.0, 1.0)),
        ("city", "new york", (0.0, 0.0)),  # a state, and a city
        ("city", "atlanta", (0.0, 0.0)),  # no list of cities: no evidence either way
        ("team", "florida", (0.0, 0.0)),
        ("", "mexico", (0.0, 0.0)),
    ],
)
def test_place_fit(focus, key, expected):
    assert place_fit(focus, key) == expected


@pytest.fixture(scope="module")
def storm_app(embedder, tmp_path_factory):
    from rag.api import Citeline
    from rag.settings import Settings

    folder = tmp_path_factory.mktemp("storm")
    (folder / "storm.txt").write_text(
        "Storm closes roads\n\n"
        "Floodwaters closed roads across Sacramento on Monday, emergency officials in California said.\n\n"
        "Crews worked through the night to clear fallen trees.\n",
        encoding="utf-8",
    )
    app = Citeline(Settings(index_dir=folder / "index"), embedder=embedder)
    app.index([folder / "storm.txt"], progress=False)
    return app


@pytest.mark.parametrize(
    ("question", "place"),
    [
        ("Which state saw floodwaters close roads on Monday?", "California"),
        ("Which city saw floodwaters close roads on Monday?", "Sacramento"),
    ],
)
def test_the_same_sentence_answers_which_state_and_which_city_differently(storm_app, question, place):
    reading = storm_app.answer_reader().read(question, storm_app.retrieve(question, 10),
                                            storm_app.reader().annotation)
    assert reading.best is not None and reading.best.text == place
    assert reading.best.best.line == 3
