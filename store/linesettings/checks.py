"""The dialplan's side of the short codes: which code of ``[navigator-transfers]`` dials
which destination, and where the directory and the dialplan disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ivr.dialplan import dest_token
from store.linesettings.directory import DestinationRecord

_EXTEN_RE = re.compile(
    r"^\s*exten\s*=>?\s*([0-9]+)\s*,\s*1\s*,\s*Gosub\(\s*ivr211-dial-code\s*,\s*s\s*,\s*1\(\s*"
    r"([A-Z0-9_]+)\s*\)\s*\)",
    re.IGNORECASE,
)


def dialplan_transfer_codes(extensions_conf: str) -> dict[str, str]:
    """Short code -> destination token (``dest_token``) of ``[navigator-transfers]``.

    The dialplan, not the database, decides which codes a navigator can dial: a new
    destination needs its extension there (``exten => 204,1,Gosub(ivr211-dial-code,
    s,1(NEW_KEY))``) and a dialplan reload; its number then comes from AstDB.
    """
    codes: dict[str, str] = {}
    section = None
    for line in extensions_conf.splitlines():
        stripped = line.split(";", 1)[0].strip()
        header = re.match(r"^\[([^\]]+)\]", stripped)
        if header:
            section = header.group(1)
            continue
        if section == "navigator-transfers":
            match = _EXTEN_RE.match(stripped)
            if match:
                codes[match.group(1)] = match.group(2).upper()
    return codes


def dialplan_mismatches(
    destinations: list[DestinationRecord], codes: Mapping[str, str]
) -> dict[str, str]:
    """Destination key -> what is wrong between its short code and the dialplan."""
    problems: dict[str, str] = {}
    for dest in destinations:
        if not dest.active:
            continue
        token = codes.get(dest.short_code)
        if token is None:
            problems[dest.key] = f"no extension {dest.short_code} in [navigator-transfers]"
        elif token != dest_token(dest.key):
            problems[dest.key] = (
                f"extension {dest.short_code} of [navigator-transfers] dials {token},"
                f" not {dest_token(dest.key)}"
            )
    return problems
