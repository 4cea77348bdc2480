"""One rule for instants: every time the project stores or compares is aware UTC; and
one check of a time zone's name."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def require_utc(value: datetime, name: str = "time") -> datetime:
    """``value`` in UTC; a naive time is refused (ValueError naming ``name``), never
    guessed: a naive time from Asterisk or a form could be local or UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} has no time zone: {value.isoformat()}")
    return value.astimezone(UTC)


def known_zone(name: str) -> str:
    """``name`` when this machine knows it as a time zone (``America/Toronto``); else a
    ValueError ("unknown time zone ..."), for a configuration or a seed to report."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name
