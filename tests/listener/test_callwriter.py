"""The call writer against a real database that goes away and comes back (the outages of
``test_writer``: a lock held on SQLite, connections refused on PostgreSQL). The facts are
those the call follower concludes from the recorded 2p2 stream; nothing is lost while
the database is away, nothing doubled when it is back or when the same facts come again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from listener.callwriter import CallWriter, fact_from_line, fact_to_line, spool_path_for
from listener.spool import SpoolFormatError
from store.calls import ActivityFact, CallFact, CallRecord, NavigatorActivity, QueueOutcome
from store.db import make_engine, upgrade
from tests.listener.test_calls import P2, calls_of, replay
from tests.listener.test_writer import NO_BACKGROUND_RETRY, outage


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


def stored(engine: Engine) -> tuple[dict[str, CallRecord], int]:
    with Session(engine, expire_on_commit=False) as session:
        calls = {r.linkedid: r for r in session.scalars(select(CallRecord))}
        intervals = session.scalar(select(func.count()).select_from(NavigatorActivity)) or 0
    return calls, intervals


def spooled_kinds(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [next(iter(json.loads(line))) for line in path.read_text().splitlines()]


def test_json_lines_are_lossless() -> None:
    facts = replay(P2)
    assert {type(f) for f in facts} == {CallFact, ActivityFact}
    assert [fact_from_line(fact_to_line(f)) for f in facts] == facts


@pytest.mark.parametrize(
    "line",
    [
        "",
        "[]",
        '{"call": {"linkedid": "x"}}',
        '{"transfer": {}}',
        '{"call": {}, "activity": {}}',
        '{"activity": {"member": "m", "state": "asleep", "started_at": "2026-12-04T00:00:00+00:00",'
        ' "ended_at": "2026-12-04T00:00:01+00:00"}}',
        '{"activity": {"member": "m", "state": "paused", "started_at": "2026-12-04T00:00:00",'
        ' "ended_at": "2026-12-04T00:00:01"}}',
    ],
)
def test_lines_that_are_not_facts_are_refused(line: str) -> None:
    with pytest.raises(SpoolFormatError):
        fact_from_line(line)


def test_the_spool_sits_beside_the_transfer_spool() -> None:
    assert spool_path_for(Path("var/listener-spool.jsonl")) == Path(
        "var/listener-spool.jsonl.calls"
    )


def test_facts_of_an_outage_are_written_once_when_it_ends(
    request: pytest.FixtureRequest, db: Engine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool.jsonl.calls"
    facts = replay(P2)
    intervals = sum(isinstance(f, ActivityFact) for f in facts)
    with CallWriter(db, spool, **NO_BACKGROUND_RETRY) as writer:
        with outage(request, db):
            writer.submit(facts[:4])
            writer.submit(facts[4:])
            assert not writer.flush(timeout=30)
            assert sorted(set(spooled_kinds(spool))) == ["activity", "call"]
            assert len(spooled_kinds(spool)) == len(facts)
        assert writer.flush(timeout=30)
        assert spooled_kinds(spool) == []
        writer.submit(facts)  # seen again (a replay): merged into the same rows
        assert writer.flush(timeout=30)
    calls, stored_intervals = stored(db)
    assert set(calls) == {"p2a-574-caller", "p2b-574-caller"}
    expected = calls_of(facts)
    for linkedid, call in calls.items():
        assert call.queue_outcome == QueueOutcome.ANSWERED
        assert (call.wait_s, call.talk_s) == (expected[linkedid].wait_s, expected[linkedid].talk_s)
        assert call.ended_at == expected[linkedid].ended_at
    assert stored_intervals == intervals


def test_the_spool_survives_a_restart(
    request: pytest.FixtureRequest, db: Engine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool.jsonl.calls"
    facts = replay(P2)
    with outage(request, db):
        writer = CallWriter(db, spool, **NO_BACKGROUND_RETRY)
        writer.submit(facts)
        writer.close(timeout=30)
        assert not writer.alive
        assert len(spooled_kinds(spool)) == len(facts)
    with CallWriter(db, spool, **NO_BACKGROUND_RETRY) as again:
        assert again.flush(timeout=30)
    assert spooled_kinds(spool) == []
    calls, intervals = stored(db)
    assert set(calls) == {"p2a-574-caller", "p2b-574-caller"}
    assert intervals == sum(isinstance(f, ActivityFact) for f in facts)


def test_a_line_cut_by_a_crash_is_set_aside(db: Engine, tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl.calls"
    whole = fact_to_line(next(f for f in replay(P2) if isinstance(f, CallFact)))
    spool.write_text(whole + "\n" + whole[:40] + "\n")
    with CallWriter(db, spool, **NO_BACKGROUND_RETRY) as writer:
        assert writer.flush(timeout=30)
        assert writer.counts["rejected"] == 1
    assert spooled_kinds(spool) == []
    rejected = spool.with_name(spool.name + ".rejected").read_text().splitlines()
    assert [json.loads(line)["line"] for line in rejected] == [whole[:40]]
    assert len(stored(db)[0]) == 1
