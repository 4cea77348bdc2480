"""Report queries on a million transfer records, on SQLite and on PostgreSQL.

Prints figures; asserts nothing. Run from the repository root::

    .venv/bin/python bench/reports.py                   # 1,000,000 records, both databases
    .venv/bin/python bench/reports.py --records 200000 --only sqlite

For each database: a fresh schema by the real migrations, the packaged default
directory, six navigators, then ``--records`` generated records bulk-loaded (SQLite:
``executemany`` in one transaction; PostgreSQL: ``COPY``), spread evenly over five
fiscal years (2022-2026) with the shape DOMAIN.md describes: mostly referrals (811
first), a few per cent attended / blind / three-way transfers, some abandoned, busy or
unanswered. The dates are computed with ``store.transfers.fiscal_year`` and the line's
time zone, as the writer does.

The loaded records are then rolled up (``store.transfer_rollups.rebuild_transfers``,
what ``ivr211 calls rebuild-rollups`` does for them; its time is printed). Every query
of ``store.reports`` is timed for the fiscal year 2026 and for one quarter, from the
roll-ups (what the pages read) and, as the baseline, with ``raw=True`` (the same sums
over the records, through their indexes):

* cold: the first run on a new engine (SQLite: a new connection, so an empty page
  cache; PostgreSQL: right after a server restart, so empty shared buffers). The
  operating system's file cache stays warm in both cases: that is the "cold" of a
  dashboard restart, not of a machine reboot.
* warm: the median of five further runs.

A second baseline measured in the same run, on the same data: ``SELECT COUNT(*)`` over
the whole table. The load average is printed before and after each database's queries
(the machine may be shared). The plans of the roll-up queries are printed (EXPLAIN QUERY PLAN /
EXPLAIN).

PostgreSQL is a throwaway server started here from the Debian binaries, the way
tests/conftest.py starts the test suite's (127.0.0.1 and a unix socket in its own
temporary directory, fsync off, stopped at the end).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from ivr211.config import DEFAULT_SEED
from store import reports as r
from store.db import make_engine, readonly, upgrade
from store.linesettings import SettingsStore, seed_if_empty
from store.navigators import add_navigator
from store.transfer_rollups import rebuild_transfers
from store.transfers import fiscal_year
from tests.conftest import _free_port, _postgres_bin

ZONE = ZoneInfo("America/Toronto")
YEARS = range(2022, 2027)
NAVIGATORS = ("alice", "bob", "chloe", "denis", "emma", "felix")
WARM_RUNS = 5
COLUMNS = (
    "key",
    "kind",
    "outcome",
    "started_at",
    "ended_at",
    "local_date",
    "local_hour",
    "fiscal_year",
    "linkedid",
    "navigator_id",
    "navigator_channel",
    "destination",
    "target_exten",
    "target_context",
    "answer_delay_s",
    "caller_uniqueid",
    "caller_number",
    "language",
    "path",
    "interpreter",
    "source",
    "created_at",
)


# ---- data ------------------------------------------------------------------------------


def _weighted(rng: random.Random, table: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


KINDS = (("referral", 90.0), ("attended", 6.0), ("blind", 2.0), ("threeway", 2.0))
OUTCOMES = (("completed", 80.0), ("abandoned", 10.0), ("busy", 4.0), ("not_answered", 5.0))
DESTINATIONS = (
    ("811", 55.0),
    ("crise", 10.0),
    ("cps", 8.0),
    ("988", 3.0),
    ("911", 6.0),
    ("sosvc", 4.0),
    ("menus-travaux", 6.0),
    ("appels-amitie", 4.0),
    ("paniers-noel", 3.0),
    (None, 1.0),
)


def generate(
    count: int, navigator_ids: Sequence[int], seed: int = 211
) -> Iterator[tuple[Any, ...]]:
    """Rows in COLUMNS order; times are UTC, local fields computed like the writer's."""
    rng = random.Random(seed)
    first = datetime(YEARS[0], 4, 1, tzinfo=ZONE).astimezone(UTC)
    last = datetime(YEARS[-1] + 1, 4, 1, tzinfo=ZONE).astimezone(UTC)
    span = (last - first).total_seconds()
    created = datetime(2027, 4, 2, tzinfo=UTC)
    for n in range(count):
        started = first + timedelta(seconds=span * n / count + rng.random())
        local = started.astimezone(ZONE)
        kind = _weighted(rng, KINDS)
        outcome = "completed" if kind == "referral" else _weighted(rng, OUTCOMES)
        dest = _weighted(rng, DESTINATIONS)
        nav = rng.randrange(len(navigator_ids))
        delay = round(rng.uniform(1.0, 40.0), 3) if kind != "referral" else None
        yield (
            f"bench:{n}",
            kind,
            outcome,
            started,
            started + timedelta(seconds=rng.randint(20, 600)),
            local.date(),
            local.hour,
            fiscal_year(local.date()),
            f"{1764351234 + n}.{n % 97}",
            navigator_ids[nav],
            f"PJSIP/nav-{NAVIGATORS[nav]}",
            dest,
            dest or "5550000",
            "transfer",
            delay,
            f"{1764351234 + n}.{n % 97}",
            f"418555{n % 10000:04d}",
            "fr" if rng.random() < 0.994 else "en",
            "main>navigator",
            False,
            "action" if kind == "referral" else "ami",
            created,
        )


