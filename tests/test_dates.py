from __future__ import annotations

import pytest

from rag.text.dates import find_published, is_date_only, parse_date


@pytest.mark.parametrize(
    ("text", "iso"),
    [("13 March, 2020", "2020-03-13"), ("March 13, 2020", "2020-03-13"), ("2020-03-13", "2020-03-13"),
     ("3rd Jan 2021", "2021-01-03"), ("Sept. 9, 2019", "2019-09-09")],
)
def test_parse_date(text, iso):
    assert parse_date(text) == iso


def test_find_published_reads_the_header_only():
    lines = ["Headline", "", "By someone", "13 March, 2020", "Body text."]
    assert find_published(lines) == "2020-03-13"
    late = ["Headline", *["Body text."] * 20, "It happened on 1 May 2019."]
    assert find_published(late) == ""


def test_is_date_only():
    assert is_date_only("13 March, 2020")
    assert is_date_only("Published: March 13, 2020 10:02 GMT")
    assert not is_date_only("On 13 March, 2020 two soldiers were killed.")
