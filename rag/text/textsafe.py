"""Text that is safe to show: no terminal escape sequences, no control characters, no lone surrogates.

A question or an article may hold ESC sequences (which recolour or rewrite a terminal), NUL and other control
characters, or, from a terminal in another encoding, bytes that are not UTF-8 (Python's argv keeps them as lone
surrogates, which cannot be printed or encoded). The CLI prints text only through `printable`.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and the two-character escapes of ECMA-48 (ESC 0x30-0x7E:
# ESC 7 saves the cursor, ESC c resets the terminal).
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[0-~])?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 and C1 controls but tab and newline
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` without escape sequences and control characters (tabs and newlines kept)."""
    return _CONTROL.sub("", _ESCAPE.sub("", text))


def has_surrogates(text: str) -> bool:
    """True for text holding lone surrogates: undecodable bytes kept by Python, or a broken \\ud800 escape."""
    return _SURROGATE.search(text) is not None


def encodable(text: str) -> str:
    """`text` with lone surrogates replaced, so that it can always be written out."""
    return _SURROGATE.sub("\ufffd", text)
