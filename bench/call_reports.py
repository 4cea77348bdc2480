"""Call report queries on 10,000,000 call records and 1,000,000 transfer records, from the
daily roll-ups and from the raw records, side by side; SQLite and PostgreSQL.

Prints figures; asserts nothing. Run from the repository root::

    .venv/bin/python bench/call_reports.py                       # 10M calls, both databases
    .venv/bin/python bench/call_reports.py --calls 1000000 --only sqlite

For each database: a fresh schema by the real migrations, six navigators, ``--calls``
call records spread over five fiscal years (2022-2026, so about 2,000,000 in fiscal
year 2026; more by day than by night), ``--transfers`` transfer records
(``bench/reports.py``'s generator), and per navigator and day a logged-in interval, a
pause and eight after-call-work intervals. Rows are bulk-loaded (SQLite ``executemany``
in one transaction, PostgreSQL ``COPY``); then ``store.rollups.rebuild`` fills the
roll-ups, which is what ``ivr211 calls rebuild-rollups`` does (its time is printed).

Every query of ``store.reports.calls`` is timed for fiscal year 2026 with ``raw=False``
(roll-ups) and ``raw=True`` (the same sums over the call records): cold = the first run
on a new engine (PostgreSQL: after a server restart), warm = median of three more.
``call_report`` is everything the calls page reads at once. ``navigator_figures``
includes the transfer counts per navigator, read from the transfer records as the
transfer reports do.

The cost of the roll-ups on the write side: ``record_calls`` of one new call on a day
already holding its share of calls, with the day summed again, beside the same write
with the refresh turned off (median of 20, each rolled back).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bench.reports import (
    ZONE,
    load_postgres,
    load_sqlite,
    page_times,
    postgres_server,
    prepare,
)
from store import reports as r
from store import rollups
from store.calls import CallFact, CallSource, QueueOutcome, record_calls
from store.db import make_engine, readonly
from store.transfers import fiscal_year

YEARS = range(2022, 2027)
WARM_RUNS = 3
CALL_COLUMNS = (
    "linkedid",
    "caller_uniqueid",
    "arrived_at",
    "local_date",
    "local_hour",
    "local_weekday",
    "fiscal_year",
    "ended_at",
    "line_state",
    "language",
    "path",
    "route",
    "route_destination",
    "queue",
    "queue_joined_at",
    "queue_outcome",
    "queue_left_at",
    "wait_s",
    "navigator_id",
    "answered_member",
    "talk_s",
    "completed_by",
    "exit_route",
    "research_message",
    "seen_flow",
    "seen_ami",
    "seen_queue_log",
    "seen_cel",
    "created_at",
    "updated_at",
)
#: Share of the day's calls per local hour (night calls rare).
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 9, 8, 9, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1]


def _templates(rng: random.Random, navigator_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """4,096 kinds of call (what the flow and the queue did), cycled through."""
    out = []
    for _ in range(4096):
        closed = rng.random() < 0.15
        lang = rng.choices(["fr", "en", "interpreter", "none"], [92, 5, 2, 1])[0]
        if closed:
            state = rng.choice(["after_hours", "holiday", "closure"])
            route, dest = rng.choice([("transfer", "811"), ("research", None), ("closed", None)])
            out.append((state, lang, f"closed/lang:{lang}/{route}", route, dest) + (None,) * 7)
            continue
        route = rng.choices(["queue", "research", "hangup", "fallback"], [85, 6, 5, 4])[0]
        path = f"open/lang:{lang}/main:{rng.randint(1, 4)}"
        if route not in ("queue", "fallback"):
            out.append(("hours", lang, path, route, None) + (None,) * 7)
            continue
        outcome = rng.choices(
            ["answered", "abandoned", "timeout", "leaveempty", "joinempty", "full"],
            [75, 14, 3, 2, 3, 3],
        )[0]
        wait = None if outcome in ("joinempty", "full") else float(rng.randint(0, 240))
        nav = rng.randrange(len(navigator_ids)) if outcome == "answered" else None
        talk = float(rng.randint(30, 1200)) if outcome == "answered" else None
        exit_route = None if outcome == "answered" else rng.choice(["research", "hangup"])
        state = None if route == "fallback" else "hours"
        out.append(
            (
                state,
                None if route == "fallback" else lang,
                None if route == "fallback" else path,
                route,
                None,
                outcome,
                wait,
                None if nav is None else navigator_ids[nav],
                None if nav is None else f"PJSIP/nav-{nav}",
                talk,
                "agent" if talk else None,
                exit_route,
            )
        )
    return out


def generate_calls(
    count: int, navigator_ids: Sequence[int], *, postgres: bool
) -> Iterator[tuple[Any, ...]]:
    """Rows in CALL_COLUMNS order, timestamps as text (UTC), local fields as the writer
    computes them."""
    rng = random.Random(211)
    templates = _templates(rng, navigator_ids)
    first = datetime(YEARS[0], 4, 1, tzinfo=ZONE).astimezone(UTC)
    last = datetime(YEARS[-1] + 1, 4, 1, tzinfo=ZONE).astimezone(UTC)
    hours = int((last - first).total_seconds() // 3600)
    locals_ = [(first + timedelta(hours=h)).astimezone(ZONE) for h in range(hours)]
    weights = [HOUR_WEIGHTS[loc.hour] for loc in locals_]
    total = sum(weights)
    suffix = "+00" if postgres else ""
    created = "2027-04-02 00:00:00" + suffix
    n = 0
    carry = 0.0
    for h, loc in enumerate(locals_):
        carry += count * weights[h] / total
        in_hour = int(carry)
        carry -= in_hour
        start = first + timedelta(hours=h)
        prefix = start.strftime("%Y-%m-%d %H:")
        day = loc.date()
        day_text, fy = day.isoformat(), fiscal_year(day)
        for k in range(in_hour):
            second = k * 3600 // max(in_hour, 1)
            stamp = f"{prefix}{second // 60:02d}:{second % 60:02d}{suffix}"
            t = templates[(n * 7919) % 4096]
            state, lang, path, route, dest, outcome, wait, nav_id, member, talk, by, exit_r = t
            queued = outcome is not None
            linkedid = f"{1648785600 + n}.{n % 997}"
            yield (
                linkedid,
                linkedid,
                stamp,
                day_text,
                loc.hour,
                loc.weekday(),
                fy,
                stamp,
                state,
                lang,
                path,
                route,
                dest,
                "navigateurs" if queued else None,
                stamp if queued else None,
                outcome,
                stamp if queued else None,
                wait,
                nav_id,
                member,
                talk,
                by,
                exit_r,
                route == "research",
                state is not None,
                queued,
                False,
                route == "fallback",
                created,
                created,
            )
            n += 1


def generate_activity(navigator_ids: Sequence[int]) -> Iterator[tuple[Any, ...]]:
    """Per navigator and day: logged in 8 h, a 30 min pause, eight 2 min after-call works."""
    day = datetime(YEARS[0], 4, 1, 8, tzinfo=ZONE)
    end = datetime(YEARS[-1] + 1, 4, 1, tzinfo=ZONE)
    while day < end:
        start = day.astimezone(UTC)
        for i, nav in enumerate(navigator_ids):
            begin = start + timedelta(minutes=20 * i)
            member = f"PJSIP/nav-{i}"
            spans = [("logged_in", begin, begin + timedelta(hours=8))]
            spans.append(("paused", begin + timedelta(hours=4), begin + timedelta(hours=4.5)))
            spans += [
                ("after_call_work", s, s + timedelta(minutes=2))
                for s in (begin + timedelta(minutes=50 * k + 7) for k in range(8))
            ]
            for state, a, b in spans:
                yield (
                    f"{member}|{state}|{a.timestamp():.6f}",
                    member,
                    nav,
                    state,
                    a,
                    b,
                    day.date(),
                )
        day += timedelta(days=1)


ACTIVITY_COLUMNS = (
    "key",
    "member",
    "navigator_id",
    "state",
    "reason",
    "started_at",
    "ended_at",
    "local_date",
)


CALL_INDEXES = {
    "ix_calls_local_date": "(local_date)",
    "ix_calls_fiscal_year_local_date": "(fiscal_year, local_date)",
    "ix_calls_navigator_id_local_date": "(navigator_id, local_date)",
}


def load_calls_sqlite(path: Path, count: int, navigator_ids: Sequence[int]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA journal_mode=MEMORY")
        conn.execute("BEGIN")
        for name in CALL_INDEXES:  # built once after the load, faster than row by row
            conn.execute(f"DROP INDEX {name}")
        marks = ", ".join("?" for _ in CALL_COLUMNS)
        conn.executemany(
            f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({marks})",
            generate_calls(count, navigator_ids, postgres=False),
        )
        marks = ", ".join("?" for _ in ACTIVITY_COLUMNS)
        conn.executemany(
            f"INSERT INTO navigator_activity ({', '.join(ACTIVITY_COLUMNS)}) VALUES ({marks})",
            (
                (
                    k,
                    m,
                    n,
                    s,
                    "",
                    a.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    b.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    d.isoformat(),
                )
                for k, m, n, s, a, b, d in generate_activity(navigator_ids)
            ),
        )
        for name, columns in CALL_INDEXES.items():
            conn.execute(f"CREATE INDEX {name} ON calls {columns}")
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def load_calls_postgres(conninfo: str, count: int, navigator_ids: Sequence[int]) -> None:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        for name in CALL_INDEXES:
            conn.execute(f"DROP INDEX {name}")
        with conn.cursor() as cur:
            with cur.copy(f"COPY calls ({', '.join(CALL_COLUMNS)}) FROM STDIN") as copy:
                for row in generate_calls(count, navigator_ids, postgres=True):
                    copy.write_row(row)
            columns = ", ".join(ACTIVITY_COLUMNS)
            with cur.copy(f"COPY navigator_activity ({columns}) FROM STDIN") as copy:
                for k, m, n, s, a, b, d in generate_activity(navigator_ids):
                    copy.write_row((k, m, n, s, "", a, b, d))
        for name, columns in CALL_INDEXES.items():
            conn.execute(f"CREATE INDEX {name} ON calls {columns}")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE calls")
        conn.execute("VACUUM ANALYZE navigator_activity")


# ---- timing ----------------------------------------------------------------------------

Query = Callable[[Session], object]


def queries(period: r.Period, raw: bool) -> dict[str, Query]:
    return {
        "call_summary": lambda s: r.call_summary(s, period, raw=raw),
        "calls_by_day": lambda s: r.calls_by_day(s, period, raw=raw),
        "calls_by_month": lambda s: r.calls_by_month(s, period, raw=raw),
        "calls_by_weekday_hour": lambda s: r.calls_by_weekday_hour(s, period, raw=raw),
        "calls_by_language": lambda s: r.calls_by_language(s, period, raw=raw),
        "languages_section": lambda s: r.languages_section(s, period, raw=raw),
        "menu_choices": lambda s: r.menu_choices(s, period, raw=raw),
        "closed_choices": lambda s: r.closed_choices(s, period, raw=raw),
        "routes": lambda s: r.routes(s, period, raw=raw),
        "navigator_figures": lambda s: r.navigator_figures(s, period, raw=raw),
        "staffing": lambda s: r.staffing(s, period, raw=raw),
        "call_report (page)": lambda s: r.call_report(s, period, raw=raw),
    }


def _timed(engine: Engine, query: Query) -> float:
    with Session(readonly(engine)) as session:
        t0 = time.perf_counter()
        query(session)
        return time.perf_counter() - t0


def measure(
    make: Callable[[], Engine], query: Query, before_cold: Callable[[], None] | None
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


def write_cost(engine: Engine) -> tuple[float, float]:
    """Median seconds of record_calls(one new call) with and without the day's refresh."""
    at = datetime(2026, 10, 14, 15, 0, tzinfo=UTC)

    def one(n: int) -> CallFact:
        return CallFact(
            f"bench-write.{n}",
            at + timedelta(seconds=n),
            CallSource.AMI,
            queue="navigateurs",
            queue_outcome=QueueOutcome.ANSWERED,
            wait_s=12.0,
            talk_s=300.0,
        )

    def run(refresh: bool) -> float:
        times = []
        kept = rollups.refresh_call_days
        if not refresh:
            rollups.refresh_call_days = lambda session, days: 0  # type: ignore[assignment]
        try:
            for n in range(20):
                with Session(engine) as session:
                    record_calls(session, [one(0)])  # the line settings read once
                    t0 = time.perf_counter()
                    record_calls(session, [one(n + 1)])
                    session.flush()
                    times.append(time.perf_counter() - t0)
                    session.rollback()
        finally:
            rollups.refresh_call_days = kept  # type: ignore[assignment]
        return statistics.median(times)

    return run(True), run(False)


