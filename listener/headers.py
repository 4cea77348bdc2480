"""Numbers and times in AMI event headers, read without trusting them: None when a
header is missing, empty or not what Asterisk sends (the pure readers' shared rule)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from ivr.channels import event_text

__all__ = ["header_count", "header_epoch", "header_seconds"]


def header_count(event: Mapping[str, str], name: str) -> int | None:
    """``HoldTime: 5``, ``Position: 1`` -> that whole number; None unless it is at most
    nine digits (no sign, no fraction)."""
    value = event_text(event, name)
    if value is None or not value.isdigit() or len(value) > 9:
        return None
    return int(value)


def header_seconds(event: Mapping[str, str], name: str) -> float | None:
    """``TalkTime: 7`` -> 7.0 (Asterisk gives whole seconds), by :func:`header_count`."""
    count = header_count(event, name)
    return None if count is None else float(count)


def header_epoch(event: Mapping[str, str], name: str) -> datetime | None:
    """``LoginTime: 1796400574`` -> that time; None for 0, missing or garbage."""
    value = event_text(event, name)
    if value is None or not value.isdigit() or len(value) > 12 or int(value) == 0:
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None
