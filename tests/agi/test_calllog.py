"""The flow's call facts: what each session says, and a writer that never makes a caller
wait, keeps going through a database outage, and says what it had to give up."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from agi_fakes import FakeAsterisk, header_for, running_server
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agi_scripts.calllog import CallLog, flow_fact
from ivr.actions import Decision
from ivr.dialplan import Route
from store.calls import CallFact, CallRecord, CallSource, record_calls
from store.db import make_engine, upgrade

T0 = datetime(2026, 12, 4, 15, 0, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=40)
LINKEDID = "1796400683.654"


def decision(route: Route, path: tuple[str, ...], **extra: object) -> Decision:
    return Decision(route=route, language="fr", path=path, line_state="hours", **extra)  # type: ignore[arg-type]


def test_a_first_pass_gives_the_line_state_language_path_and_route() -> None:
    fact = flow_fact(
        "1796400683.654",
        "1796400683.654",
        T0,
        T1,
        "",
        decision(Route.QUEUE, ("open", "lang:fr", "main:1"), queue="navigators"),
        "4185550177",
    )
    assert fact.source is CallSource.FLOW
    assert (fact.line_state, fact.language, fact.route, fact.queue) == (
        "hours",
        "fr",
        "queue",
        "navigators",
    )
    assert fact.path == "open/lang:fr/main:1"
    assert fact.ended_at is None  # the call goes on in the queue
    assert fact.exit_route is None


def test_the_interpreter_and_a_hang_up_before_any_language() -> None:
    interp = flow_fact(
        "a", "a", T0, T1, "", decision(Route.QUEUE, ("open", "lang:other"), interpreter=True), None
    )
    assert interp.language == "interpreter"
    early = flow_fact("b", "b", T0, T1, "", decision(Route.HANGUP, ("open", "hangup")), None)
    assert (early.language, early.route, early.ended_at) == ("none", "hangup", T1)
    late = flow_fact(
        "c", "c", T0, T1, "", decision(Route.HANGUP, ("open", "lang:en", "hangup")), None
    )
    assert late.language == "fr"  # the decision's language: the call went on in it
    nothing = flow_fact("d", "d", T0, T1, "", None, "anonymous")
    assert (nothing.route, nothing.language, nothing.ended_at) == ("hangup", None, T1)


def test_a_queue_exit_pass_gives_only_what_the_exit_menu_did() -> None:
    fact = flow_fact(
        "a", "x", T1, T1, "queue-exit", decision(Route.RESEARCH, ("queue-exit", "research")), None
    )
    assert fact.exit_route == "research"
    assert (fact.route, fact.language, fact.path, fact.caller_uniqueid) == (None,) * 4


@pytest.fixture
def db(tmp_path: Path) -> tuple[Engine, Path]:
    path = tmp_path / "line.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine, path


def writer(engine: Engine) -> Callable[[Sequence[CallFact]], None]:
    def write(facts: Sequence[CallFact]) -> None:
        with Session(engine) as session:
            record_calls(session, facts)
            session.commit()

    return write


def stored(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(select(CallRecord.linkedid)))


def wait_for(condition: Callable[[], bool], limit_s: float = 30.0) -> None:
    end = time.monotonic() + limit_s
    while not condition() and time.monotonic() < end:
        time.sleep(0.02)


def fact(linkedid: str) -> CallFact:
    return CallFact(linkedid=linkedid, at=T0, source=CallSource.FLOW, route="queue")


def test_the_writer_goes_through_a_locked_database(db: tuple[Engine, Path]) -> None:
    engine, path = db
    log = CallLog(writer(engine), retry_s=60.0)
    log.start()
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    started = threading.Event()

    def submit_all() -> None:
        started.set()
        for n in range(300):
            log.submit(fact(f"call.{n}"))

    submitter = threading.Thread(target=submit_all)
    submitter.start()
    submitter.join(5)
    assert started.is_set() and not submitter.is_alive()  # submitting never waited
    holder.rollback()
    holder.close()
    wait_for(lambda: log.written == 300)
    log.stop()
    assert log.written == 300 and log.dropped == 0
    assert len(stored(engine)) == 300


def test_a_batch_given_up_is_counted_and_said(
    db: tuple[Engine, Path], caplog: pytest.LogCaptureFixture
) -> None:
    engine, path = db
    log = CallLog(writer(engine), retry_s=0.0)
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    log.start()
    log.submit(fact("lost.1"))
    wait_for(lambda: log.dropped == 1)
    holder.rollback()
    holder.close()
    log.submit(fact("kept.2"))
    log.stop()
    assert (log.dropped, log.written) == (1, 1)
    assert stored(engine) == ["kept.2"]
    assert "CEL reconciliation will complete them" in caplog.text


def test_a_full_queue_drops_the_newest_without_waiting() -> None:
    log = CallLog(lambda facts: None, max_pending=2)  # not started: nothing drains it
    for n in range(5):
        log.submit(fact(f"c.{n}"))
    assert log.dropped == 3


def test_the_server_hands_each_session_to_the_call_log(db: tuple[Engine, Path]) -> None:
    """The real server over a socket: the first pass (``incoming,,,<linkedid>`` as the
    dialplan calls it) and the queue-exit pass merge into one call record."""
    engine, _ = db
    log = CallLog(writer(engine))
    log.start()

    async def scenario() -> None:
        async with running_server(calls=log) as opts:
            await FakeAsterisk(
                opts.port,
                header=header_for(args=("", "", LINKEDID), callerid="4185550177"),
                keys=["t", "1", "1"],
            ).run()
            await FakeAsterisk(
                opts.port,
                header=header_for(args=("queue-exit", "fr", LINKEDID)),
                keys=["2"],
            ).run()
            await FakeAsterisk(opts.port, keys=["t", "1", "1"]).run()  # no linkedid: none

    asyncio.run(scenario())
    log.stop()
    assert log.written == 2
    with Session(engine) as session:
        (call,) = session.scalars(select(CallRecord)).all()
    assert call.linkedid == LINKEDID
    assert (call.route, call.language, call.line_state, call.queue) == (
        "queue",
        "fr",
        "hours",
        "navigateurs",
    )
    assert call.path == "open/lang:fr/main:1"
    assert call.caller_number == "4185550177"
    assert call.caller_uniqueid is not None
    assert call.exit_route == "transfer" and call.seen_flow  # key 2 of the exit menu
