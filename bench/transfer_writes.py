"""Transfer records written by the listener's writer, beside raw ``executemany``.

Prints figures; asserts nothing. Run from the repository root::

    .venv/bin/python bench/transfer_writes.py                  # SQLite and PostgreSQL
    .venv/bin/python bench/transfer_writes.py --only sqlite --facts 5000 --runs 1

Each measure starts on a fresh database made by the real migrations, with the packaged
default settings and six navigators (``bench/reports.py``'s ``prepare``); the facts
name those navigators' channels, so the writer looks them up as it does in service.
The figures, in facts stored per second (wall time), each the median and the best of
``--runs`` runs:

* raw executemany, batches of ``--batch`` / one per transaction: the DB-API driver
  alone (``sqlite3`` / ``psycopg``), ``INSERT ... ON CONFLICT (key) DO NOTHING`` with
  rows computed beforehand, one transaction per batch. The floor: what the database
  and its driver cost.
* record_facts, batches / one per transaction: ``store.transfers.record_facts`` in one
  session and transaction per batch, as the writer's thread calls it
  (``RecordWriter._write``): computing the rows (local date, fiscal year, navigator
  ids, the line's time zone) and the idempotent insert.
* writer, burst: ``--burst`` facts handed to a real ``RecordWriter`` (its defaults),
  one ``submit`` per fact as the listener does when calls end, all at once from one
  thread, then ``flush``: from the first submit until every fact is stored. The
  facts that overflowed its queue to the spool are counted (they are written from the
  spool afterwards, so nothing is lost, but the burst did not fit).

Every measure checks that the table holds each fact once. SQLite is a file in a
temporary directory with the writer's settings (WAL, ``synchronous`` left at FULL, so
each commit waits for the disk); PostgreSQL is a throwaway server started the way
``tests/conftest.py`` starts the suite's, with fsync and synchronous_commit off, so its
one-per-transaction figures do not include a disk flush.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from reports import COLUMNS, NAVIGATORS, Postgres, postgres_server, prepare  # noqa: E402
from sqlalchemy import Engine, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from listener.writer import RecordWriter  # noqa: E402
from store import models as m  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.facts import Kind, Outcome, TransferFact  # noqa: E402
from store.transfers import record_facts, record_rows  # noqa: E402

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def make_facts(count: int, prefix: str) -> list[TransferFact]:
    """``count`` distinct facts, a few seconds apart, spread over the navigators."""
    out = []
    for i in range(count):
        started = T0 + timedelta(seconds=7 * i)
        out.append(
            TransferFact(
                key=f"atxfer:{prefix}.{i}",
                kind=Kind.ATTENDED,
                outcome=Outcome.COMPLETED,
                started_at=started,
                ended_at=started + timedelta(seconds=40),
                linkedid=f"1764{i:06d}.{i}",
                navigator_channel=f"PJSIP/nav-{NAVIGATORS[i % len(NAVIGATORS)]}",
                destination="811",
                target_exten="811",
                target_context="emergency-services",
                answer_delay_s=2.5,
                caller_uniqueid=f"1764{i:06d}.{i}",
                caller_number="4185550123",
                language="fr",
                path="principal>navigatrice",
            )
        )
    return out


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---- databases ---------------------------------------------------------------------------


class Database(ABC):
    """Makes a fresh, prepared database for each measure."""

    name: str

    @abstractmethod
    def fresh(self) -> AbstractContextManager[Engine]:
        """A new database, migrated and seeded, dropped on exit."""

    @abstractmethod
    def raw_insert(self, engine: Engine, rows: list[tuple[Any, ...]], batch: int) -> None:
        """The baseline: ``rows`` by the driver's own executemany, ``batch`` at a time."""

    def raw_row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(values[c] for c in COLUMNS)


class SqliteDatabase(Database):
    name = "SQLite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextmanager
    def fresh(self) -> Iterator[Engine]:
        path = self.folder / f"{uuid.uuid4().hex}.db"
        engine = make_engine(f"sqlite:///{path}")
        try:
            prepare(engine)
            yield engine
        finally:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def raw_row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_sqlite_value(values[c]) for c in COLUMNS)

    def raw_insert(self, engine: Engine, rows: list[tuple[Any, ...]], batch: int) -> None:
        assert engine.url.database is not None
        conn = sqlite3.connect(engine.url.database, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            sql = (
                f"INSERT INTO transfer_records ({', '.join(COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in COLUMNS)}) ON CONFLICT (key) DO NOTHING"
            )
            for part in chunks(rows, batch):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, part)
                conn.execute("COMMIT")
        finally:
            conn.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


