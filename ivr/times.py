"""One rule for instants: every time the project stores or compares is aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def require_utc(value: datetime, name: str = "time") -> datetime:
    """``value`` in UTC; a naive time is refused (ValueError naming ``name``), never
    guessed: a naive time from Asterisk or a form could be local or UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} has no time zone: {value.isoformat()}")
    return value.astimezone(UTC)
