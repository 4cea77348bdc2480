"""Writes of the listener's threads that SQLite may refuse for a moment."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError

__all__ = ["retry_locked"]

_T = TypeVar("_T")


def retry_locked(fn: Callable[[], _T], attempts: int = 8) -> _T:
    """SQLite with deferred BEGIN fails at once ("database is locked", no busy wait) when a
    read transaction upgrades to a write after another connection wrote; retry briefly."""
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")