def bench_database(
    name: str, make: Callable[[], Engine], before_cold: Callable[[], None] | None, url: str
) -> None:
    engine = make()
    try:
        t0 = time.perf_counter()
        with Session(engine) as session:
            counts = rollups.rebuild(session)
            session.commit()
        rebuilt = time.perf_counter() - t0
        print(f"\n{name}: rebuild-rollups {rebuilt:.1f} s: {counts}")
        with_refresh, without = write_cost(engine)
        print(
            f"{name}: record_calls(1 call), median of 20: {1000 * with_refresh:.2f} ms with the"
            f" day's roll-ups summed again, {1000 * without:.2f} ms without"
        )
    finally:
        engine.dispose()
    engine = make()
    try:
        first, warm, size = page_times(engine, url, "/reports/calls/?fy=2026", WARM_RUNS)
        print(
            f"{name}: the calls page (/reports/calls/?fy=2026, {size:,} bytes, rendered):"
            f" {1000 * first:.1f} ms first, {1000 * warm:.1f} ms median of {WARM_RUNS} more"
        )
    finally:
        engine.dispose()
    fy = r.Period.fiscal(2026)
    results: dict[str, dict[bool, tuple[float, float]]] = {}
    for raw in (False, True):
        for qname, query in queries(fy, raw).items():
            results.setdefault(qname, {})[raw] = measure(make, query, before_cold)
    print(f"\n{name}: fiscal year 2026, ms (cold = first run on a new engine,", end=" ")
    print(f"warm = median of {WARM_RUNS})")
    print(f"    {'query':<22} {'roll-up cold':>13} {'warm':>8}   {'raw cold':>10} {'warm':>8}")
    for qname, by_mode in results.items():
        (rc, rw), (xc, xw) = by_mode[False], by_mode[True]
        print(
            f"    {qname:<22} {1000 * rc:>13.1f} {1000 * rw:>8.1f}"
            f"   {1000 * xc:>10.1f} {1000 * xw:>8.1f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    print(
        f"{args.calls:,} calls and {args.transfers:,} transfer records over fiscal years"
        f" {YEARS[0]}-{YEARS[-1]}, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    )
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory(prefix="ivr211-bench-calls-") as tmp:
            path = Path(tmp) / "bench.db"
            url = f"sqlite:///{path}"
            engine = make_engine(url)
            try:
                ids = prepare(engine)
            finally:
                engine.dispose()
            t0 = time.perf_counter()
            load_sqlite(path, args.transfers, ids)
            load_calls_sqlite(path, args.calls, ids)
            size = path.stat().st_size / 1e6
            print(f"\nSQLite: loaded in {time.perf_counter() - t0:.0f} s ({size:.0f} MB)")
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
            load_postgres(server.conninfo("bench"), args.transfers, ids)
            load_calls_postgres(server.conninfo("bench"), args.calls, ids)
            print(
                f"\nPostgreSQL {version[0] if version else '?'}:"
                f" loaded in {time.perf_counter() - t0:.0f} s"
            )

            def restart() -> None:
                server.stop()
                server.start()

            bench_database(
                "PostgreSQL", lambda: make_engine(server.url("bench")), restart, server.url("bench")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
