"""Asterisk naming and timing facts every reader of the AMI stream and CEL rows shares:
a channel's endpoint, an event's header value and time.

Channel names end with Asterisk's ``-XXXXXXXX`` sequence (eight hex digits) and, for a
Local channel, ``;1`` or ``;2``: ``PJSIP/nav-alice-0000002a``,
``Local/nav-manual@navigators-00000014;1``. Without them the name is the endpoint, which
is what a navigator account is tied to and what transfer records name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from ivr.times import require_utc

#: The longest header value a reader keeps; a longer one is garbage, not a name or an id.
MAX_FIELD = 512
_SUFFIX = re.compile(r"-[0-9A-Fa-f]{8}(?:;\d+)?$")
_TIMESTAMP = re.compile(r"(\d{1,12})(?:\.(\d{1,9}))?")


def channel_endpoint(channel: str) -> str:
    """``PJSIP/nav-alice-0000002a`` -> ``PJSIP/nav-alice``;
    ``Local/nav-manual@navigators-00000014;1`` -> ``Local/nav-manual@navigators``.
    A name without the suffix is returned as it is."""
    return _SUFFIX.sub("", channel.strip())


def has_channel_suffix(name: str) -> bool:
    return _SUFFIX.search(name) is not None


def event_text(event: Mapping[str, str], name: str) -> str | None:
    """The header ``name`` of an AMI event, stripped; None when it is missing, empty,
    Asterisk's ``<unknown>`` or longer than ``MAX_FIELD``."""
    value = event.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or value == "<unknown>" or len(value) > MAX_FIELD:
        return None
    return value


def event_time(event: Mapping[str, str], received_at: datetime) -> datetime:
    """When the event happened: its ``Timestamp: 1795880062.329001`` header
    (``timestampevents = yes``), else when it was received (aware: a naive arrival time
    is refused, ``ivr.times.require_utc``)."""
    raw = event.get("Timestamp")
    if isinstance(raw, str):
        match = _TIMESTAMP.fullmatch(raw.strip())
        if match:
            micros = int((match[2] or "0")[:6].ljust(6, "0"))
            try:
                return datetime.fromtimestamp(int(match[1]), UTC) + timedelta(microseconds=micros)
            except (OverflowError, OSError, ValueError):
                pass
    return require_utc(received_at, "received_at")
