"""Engines, sessions and migrations for SQLite (one small centre) and PostgreSQL.

SQLite is tuned on every new connection, because PRAGMAs are per connection:
WAL so the dashboard can read while the FastAGI server writes, a busy timeout so
a writer waits instead of failing with "database is locked", and foreign keys,
which SQLite leaves off by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000


class DatabaseError(Exception):
    """The database cannot be used as configured."""


class NotMigrated(DatabaseError):
    """The schema is missing or older than this code: run ``ivr211 db upgrade``."""


def normalize_url(url: str | URL, password: str | None = None) -> URL:
    """Parse ``url``; ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"invalid database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None:
        parsed = parsed.set(password=password)
    return parsed


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL, or None for another database or an in-memory one."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(url: str | URL, *, password: str | None = None, echo: bool = False) -> Engine:
    """Create an engine; for a SQLite file, create its folder if missing."""
    parsed = normalize_url(url, password)
    path = sqlite_path(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, echo=echo)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot use database {safe_url(parsed)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection PRAGMAs, and take transaction control back from the sqlite3 module
    (which otherwise only opens a transaction before DML, so a read of several tables
    would not see one snapshot). SQLAlchemy's documented pysqlite recipe."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    """``BEGIN IMMEDIATE`` unless the engine or connection is marked ``readonly``.

    Several processes write (the listener's writer and command poller, the CLI, the
    dashboard). With a plain deferred BEGIN, a transaction that reads then writes
    fails at once with "database is locked" when another connection committed in
    between: SQLite cannot wait there without risking a deadlock, so busy_timeout does
    not apply. IMMEDIATE takes the write lock up front, where busy_timeout does wait.
    Readers (``engine.execution_options(readonly=True)``) keep a deferred BEGIN, which
    in WAL mode never waits for a writer.
    """
    readonly = connection.get_execution_options().get("readonly", False)
    connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def readonly(engine: Engine) -> Engine:
    """The same engine for read-only transactions (a deferred BEGIN on SQLite)."""
    return engine.execution_options(readonly=True)


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and ``config check``."""
    return normalize_url(url).render_as_string(hide_password=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (values are copied out anyway)."""
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise DatabaseError(f"no migration found in {MIGRATIONS_DIR}")
    return head


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Run the migrations up to ``revision``, without an alembic.ini in the working dir."""
    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The schema revision stamped in the database, None when never migrated."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"transactional_ddl": True})
        return context.get_current_revision()


def require_current(engine: Engine) -> None:
    """Refuse to run on a database that is not at the code's schema revision."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        state = "not migrated" if current is None else f"at revision {current}, code needs {head}"
        raise NotMigrated(
            f"database {safe_url(engine.url)} is {state}: run `ivr211 db upgrade` first"
        )