class PostgresDatabase(Database):
    name = "PostgreSQL"

    def __init__(self, server: Postgres) -> None:
        self.server = server

    @contextmanager
    def fresh(self) -> Iterator[Engine]:
        import psycopg

        name = f"b_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.server.conninfo(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        engine = make_engine(self.server.url(name))
        try:
            prepare(engine)
            yield engine
        finally:
            engine.dispose()
            with psycopg.connect(self.server.conninfo(), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def raw_insert(self, engine: Engine, rows: list[tuple[Any, ...]], batch: int) -> None:
        import psycopg

        assert engine.url.database is not None
        sql = (
            f"INSERT INTO transfer_records ({', '.join(COLUMNS)})"
            f" VALUES ({', '.join('%s' for _ in COLUMNS)}) ON CONFLICT (key) DO NOTHING"
        )
        with psycopg.connect(self.server.conninfo(engine.url.database)) as conn:
            for part in chunks(rows, batch):
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(sql, part)


# ---- measures ----------------------------------------------------------------------------


@dataclass
class Measure:
    facts: int
    seconds: float
    spooled: int = 0

    @property
    def rate(self) -> float:
        return self.facts / self.seconds


def stored_once(engine: Engine, expected: int) -> None:
    with Session(engine) as session:
        rows = session.scalar(select(func.count()).select_from(m.TransferRecord))
        keys = session.scalar(select(func.count(func.distinct(m.TransferRecord.key))))
    if rows != expected or keys != expected:
        raise SystemExit(f"stored {rows} rows ({keys} keys), expected {expected}")


def rows_for(engine: Engine, db: Database, facts: Sequence[TransferFact]) -> list[tuple[Any, ...]]:
    """The rows record_facts would insert, computed outside the timed part."""
    with Session(engine) as session:
        rows = record_rows(session, facts, now=datetime.now(UTC))
    return [db.raw_row(row) for row in rows]


def raw(db: Database, facts: Sequence[TransferFact], batch: int) -> Measure:
    with db.fresh() as engine:
        rows = rows_for(engine, db, facts)
        start = time.perf_counter()
        db.raw_insert(engine, rows, batch)
        seconds = time.perf_counter() - start
        stored_once(engine, len(facts))
    return Measure(len(facts), seconds)


def store_batches(db: Database, facts: Sequence[TransferFact], batch: int) -> Measure:
    with db.fresh() as engine:
        start = time.perf_counter()
        for part in chunks(facts, batch):
            with Session(engine) as session, session.begin():
                record_facts(session, part)
        seconds = time.perf_counter() - start
        stored_once(engine, len(facts))
    return Measure(len(facts), seconds)


def writer_burst(db: Database, facts: Sequence[TransferFact], folder: Path) -> Measure:
    spool = folder / f"{uuid.uuid4().hex}.spool"
    with db.fresh() as engine:
        writer = RecordWriter(engine, spool)
        try:
            assert writer.flush(timeout=60)  # started, the (empty) spool replayed
            start = time.perf_counter()
            for fact in facts:
                writer.submit([fact])
            if not writer.flush(timeout=600):
                raise SystemExit("the writer did not store the burst within 600 s")
            seconds = time.perf_counter() - start
            spooled = writer.counts["spooled"]
        finally:
            writer.close()
            spool.unlink(missing_ok=True)
        stored_once(engine, len(facts))
    return Measure(len(facts), seconds, spooled)


# ---- main --------------------------------------------------------------------------------


def run(db: Database, args: argparse.Namespace, folder: Path) -> None:
    many = make_facts(args.facts, "many")
    single = make_facts(args.single, "one")
    burst = make_facts(args.burst, "burst")
    measures: dict[str, Callable[[], Measure]] = {
        f"raw executemany, batches of {args.batch}": lambda: raw(db, many, args.batch),
        f"record_facts, batches of {args.batch}": lambda: store_batches(db, many, args.batch),
        "raw executemany, one per transaction": lambda: raw(db, single, 1),
        "record_facts, one per transaction": lambda: store_batches(db, single, 1),
        f"writer, burst of {args.burst:,} submits": lambda: writer_burst(db, burst, folder),
    }
    print(f"\n== {db.name}: {args.facts:,} facts in batches, {args.single:,} one by one ==")
    print(f"{'facts/s':<40}{'median':>10}{'best':>10}   spooled (of the burst)")
    for name, measure in measures.items():
        results = [measure() for _ in range(args.runs)]
        rates = [r.rate for r in results]
        spooled = "" if "burst" not in name else " / ".join(str(r.spooled) for r in results)
        print(f"{name:<40}{statistics.median(rates):>10,.0f}{max(rates):>10,.0f}   {spooled}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facts", type=int, default=10_000, help="facts written in batches")
    parser.add_argument("--batch", type=int, default=200, help="facts per batch")
    parser.add_argument("--single", type=int, default=1_000, help="facts, one per transaction")
    parser.add_argument("--burst", type=int, default=10_000, help="facts submitted at once")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    # one warning per spooled submit would drown the figures: the count is printed instead
    logging.getLogger("listener.writer").setLevel(logging.ERROR)
    print(
        f"transfer writes benchmark, {datetime.now():%Y-%m-%d %H:%M}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"SQLite {sqlite3.sqlite_version}, {args.runs} runs"
    )
    with tempfile.TemporaryDirectory(prefix="ivr211-bench-writes-") as tmp:
        folder = Path(tmp)
        if args.only != "postgresql":
            run(SqliteDatabase(folder), args, folder)
        if args.only != "sqlite":
            with postgres_server() as server:
                run(PostgresDatabase(server), args, folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
