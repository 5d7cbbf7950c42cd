"""rag/text/textsafe.py: what the CLI prints of user text never drives the terminal and can always be written."""

from __future__ import annotations

from rag.text.textsafe import encodable, has_surrogates, printable


def test_escape_sequences_and_controls_are_dropped_tabs_newlines_and_letters_kept():
    text = "\x1b[31mred\x1b[0m \x1b]0;title\x07name\x00\x07\x9b\tCafé\nline 2 \x1bc"
    assert printable(text) == "red name\tCafé\nline 2 "
    assert printable("Who was killed at Camp Taji?") == "Who was killed at Camp Taji?"


def test_lone_surrogates_are_found_and_replaced():
    undecodable = b"Caf\xe9".decode("utf-8", "surrogateescape")  # how Python keeps a non-UTF-8 argv byte
    assert has_surrogates(undecodable) and not has_surrogates("Café")
    assert encodable(undecodable) == "Caf\ufffd"
    assert encodable(undecodable).encode("utf-8")  # no UnicodeEncodeError
