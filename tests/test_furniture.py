from __future__ import annotations

import pytest

from rag.ingest.furniture import furniture_lines, is_furniture
from tests.conftest import SEED


@pytest.mark.parametrize(
    "line",
    ["4 min read", "Read more: US, UK soldiers killed in Iraq military base attack",
     "Follow us on FacebookTwitter and Instagram to stay connected", "Agencies contributed to this report.",
     "Advertisement", "By Jane Doe", "13 March, 2020", "The army said five were killed. [Getty]",
     "(Reporting by John Smith; Editing by Bob Jones)", "Share this article", "Copyright 2020 Reuters"],
)
def test_furniture(line):
    assert is_furniture(line)


@pytest.mark.parametrize(
    "line",
    ["Two Americans and a 26-year-old British soldier were killed.", "By Friday, officials said the base was safe.",
     "Published reports say 10 people died.", "Recommended doses were given to 20 patients.",
     "Read the full statement, the minister urged lawmakers on Monday."],
)
def test_reporting_is_not_furniture(line):
    assert not is_furniture(line)


def test_seed_furniture_lines():
    lines = SEED.read_text(encoding="utf-8").split("\n")
    found = furniture_lines(lines, title=lines[0])
    # headline, its repeat, "4 min read", dateline, captioned photo, "Read more", credit, "Follow us"
    assert found == [1, 3, 5, 6, 7, 18, 54, 56]
