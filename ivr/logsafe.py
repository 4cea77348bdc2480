"""One rule for putting a value that came from outside into a log line.

A header value, a reply, a caller's number or a file name may hold a carriage return,
a line feed or another control character: written as is, ``agi_uniqueid: 1\\r2025-...
CRITICAL forged`` would start a line of its own in the log. :func:`printable` escapes
every control character (C0, DEL, C1, and the Unicode line and paragraph separators)
the way Python writes them in a literal (``\\r``, ``\\x1b``, ``\\u2028``) and leaves
everything else as it is, accents included; a backslash is doubled, so an escaped
value cannot be mistaken for one that really held ``\\r``.
"""

from __future__ import annotations

import logging
import re
from typing import Final

_NEEDS_ESCAPE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``str(value)`` with its control characters escaped, for a log line.

    >>> printable("1712345678.1\\rCRITICAL forged")
    '1712345678.1\\\\rCRITICAL forged'
    >>> printable("Élodie")
    'Élodie'
    """
    text = value if isinstance(value, str) else str(value)
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _NEEDS_ESCAPE.sub(_escape, text)


class EscapingFormatter(logging.Formatter):
    """A formatter that escapes the control characters left in each record's message
    (the traceback it appends keeps its own lines): the net under every log call, in
    case one passes a value from outside without :func:`printable`. Backslashes are left
    as they are here, so a value already escaped is not escaped twice."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        if _CONTROL.search(record.message) is not None:
            record.message = _CONTROL.sub(_escape, record.message)
        return super().formatMessage(record)
