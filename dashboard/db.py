"""The database and the line settings, as views reach them during a request.

Pages read through ``read_session()`` (a deferred BEGIN on SQLite, which never waits
for a writer in WAL mode) and change things in a short ``write()`` block: on SQLite a
write transaction is ``BEGIN IMMEDIATE`` and holds the database's write lock, so it
must not stay open while a template renders.

Queries live beside the models (store/), not in the views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dashboard.options import DashboardOptions
from ivr.settings import LineSettings
from store.db import readonly, session_factory
from store.linesettings import CachedSettings, SettingsStore

EXTENSION = "ivr211"

__all__ = [
    "DashboardContext",
    "context",
    "engine",
    "line_settings",
    "now",
    "options",
    "read_session",
    "settings_store",
    "write",
]


@dataclass
class DashboardContext:
    """What ``create_app`` built once, kept in ``app.extensions["ivr211"]``."""

    options: DashboardOptions
    engine: Engine
    store: SettingsStore
    settings: CachedSettings
    clock: Callable[[], datetime]
    reads: sessionmaker[Session]
    writes: sessionmaker[Session]

    @classmethod
    def build(
        cls,
        options: DashboardOptions,
        engine: Engine,
        clock: Callable[[], datetime],
    ) -> DashboardContext:
        store = SettingsStore(engine)
        return cls(
            options=options,
            engine=engine,
            store=store,
            settings=CachedSettings(store, options.settings_cache_s),
            clock=clock,
            reads=session_factory(readonly(engine)),
            writes=session_factory(engine),
        )


def context(app: Flask | None = None) -> DashboardContext:
    ctx: DashboardContext = (app or current_app).extensions[EXTENSION]
    return ctx


def options() -> DashboardOptions:
    return context().options


def engine() -> Engine:
    return context().engine


def now() -> datetime:
    """The current time (aware, UTC): the app's clock, which tests can set."""
    return context().clock()


def settings_store() -> SettingsStore:
    return context().store


def line_settings() -> LineSettings:
    """The line settings, cached for a few seconds and reloaded when their version moves."""
    return context().settings()


def read_session() -> Session:
    """A read-only session for this request, closed when the request ends.

    Its transaction begins at the first query and lasts until the end of the request,
    so everything a page reads comes from one snapshot."""
    session: Session | None = g.get("_ivr211_read_session")
    if session is None:
        session = context().reads()
        g._ivr211_read_session = session
    return session


@contextmanager
def write() -> Iterator[Session]:
    """A short write transaction, committed at the end of the block (rolled back on error)."""
    with context().writes.begin() as session:
        yield session


def close_request_sessions(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("_ivr211_read_session", None)
    if session is not None:
        session.close()
