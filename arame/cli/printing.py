"""Text from rows and messages, made safe for a terminal: control characters shown escaped.

A task name, an error message or a dead letter's reason is written by whoever published the
message; printed raw, an escape sequence in it would move the cursor, retitle the window or
hide the lines before it.
"""

from __future__ import annotations

import unicodedata

#: Bidirectional overrides and isolates: they reorder what a reader sees (``Cf``, not ``Cc``).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(value: object, *, lines: bool = False) -> str:
    """``str(value)`` with control characters as ``\\x1b``-style escapes.

    Args:
        value: what to print (``None`` prints as ``-``).
        lines: keep newlines and tabs (a traceback); otherwise they are escaped too.
    """
    text = "-" if value is None else str(value)
    if text.isprintable():
        return text  # the common case, checked in C
    return "".join(_escape(char, lines) for char in text)


def _escape(char: str, lines: bool) -> str:
    if lines and char in "\n\t":
        return char
    category = unicodedata.category(char)
    if category in {"Cc", "Cs"} or char in _BIDI:
        return ascii(char)[1:-1]
    return char
