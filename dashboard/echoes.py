"""A value a user typed or sent, as an error message repeats it: cut to a readable length.

"Date invalide : « 2026-13-45 »" helps; the same sentence around 3,000 characters of
junk (a pasted text, a forged query string) made a report page 32,797 px wide and
hid the form. Every message that repeats what the user gave goes through :func:`echo`;
a message written elsewhere (a refusal from ``store``, which quotes the value as Python
does, ``'...'``) goes through :func:`shorten_echoes` before it reaches the page.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ECHO_MAX", "echo", "shorten_echoes"]

#: Enough for any value a field expects (a date, a year, a name), and for a person to
#: recognise what they typed.
ECHO_MAX: Final = 60
ELLIPSIS: Final = "…"

# Quoted as Python, as a sentence or as French quotes, else any run too long to wrap.
_MORE: Final = "{" + str(ECHO_MAX + 1) + ",}"
_TOO_LONG: Final = re.compile(
    "|".join(
        (
            "'([^']" + _MORE + ")'",
            '"([^"]' + _MORE + ')"',
            r"«\s?([^»]" + _MORE + r"?)\s?»",
            r"(\S" + _MORE + ")",
        )
    )
)


def echo(value: object) -> str:
    """The value as a message repeats it: at most ``ECHO_MAX`` characters, then "…"."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= ECHO_MAX:
        return text
    return text[:ECHO_MAX] + ELLIPSIS


def _cut(match: re.Match[str]) -> str:
    group = match.lastindex or 0
    start, end = match.start(group) - match.start(), match.end(group) - match.start()
    whole = match.group(0)
    return whole[:start] + echo(match.group(group)) + whole[end:]


def shorten_echoes(message: str) -> str:
    """A message from elsewhere with what it quotes (``'...'``, ``"..."``, ``« ... »``)
    cut by :func:`echo`, and any other run of characters too long to wrap cut too."""
    return _TOO_LONG.sub(_cut, message)
