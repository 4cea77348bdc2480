"""The record writer against a real database that goes away and comes back.

Outages are real: on SQLite another connection holds an EXCLUSIVE transaction (the
writer's busy timeout is cut to 20 ms, so it gets "database is locked"); on PostgreSQL
the test's database stops accepting connections and the writer's are terminated
("database ... is not currently accepting connections"). The background retry is set
far in the future so that only ``flush`` (which retries the spool once, now) decides
when the writer tries again: no test depends on timing.

Both spool writers run the tests of the machinery they share (outage, restart, replay,
cut lines, full queue): the transfer facts' ``RecordWriter`` and the call facts'
``CallWriter`` (``WriterCase``).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, make_url, select
from sqlalchemy.orm import Session

from listener.callwriter import CallWriter, fact_from_line, fact_to_line
from listener.writer import (
    RecordWriter,
    Spool,
    SpoolFormatError,
    SpoolWriter,
    fact_from_json,
    fact_to_json,
)
from store import models as m
from store.calls import CallFact, CallRecord, CallSource
from store.db import make_engine, upgrade
from store.facts import Kind, Outcome, Source, TransferFact
from store.transfers import fact_of

T0 = datetime(2026, 3, 31, 23, 59, 58, 999999, tzinfo=UTC)
NO_BACKGROUND_RETRY = {"retry_initial_s": 3600.0, "retry_max_s": 3600.0}


def fact(key: str, **changes: Any) -> TransferFact:
    base = TransferFact(
        key=key,
        kind=Kind.ATTENDED,
        outcome=Outcome.COMPLETED,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=30),
        linkedid="1764351234.20",
        navigator_channel="Local/nav-manual@navigators",
        destination="911",
        target_exten="911",
        target_context="emergency-services",
        answer_delay_s=1.0,
        caller_uniqueid="1764351234.20",
    )
    return dataclasses.replace(base, **changes)


def facts(prefix: str, n: int) -> list[TransferFact]:
    return [fact(f"atxfer:{prefix}.{i}") for i in range(n)]


def stored_keys(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(select(m.TransferRecord.key)))


def row_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(m.TransferRecord)) or 0


def spooled_keys(path: Path) -> list[str]:
    if not path.exists():
        return []
    return sorted(json.loads(line)["key"] for line in path.read_text().splitlines())


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    """A migrated database; on SQLite, a writer waits only 20 ms for a lock."""
    engine = make_engine(db_url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout=20")

    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def outage(request: pytest.FixtureRequest, engine: Engine) -> Iterator[None]:
    """The database refuses the writer until the block ends."""
    url = engine.url
    if engine.dialect.name == "sqlite":
        assert url.database is not None
        locker = sqlite3.connect(url.database, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            yield
            locker.execute("ROLLBACK")
        finally:
            locker.close()
        return
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = url.database
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def unreachable_engine(engine: Engine, tmp_path: Path) -> Engine:
    """An engine of the same dialect on a database that is not there."""
    if engine.dialect.name == "sqlite":
        return create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'store.db'}")
    url = make_url(str(engine.url)).set(port=1, query={"connect_timeout": "2"})
    return create_engine(url)


@dataclasses.dataclass(frozen=True)
class WriterCase:
    """One spool writer and facts of its kind, named: what the shared tests need of it."""

    name: str
    writer: type[SpoolWriter[Any]]
    spool_name: str
    make: Callable[[str], Any]  # the fact named ``name``
    ident: Callable[[Any], str]  # what names a fact in the database
    encode: Callable[[Any], str]
    decode: Callable[[str], Any]
    stored: Callable[[Engine], list[str]]  # the idents in the database, sorted
    counts_new_only: bool  # counts["written"] counts only facts not stored before

    def many(self, prefix: str, n: int) -> list[Any]:
        return [self.make(f"{prefix}.{i}") for i in range(n)]

    def ids(self, facts: Sequence[Any]) -> list[str]:
        return sorted(self.ident(f) for f in facts)

    def spooled(self, path: Path) -> list[str]:
        if not path.exists():
            return []
        return sorted(self.ident(self.decode(line)) for line in path.read_text().splitlines())


def stored_calls(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(select(CallRecord.linkedid)))


TRANSFERS = WriterCase(
    name="transfers",
    writer=RecordWriter,
    spool_name="spool.jsonl",
    make=lambda name: fact(f"atxfer:{name}"),
    ident=lambda f: f.key,
    encode=fact_to_json,
    decode=fact_from_json,
    stored=stored_keys,
    counts_new_only=True,
)
CALLS = WriterCase(
    name="calls",
    writer=CallWriter,
    spool_name="spool.jsonl.calls",
    make=lambda name: CallFact(
        linkedid=f"call:{name}",
        at=T0,
        source=CallSource.AMI,
        caller_number="+1 418 555-0123",
        ended_at=T0 + timedelta(seconds=30),
    ),
    ident=lambda f: f.linkedid,
    encode=fact_to_line,
    decode=fact_from_line,
    stored=stored_calls,
    counts_new_only=False,
)


@pytest.fixture(params=[TRANSFERS, CALLS], ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> WriterCase:
    """Each spool writer in turn."""
    return request.param


# ---- JSON lines --------------------------------------------------------------------------

ROUND_TRIP = [
    fact("atxfer:1"),
    fact(
        "referral:1764351234.20:811",
        kind=Kind.REFERRAL,
        outcome=Outcome.COMPLETED,
        started_at=datetime(2026, 11, 1, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5))),
        ended_at=None,
        destination=None,
        answer_delay_s=None,
        caller_uniqueid=None,
        caller_number="+1 418 555-0123",
        language="fr",
        path="principal>navigatrice «é»",
        interpreter=True,
        source=Source.ACTION,
    ),
    fact("blind:a:b", kind=Kind.BLIND, answer_delay_s=0.1 + 0.2, source=Source.CEL),
    fact("conf:x", kind=Kind.THREEWAY, outcome=Outcome.NOT_ANSWERED, answer_delay_s=1e-6),
]


@pytest.mark.parametrize("original", ROUND_TRIP, ids=lambda f: f.key)
def test_json_round_trip_is_lossless(original: TransferFact) -> None:
    line = fact_to_json(original)
    assert "\n" not in line
    back = fact_from_json(line)
    assert back == original
    for name in ("started_at", "ended_at"):
        before, after = getattr(original, name), getattr(back, name)
        assert (after is None) == (before is None)
        if before is not None:
            assert after.utcoffset() == before.utcoffset()
    assert type(back.kind) is Kind
    assert type(back.outcome) is Outcome
    assert type(back.source) is Source


@pytest.mark.parametrize(
    "line",
    [
        '{"key": "atxfer:1", "kind": "attended"',
        "[1, 2]",
        '{"key": "atxfer:1"}',
        fact_to_json(fact("atxfer:1")).replace('"attended"', '"sideways"'),
        fact_to_json(fact("atxfer:1"))[:-1] + ',"extra":1}',
    ],
)
def test_bad_spool_lines_are_refused(line: str) -> None:
    with pytest.raises(SpoolFormatError):
        fact_from_json(line)


# ---- the writer --------------------------------------------------------------------------


def test_submitted_facts_are_written(db: Engine, case: WriterCase, tmp_path: Path) -> None:
    batch = case.many("1764351240", 5)
    with case.writer(db, tmp_path / case.spool_name) as writer:
        writer.submit(batch[:3])
        writer.submit(batch[2:])
        writer.submit([])
        assert writer.flush(timeout=30)
        written = 5 if case.counts_new_only else 6
        assert writer.counts == {"written": written, "spooled": 0, "rejected": 0}
    assert case.stored(db) == case.ids(batch)
    assert not writer.alive
    assert case.spooled(tmp_path / case.spool_name) == []


def test_facts_submitted_during_an_outage_are_written_once_when_it_ends(
    request: pytest.FixtureRequest, db: Engine, case: WriterCase, tmp_path: Path
) -> None:
    spool = tmp_path / case.spool_name
    before, during = case.many("before", 2), case.many("during", 4)
    with case.writer(db, spool, **NO_BACKGROUND_RETRY) as writer:
        writer.submit(before)
        assert writer.flush(timeout=30)
        with outage(request, db):
            writer.submit(during[:2])
            writer.submit(during[2:])
            assert not writer.flush(timeout=30)
            assert case.spooled(spool) == case.ids(during)
        assert writer.flush(timeout=30)
        assert case.spooled(spool) == []
        writer.submit(during)  # seen again (a replay, a reconnect): not doubled
        assert writer.flush(timeout=30)
    assert case.stored(db) == case.ids(before + during)


def crash_after_replay_write(writer: type[SpoolWriter[Any]]) -> type[SpoolWriter[Any]]:
    """A writer that dies between writing the spool to the database and cutting it."""

    class CrashAfterReplayWrite(writer):
        def _after_replay_write(self) -> None:
            raise RuntimeError("simulated crash before the spool is truncated")

    return CrashAfterReplayWrite


def test_a_crash_between_replay_and_truncate_doubles_nothing(
    db: Engine, case: WriterCase, tmp_path: Path
) -> None:
    path = tmp_path / case.spool_name
    pending = case.many("spooled", 6)
    Spool(path).append_lines([case.encode(f) for f in pending])
    crashing = crash_after_replay_write(case.writer)(db, path, **NO_BACKGROUND_RETRY)
    try:
        assert not crashing.flush(timeout=30)
    finally:
        crashing.close()
    assert case.stored(db) == case.ids(pending)  # in the database ...
    assert case.spooled(path) == case.ids(pending)  # ... and still spooled
    with case.writer(db, path) as writer:
        assert writer.flush(timeout=30)
        assert writer.counts["written"] == (0 if case.counts_new_only else len(pending))
    assert case.stored(db) == case.ids(pending)
    assert case.spooled(path) == []


def test_the_spool_survives_a_restart(db: Engine, case: WriterCase, tmp_path: Path) -> None:
    path = tmp_path / case.spool_name
    pending = case.many("restart", 3)
    gone = unreachable_engine(db, tmp_path)
    try:
        first = case.writer(gone, path, **NO_BACKGROUND_RETRY)
        first.submit(pending)
        first.close()
    finally:
        gone.dispose()
    assert case.spooled(path) == case.ids(pending)
    assert case.stored(db) == []
    with case.writer(db, path) as second:  # a new process: the spool is replayed at start
        assert second.flush(timeout=30)
    assert case.stored(db) == case.ids(pending)
    assert case.spooled(path) == []


def test_facts_submitted_after_close_wait_in_the_spool(
    db: Engine, case: WriterCase, tmp_path: Path
) -> None:
    path = tmp_path / case.spool_name
    late = case.make("late")
    writer = case.writer(db, path)
    writer.close()
    writer.close()
    writer.submit([late])
    assert not writer.flush(timeout=30)
    assert case.spooled(path) == case.ids([late])
    with case.writer(db, path) as next_writer:
        assert next_writer.flush(timeout=30)
    assert case.stored(db) == case.ids([late])


def slow_database(writer: type[SpoolWriter[Any]]) -> type[SpoolWriter[Any]]:
    """A writer that holds its first write until the test lets it go, to fill the queue."""

    class SlowDatabase(writer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.entered = threading.Event()
            self.release = threading.Event()
            super().__init__(*args, **kwargs)

        def _write(self, batch: Sequence[Any]) -> int:
            if not self.entered.is_set():
                self.entered.set()
                assert self.release.wait(30)
            return super()._write(batch)

    return SlowDatabase


def test_a_full_queue_spools_at_once(db: Engine, case: WriterCase, tmp_path: Path) -> None:
    path = tmp_path / case.spool_name
    a, b, c = case.make("a"), case.make("b"), case.make("c")
    writer: Any = slow_database(case.writer)(db, path, queue_size=1, batch_size=1)
    try:
        writer.submit([a])
        assert writer.entered.wait(30)  # the thread holds batch a
        writer.submit([b])  # fills the queue
        writer.submit([c])  # no room: straight to the spool
        assert case.spooled(path) == case.ids([c])
        writer.release.set()
        assert writer.flush(timeout=30)
    finally:
        writer.release.set()
        writer.close()
    assert case.stored(db) == case.ids([a, b, c])
    assert case.spooled(path) == []


#: Ten times the peak of 1,000 calls ending at once: one fact each, submitted together.
BURST = 10_000


def test_a_burst_of_ten_times_the_peak_is_stored_once_without_spilling(
    db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "spool.jsonl"
    burst = facts("burst", BURST)
    with RecordWriter(db, path) as writer:  # as the listener makes it
        for one in burst:
            writer.submit([one])  # from one thread, as the event loop does
        assert writer.flush(timeout=300)
        assert writer.counts == {"written": BURST, "spooled": 0, "rejected": 0}
        assert not path.exists() or path.read_bytes() == b""
        for one in burst:  # the same burst again (a replay, a reconnect): nothing doubled
            writer.submit([one])
        assert writer.flush(timeout=300)
        assert writer.counts == {"written": BURST, "spooled": 0, "rejected": 0}
    assert row_count(db) == BURST
    assert stored_keys(db) == sorted(f.key for f in burst)


def test_a_fact_the_database_refuses_is_set_aside(db: Engine, tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    poison = fact("atxfer:naive", started_at=datetime(2026, 6, 1, 12, 0))
    with RecordWriter(db, path) as writer:
        writer.submit([fact("atxfer:ok1"), poison, fact("atxfer:ok2")])
        assert writer.flush(timeout=30)
        assert writer.counts == {"written": 2, "spooled": 0, "rejected": 1}
    assert stored_keys(db) == ["atxfer:ok1", "atxfer:ok2"]
    rejected = [json.loads(line) for line in Path(f"{path}.rejected").read_text().splitlines()]
    assert [fact_from_json(r["line"]) for r in rejected] == [poison]
    assert "naive" in rejected[0]["error"]


def test_a_line_cut_by_a_crash_does_not_block_the_spool(
    db: Engine, case: WriterCase, tmp_path: Path
) -> None:
    path = tmp_path / case.spool_name
    good = case.many("good", 2)
    cut = case.encode(case.make("cut"))[:40]
    path.write_text(case.encode(good[0]) + "\n" + case.encode(good[1]) + "\n" + cut)
    with case.writer(db, path) as writer:
        assert writer.flush(timeout=30)
        assert writer.counts["rejected"] == 1
    assert case.stored(db) == case.ids(good)
    assert case.spooled(path) == []
    rejected = [json.loads(line) for line in Path(f"{path}.rejected").read_text().splitlines()]
    assert [r["line"] for r in rejected] == [cut]


def test_written_records_keep_every_field(db: Engine, tmp_path: Path) -> None:
    with RecordWriter(db, tmp_path / "spool.jsonl") as writer:
        writer.submit(ROUND_TRIP)
        assert writer.flush(timeout=30)
    with Session(db) as session:
        back = {r.key: fact_of(r) for r in session.scalars(select(m.TransferRecord))}
    assert back == {f.key: f for f in ROUND_TRIP}
