"""Fine answer typing for place questions: whether a phrase is a country or a state, from pycountry's ISO lists.

The entity recogniser says "a place" (GPE) for Iceland, Texas and Los Angeles alike, so "which state" was
answered with a city and "which country" with a state. Questions whose focus is a country, a state or a city
are a fifth of RealTimeQA 2024's; with these two features, and places no longer merged by name (candidates.py),
the reader's cross-validated exact match on it went from 0.309 to 0.326 (BENCHMARKS.md, "The reader, fourth
session").
"""

from __future__ import annotations

from functools import cache

from rag.text.normalize import normalize_answer

COUNTRY_FOCUS = frozenset({"country", "nation"})
STATE_FOCUS = frozenset({"state"})
CITY_FOCUS = frozenset({"city", "town"})

# The names news uses that the ISO list does not give (its names are "Viet Nam", "Russian Federation", ...).
_COUNTRY_ALIASES = (
    "US", "U.S.", "USA", "America", "United States of America", "Britain", "Great Britain", "UK", "England",
    "Scotland", "Wales", "Northern Ireland", "Russia", "Turkey", "Czech Republic", "Vatican", "Palestine", "Congo",
    "Ivory Coast", "Holland", "South Korea", "North Korea", "Iran", "Syria", "Vietnam", "Venezuela", "Bolivia",
    "Tanzania", "Laos", "Moldova", "Taiwan", "Micronesia", "Brunei", "Cape Verde", "Swaziland", "Burma",
    "Macedonia", "East Timor", "Kosovo",
)
# Countries and states that are also the name of a city: no evidence against a "which city" answer.
_CITIES_TOO = frozenset({"new york", "washington", "singapore", "monaco", "vatican", "vatican city", "kuwait",
                         "djibouti", "luxembourg", "panama", "guatemala"})


@cache
def countries() -> frozenset[str]:
    """Every country's name, common name and official name, normalised as answers are."""
    import pycountry

    names = {getattr(c, attribute, None) for c in pycountry.countries
             for attribute in ("name", "common_name", "official_name")}
    return frozenset(normalize_answer(n) for n in (*names, *_COUNTRY_ALIASES) if n)


@cache
def states() -> frozenset[str]:
    """The US states and territories, and the subdivisions the ISO list calls states (India's, Australia's, ...)."""
    import pycountry

    found = {s.name for s in pycountry.subdivisions if s.country_code == "US" or s.type == "State"}
    return frozenset(normalize_answer(n) for n in found)


def place_fit(focus: str, key: str) -> tuple[float, float]:
    """(fits, misfits) of a normalised answer for a question's focus noun: "which country" wants a country, "which
    state" a state; a city is not a country or a state. (0, 0) where the lists cannot tell."""
    if focus in COUNTRY_FOCUS:
        return (1.0, 0.0) if key in countries() else (0.0, 1.0)
    if focus in STATE_FOCUS:
        return (1.0, 0.0) if key in states() else (0.0, 1.0)
    if focus in CITY_FOCUS and key not in _CITIES_TOO and (key in countries() or key in states()):
        return 0.0, 1.0
    return 0.0, 0.0
