"""A phone number as Québec writes it, from the digits the line stores.

Numbers are stored as dialled: digits, perhaps a leading ``+`` (``store.linesettings``
normalises what an administrator types; Asterisk gives the caller's number as digits).
People read them grouped the Québec way, with a space and a hyphen (the Office québécois
de la langue française's usage, and Bell's directory):

- ``4185550177`` -> ``418 555-0177`` (area code, exchange, line);
- ``18662773553`` -> ``1 866 277-3553`` (the long-distance 1 first);
- ``+14185550177`` -> ``+1 418 555-0177``;
- the short codes (``211``, ``811``, ``911``, ``988``) as they are;
- anything else (an extension, an international number, a typo) exactly as stored: a
  wrong grouping would make a number look like another one.

Pure, so that every reader (the dashboard, the CLI) shows the same thing.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["format_phone"]

_NANP: Final = re.compile(r"^(\+?1)?(\d{3})(\d{3})(\d{4})$")


def format_phone(number: str | None) -> str:
    """The number grouped for reading (see the module's docstring); ``""`` for none.

    >>> format_phone("4185550177")
    '418 555-0177'
    >>> format_phone("18662773553")
    '1 866 277-3553'
    >>> format_phone("911")
    '911'
    """
    if number is None:
        return ""
    text = number.strip()
    match = _NANP.match(text)
    if match is None:
        return text
    country, area, exchange, line = match.groups()
    grouped = f"{area} {exchange}-{line}"
    return grouped if country is None else f"{country} {grouped}"
