"""The shared statements of store/: update-or-insert of one row, an UPDATE's row count,
and a directory's entries made durable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from store.files import fsync_dir
from store.heartbeats import ServiceHeartbeat
from store.rows import changed_rows, update_or_insert

T0 = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        yield sess


def _beat(at: datetime) -> dict[str, object]:
    return {"host": "pbx", "pid": 7, "started_at": T0, "heartbeat_at": at}


def test_update_or_insert_adds_the_row_once_then_updates_it(session: Session) -> None:
    update_or_insert(session, ServiceHeartbeat, {"name": "fastagi"}, _beat(T0))
    session.commit()
    later = T0 + timedelta(seconds=5)
    update_or_insert(session, ServiceHeartbeat, {"name": "fastagi"}, _beat(later))
    session.commit()
    row = session.get(ServiceHeartbeat, "fastagi", populate_existing=True)
    assert row is not None
    assert (row.heartbeat_at, row.started_at) == (later, T0)


def test_on_insert_values_apply_to_a_new_row_only(session: Session) -> None:
    first = {**_beat(T0), "pid": 1}
    update_or_insert(session, ServiceHeartbeat, {"name": "x"}, _beat(T0), on_insert=first)
    update_or_insert(session, ServiceHeartbeat, {"name": "x"}, _beat(T0), on_insert=first)
    session.commit()
    row = session.get(ServiceHeartbeat, "x", populate_existing=True)
    assert row is not None and row.pid == 7


def test_changed_rows_counts_what_an_update_changed(session: Session) -> None:
    for name in ("a", "b"):
        update_or_insert(session, ServiceHeartbeat, {"name": name}, _beat(T0))
    stmt = update(ServiceHeartbeat).where(ServiceHeartbeat.pid == 7).values(pid=8)
    assert changed_rows(session, stmt) == 2
    assert changed_rows(session, stmt) == 0


def test_fsync_dir_accepts_a_directory_only(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "missing")