def prepare(engine: Engine) -> list[int]:
    upgrade(engine)
    store = SettingsStore(engine)
    with store.change() as session:
        seed_if_empty(session, DEFAULT_SEED)
    with Session(engine) as session:
        ids = [
            add_navigator(session, name, name.title(), f"PJSIP/nav-{name}").id
            for name in NAVIGATORS
        ]
        session.commit()
    return ids


def load_sqlite(path: Path, count: int, navigator_ids: Sequence[int]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        placeholders = ", ".join("?" for _ in COLUMNS)
        conn.executemany(
            f"INSERT INTO transfer_records ({', '.join(COLUMNS)}) VALUES ({placeholders})",
            (
                tuple(
                    v.strftime("%Y-%m-%d %H:%M:%S.%f")
                    if isinstance(v, datetime)
                    else v.isoformat()
                    if isinstance(v, date)
                    else v
                    for v in row
                )
                for row in generate(count, navigator_ids)
            ),
        )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def load_postgres(conninfo: str, count: int, navigator_ids: Sequence[int]) -> None:
    import psycopg

    copy_sql = f"COPY transfer_records ({', '.join(COLUMNS)}) FROM STDIN"
    with psycopg.connect(conninfo) as conn:
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in generate(count, navigator_ids):
                copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE transfer_records")


# ---- PostgreSQL ------------------------------------------------------------------------


@dataclass
class Postgres:
    bindir: Path
    base: Path
    port: int
    prefix: list[str]

    @property
    def data(self) -> Path:
        return self.base / "data"

    def conninfo(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, text=True)

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self.run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        subprocess.run(
            [
                *self.prefix,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            check=False,
            capture_output=True,
        )


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    bindir = _postgres_bin()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries not found in /usr/lib/postgresql/*/bin")
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="ivr211-bench-pg-"))
    if as_root:
        shutil.chown(base, user="postgres", group="postgres")
    server = Postgres(
        bindir, base, _free_port(), ["runuser", "-u", "postgres", "--"] if as_root else []
    )
    started = False
    try:
        server.run(
            str(bindir / "initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        server.start()
        started = True
        yield server
    finally:
        if started:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


# ---- timing ----------------------------------------------------------------------------

Query = Callable[[Session], object]


def queries(period: r.Period, raw: bool = False) -> dict[str, Query]:
    """The report queries; ``records_csv`` reads the records either way."""
    return {
        "counts": lambda s: r.counts(s, period, raw=raw),
        "annual_section": lambda s: r.annual_text(
            r.annual_section(s, period, counted=r.counts(s, period, raw=raw))
        ),
        "monthly": lambda s: r.monthly(s, period, raw=raw),
        "by_hour": lambda s: r.by_hour(s, period, raw=raw),
        "by_navigator": lambda s: r.by_navigator(s, period, raw=raw),
        "outcomes": lambda s: r.outcomes(s, period, raw=raw),
        "answer_times": lambda s: r.answer_times(s, period, raw=raw),
        "records_csv": lambda s: sum(len(chunk) for chunk in r.records_csv(s, period)),
    }


def roll_up(engine: Engine) -> float:
    """Fill the transfer roll-ups from the loaded records; seconds taken."""
    t0 = time.perf_counter()
    with Session(engine) as session:
        rebuild_transfers(session)
        session.commit()
    return time.perf_counter() - t0


def _timed(engine: Engine, query: Query) -> float:
    with Session(readonly(engine)) as session:
        t0 = time.perf_counter()
        query(session)
        return time.perf_counter() - t0


def measure(
    make: Callable[[], Engine], query: Query, before_cold: Callable[[], None] | None = None
) -> tuple[float, float]:
    if before_cold is not None:
        before_cold()
    engine = make()
    try:
        cold = _timed(engine, query)
        warm = statistics.median(_timed(engine, query) for _ in range(WARM_RUNS))
    finally:
        engine.dispose()
    return cold, warm


def count_all(session: Session) -> object:
    return session.scalar(text("SELECT COUNT(*) FROM transfer_records"))


def plans(engine: Engine, period: r.Period) -> dict[str, list[str]]:
    """The database's plan of every statement each report query runs (captured as sent)."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, params))

    out: dict[str, list[str]] = {}
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    for qname, query in queries(period).items():
        if qname == "annual_section":
            continue
        captured.clear()
        event.listen(engine, "before_cursor_execute", capture)
        try:
            _timed(engine, query)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        lines: list[str] = []
        with engine.connect() as conn:
            for statement, params in captured:
                if "_rollups" not in statement:
                    continue
                rows = conn.exec_driver_sql(prefix + statement, params).all()
                lines += [str(row[-1]) for row in rows]
        out[qname] = lines
    return out


CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PAGE_PASSWORD = "un mot de passe assez long pour le banc"


def page_times(engine: Engine, url: str, path: str, runs: int) -> tuple[float, float, int]:
    """The page at ``path`` through the dashboard (Flask test client, logged in as a
    manager, templates compiled at start as ``ivr211 dashboard`` does): first request,
    median of ``runs`` more, and the page's size."""
    from dashboard.app import create_app, warm_up
    from ivr211.config import Config
    from ivr211.dashboard_options import dashboard_options
    from store import accounts

    now = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
    with Session(engine) as session:
        if accounts.user_by_username(session, "bench-manager") is None:
            accounts.create_user(session, "bench-manager", PAGE_PASSWORD, "manager", now=now)
            session.commit()
    with tempfile.TemporaryDirectory(prefix="ivr211-bench-page-") as tmp:
        config = Config.model_validate(
            {
                "database": {"url": url},
                "dashboard": {
                    "instance_path": str(Path(tmp) / "instance"),
                    "generated_secret_path": str(Path(tmp) / "secret"),
                },
            }
        )
        app = create_app(dashboard_options(config), engine=engine, testing=True, clock=lambda: now)
        warm_up(app)
        client = app.test_client()
        token = CSRF_INPUT.search(client.get("/login").text)
        assert token is not None
        client.post(
            "/login",
            data={"username": "bench-manager", "password": PAGE_PASSWORD, "csrf_token": token[1]},
        )

        def get() -> tuple[float, int]:
            t0 = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
            return elapsed, len(response.data)

        first, size = get()
        warm = statistics.median(get()[0] for _ in range(runs))
    return first, warm, size


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_database(
    name: str, make: Callable[[], Engine], before_cold: Callable[[], None] | None, url: str
) -> None:
    print(f"\n{name}: load average before the queries: {load_average()}")
    fy = r.Period.fiscal(2026)
    quarter = r.Period(date(2025, 10, 1), date(2025, 12, 31))
    engine = make()
    try:
        print(f"\n{name}: query plans, fiscal year 2026")
        for qname, lines in plans(engine, fy).items():
            print(f"  {qname}:")
            for line in lines:
                print(f"    {line}")
    finally:
        engine.dispose()
    for path in ("/reports/?fy=2026", "/reports/navigators?fy=2026", "/reports/outcomes?fy=2026"):
        engine = make()
        try:
            first, warm, size = page_times(engine, url, path, WARM_RUNS)
        finally:
            engine.dispose()
        print(
            f"{name}: {path} ({size:,} bytes, rendered): {1000 * first:.1f} ms first,"
            f" {1000 * warm:.1f} ms median of {WARM_RUNS} more"
        )
    results: dict[tuple[str, str], tuple[float, float]] = {}
    results[("baseline", "COUNT(*) whole table")] = measure(make, count_all, before_cold)
    raw: dict[tuple[str, str], tuple[float, float]] = {}
    for label, period in (("FY 2026", fy), ("Q3 2025", quarter)):
        for qname, query in queries(period).items():
            results[(label, qname)] = measure(make, query, before_cold)
        for qname, query in queries(period, raw=True).items():
            if qname != "records_csv":
                raw[(label, qname)] = measure(make, query, before_cold)
    print(f"\n{name}: ms (cold = first run on a new engine, warm = median of {WARM_RUNS})")
    print(
        f"    {'period':<9} {'query':<22} {'roll-up cold':>12} {'warm':>8}"
        f"   {'raw cold':>9} {'warm':>8}"
    )
    for (label, qname), (cold, warm) in results.items():
        other = raw.get((label, qname))
        tail = f"   {1000 * other[0]:>9.1f} {1000 * other[1]:>8.1f}" if other else ""
        print(f"    {label:<9} {qname:<22} {1000 * cold:>12.1f} {1000 * warm:>8.1f}{tail}")
    print(f"{name}: load average after the queries: {load_average()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    print(
        f"{args.records:,} records over fiscal years {YEARS[0]}-{YEARS[-1]},"
        f" Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    )
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory(prefix="ivr211-bench-") as tmp:
            path = Path(tmp) / "bench.db"
            url = f"sqlite:///{path}"
            engine = make_engine(url)
            try:
                ids = prepare(engine)
            finally:
                engine.dispose()
            t0 = time.perf_counter()
            load_sqlite(path, args.records, ids)
            size = path.stat().st_size / 1e6
            print(f"\nSQLite: loaded in {time.perf_counter() - t0:.1f} s ({size:.0f} MB)")
            engine = make_engine(url)
            try:
                print(f"SQLite: rolled up in {roll_up(engine):.1f} s")
            finally:
                engine.dispose()
            bench_database("SQLite", lambda: make_engine(url), None, url)
    if args.only in (None, "postgresql"):
        with postgres_server() as server:
            import psycopg

            with psycopg.connect(server.conninfo(), autocommit=True) as conn:
                conn.execute('CREATE DATABASE "bench"')
                version = conn.execute("SHOW server_version").fetchone()
            engine = make_engine(server.url("bench"))
            try:
                ids = prepare(engine)
            finally:
                engine.dispose()
            t0 = time.perf_counter()
            load_postgres(server.conninfo("bench"), args.records, ids)
            print(
                f"\nPostgreSQL {version[0] if version else '?'}:"
                f" loaded in {time.perf_counter() - t0:.1f} s"
            )
            engine = make_engine(server.url("bench"))
            try:
                print(f"PostgreSQL: rolled up in {roll_up(engine):.1f} s")
            finally:
                engine.dispose()

            def restart() -> None:
                server.stop()
                server.start()

            bench_database(
                "PostgreSQL", lambda: make_engine(server.url("bench")), restart, server.url("bench")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
