"""SQLite write transactions wait for each other instead of failing "database is locked"."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from store import models as m
from store.db import make_engine, readonly, session_factory, upgrade


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    upgrade(engine)
    with session_factory(engine).begin() as session:
        session.add(
            m.SettingsVersion(
                id=m.SINGLETON_ID, version=1, changed_at=datetime.now(UTC), changed_by="test"
            )
        )
    yield engine
    engine.dispose()


def test_read_then_write_does_not_fail_when_another_writer_commits_meanwhile(
    engine: Engine,
) -> None:
    """With a deferred BEGIN the first transaction's write would fail at once: another
    connection committed after its read, and SQLite cannot upgrade its snapshot."""
    sessions = session_factory(engine)
    first_has_read = threading.Event()
    second_done = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with sessions.begin() as session:
                session.scalar(select(m.SettingsVersion.version))
                first_has_read.set()
                second_done.wait(0.5)  # the other writer waits for us, or commits now
                session.execute(
                    update(m.SettingsVersion).values(version=m.SettingsVersion.version + 1)
                )
        except BaseException as exc:  # recorded for the test body
            errors.append(exc)

    def second() -> None:
        try:
            first_has_read.wait(5)
            with sessions.begin() as session:
                session.execute(
                    update(m.SettingsVersion).values(version=m.SettingsVersion.version + 1)
                )
            second_done.set()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    with sessions.begin() as session:
        assert session.scalar(select(m.SettingsVersion.version)) == 3


def test_readonly_transactions_do_not_wait_for_a_writer(engine: Engine) -> None:
    writer = session_factory(engine).begin()
    session = writer.__enter__()
    try:
        session.execute(update(m.SettingsVersion).values(version=7))
        with readonly(engine).connect() as conn:
            # WAL: the reader sees the last committed value without waiting
            assert conn.execute(text("SELECT version FROM settings_version")).scalar() == 1
    finally:
        writer.__exit__(None, None, None)
