"""The line settings that classic AGI reads by default.

``python -m agi_scripts.classic incoming`` (the documented dialplan call) takes
``--settings MODULE:CALLABLE``; without it, it loads :func:`line_settings` below by
that name (``ivr211.agi:line_settings``, ``agi_scripts.classic.DEFAULT_SETTINGS``), the
same way as any other source: agi_scripts, an adapter, never imports ``ivr211``.
"""

from __future__ import annotations

import functools

from ivr.settings import LineSettings
from ivr211.config import load_config
from store.db import make_engine
from store.linesettings import SettingsStore

__all__ = ["line_settings"]


@functools.cache
def _store() -> SettingsStore:
    """The settings store of the database the ivr211 configuration names (the file in
    ``$IVR211_CONFIG``, else defaults), opened once per process."""
    config = load_config()
    return SettingsStore(make_engine(config.database.url, password=config.database.password()))


def line_settings() -> LineSettings:
    """The line settings, read from the database at each call."""
    return _store().load()
