"""Asterisk naming and timing facts every reader of the AMI stream and CEL rows shares.

Channel names end with Asterisk's ``-XXXXXXXX`` sequence (eight hex digits) and, for a
Local channel, ``;1`` or ``;2``: ``PJSIP/nav-alice-0000002a``,
``Local/nav-manual@navigators-00000014;1``. Without them the name is the endpoint, which
is what a navigator account is tied to and what transfer records name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

_SUFFIX = re.compile(r"-[0-9A-Fa-f]{8}(?:;\d+)?$")
_TIMESTAMP = re.compile(r"(\d{1,12})(?:\.(\d{1,9}))?")


def channel_endpoint(channel: str) -> str:
    """``PJSIP/nav-alice-0000002a`` -> ``PJSIP/nav-alice``;
    ``Local/nav-manual@navigators-00000014;1`` -> ``Local/nav-manual@navigators``.
    A name without the suffix is returned as it is."""
    return _SUFFIX.sub("", channel.strip())


def has_channel_suffix(name: str) -> bool:
    return _SUFFIX.search(name) is not None


def aware_utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def event_time(event: Mapping[str, str], received_at: datetime) -> datetime:
    """When the event happened: its ``Timestamp: 1795880062.329001`` header
    (``timestampevents = yes``), else when it was received."""
    raw = event.get("Timestamp")
    if isinstance(raw, str):
        match = _TIMESTAMP.fullmatch(raw.strip())
        if match:
            micros = int((match[2] or "0")[:6].ljust(6, "0"))
            try:
                return datetime.fromtimestamp(int(match[1]), UTC) + timedelta(microseconds=micros)
            except (OverflowError, OSError, ValueError):
                pass
    return aware_utc(received_at)
