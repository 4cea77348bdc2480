"""After a dropped AMI link: the call records completed from CEL and queue_log, on SQLite
and PostgreSQL, from the recorded queue scenarios 2p1-2p4 (exact figures), twice without
doubling anything; navigators' pauses filled only where the live record has none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from ivr211.cli import main
from listener.reconcile import ReconcileError, reconcile, reconcile_queue_log
from store.calls import (
    ActivityFact,
    CallRecord,
    NavigatorActivity,
    call_as_dict,
    record_activity,
)
from store.db import make_engine, session_factory, upgrade
from store.linesettings import SettingsStore, seed_if_empty
from store.navigators import add_navigator

from .test_celcalls import channel_line, event_line

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEED = Path(__file__).resolve().parents[2] / "store" / "defaults" / "line-settings.toml"
SCENARIOS = [
    "2p1-queue-abandon-after-wait",
    "2p2-queue-answered-after-5s",
    "2p3-queue-timeout",
    "2p4-queue-leaveempty-joinempty",
]
#: The lab's queue context (its callers are not in the line's contexts).
LAB_CONTEXTS = {"helpline-queue"}


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def files(tmp_path: Path) -> tuple[Path, Path]:
    cel, qlog = tmp_path / "Master.csv", tmp_path / "queue_log"
    cel_lines: list[str] = []
    for number, name in enumerate(SCENARIOS):
        lines = (FIXTURES / "cel" / f"{name}.cel.csv").read_text().splitlines(True)
        cel_lines += lines if number == 0 else lines[1:]
    cel.write_text("".join(cel_lines))
    qlog.write_text(
        "".join((FIXTURES / "queue_log" / f"{n}.queue_log").read_text() for n in SCENARIOS)
    )
    return cel, qlog


def run(cel: Path, qlog: Path, sessions: sessionmaker[Session]) -> tuple[int, int]:
    report = reconcile(cel, sessions, lambda e, c: None, None, tz=UTC, call_contexts=LAB_CONTEXTS)
    waits = reconcile_queue_log(qlog, sessions, None)
    return report.calls, waits.calls


def records(sessions: sessionmaker[Session]) -> dict[str, dict[str, Any]]:
    with sessions() as session:
        return {
            r.linkedid: {k: v for k, v in call_as_dict(r).items() if k not in {"id", "updated_at"}}
            for r in session.scalars(select(CallRecord))
        }


def test_the_recorded_queue_calls_are_completed_exactly_and_a_second_run_changes_nothing(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    cel, qlog = files(tmp_path)
    assert run(cel, qlog, sessions) == (7, 6)
    calls = records(sessions)
    figures = {
        lid: (r["queue_outcome"], r["wait_s"], r["queue_position"], r["talk_s"], r["completed_by"])
        for lid, r in calls.items()
    }
    assert figures == {
        "p1a-574-caller": ("abandoned", 6.0, 1, None, None),
        "p1b-574-caller": ("abandoned", 10.0, 2, None, None),
        "p2a-574-caller": ("answered", 5.0, 1, 3.0, "agent"),
        "p2b-574-caller": ("answered", 1.0, 1, 7.0, "caller"),
        "p3-574-caller": ("timeout", 8.0, 1, None, None),
        "p4a-574-caller": ("leaveempty", 7.0, 1, None, None),
        # refused at once (JOINEMPTY): no queue_log line; CEL knows only the call's life
        "p4b-574-caller": (None, None, None, None, None),
    }
    first = calls["p1a-574-caller"]
    assert (first["seen_cel"], first["seen_queue_log"], first["seen_ami"]) == (True, True, False)
    # queue_log's whole seconds come before CEL's CHAN_START at 16:11:08.834262
    assert first["arrived_at"] == at(1796400668)
    assert first["ended_at"] == datetime(2026, 12, 4, 16, 11, 14, 858845, tzinfo=UTC)
    assert calls["p2a-574-caller"]["answered_member"] == "Navigator Five"
    assert calls["p2a-574-caller"]["ring_s"] == 5.0
    assert all(r["caller_number"] is None for r in calls.values())

    assert run(cel, qlog, sessions) == (7, 6)
    again = records(sessions)
    assert {k: {c: v for c, v in r.items() if c != "created_at"} for k, r in again.items()} == {
        k: {c: v for c, v in r.items() if c != "created_at"} for k, r in calls.items()
    }


def test_cel_read_first_keeps_a_wait_cut_to_closing_time(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    cel = tmp_path / "Master.csv"
    start = at(1796400705.5)
    cel.write_text(
        channel_line("CHAN_START", "p3-574-caller", start, "from-trunk-211")
        + event_line(
            "p3-574-caller",
            at(1796400714.2),
            "v=1 step=queue pass=1 queue=navigateurs status=TIMEOUT cut=1",
            "ivr211-queue",
        )
    )
    reconcile(cel, sessions, lambda e, c: None, None, tz=UTC)
    reconcile_queue_log(FIXTURES / "queue_log" / "2p3-queue-timeout.queue_log", sessions, None)
    (record,) = records(sessions).values()
    assert (record["queue_outcome"], record["wait_s"]) == ("closing", 8.0)


def test_since_skips_what_ended_before_it(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    _, qlog = files(tmp_path)
    report = reconcile_queue_log(qlog, sessions, at(1796400700))
    assert report.calls == 3  # 2p1 and 2p2's first call ended before
    calls = records(sessions)
    assert set(calls) == {"p2b-574-caller", "p3-574-caller", "p4a-574-caller"}
    # answered before since, completed after: the whole call, its answer included
    assert (calls["p2b-574-caller"]["ring_s"], calls["p2b-574-caller"]["talk_s"]) == (1.0, 7.0)


def test_a_missing_queue_log_is_a_reconcile_error(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    with pytest.raises(ReconcileError, match="no such file"):
        reconcile_queue_log(tmp_path / "absent", sessions, None)


def intervals(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        return [
            (a.member, a.navigator_id is not None, a.started_at, a.ended_at, a.reason)
            for a in session.scalars(select(NavigatorActivity).order_by(NavigatorActivity.id))
        ]


def test_a_pause_the_listener_recorded_is_not_written_again(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        add_navigator(session, "leave", "Leaving Navigator", "PJSIP/nav-leave")
        record_activity(
            session,
            [
                ActivityFact(
                    "PJSIP/nav-leave",
                    "paused",
                    at(1796400722.377),
                    at(1796400726.102),
                    "logged off",
                )
            ],
        )
    qlog = FIXTURES / "queue_log" / "2p4-queue-leaveempty-joinempty.queue_log"
    assert reconcile_queue_log(qlog, sessions, None).intervals == 0
    assert len(intervals(sessions)) == 1


def test_a_pause_the_listener_missed_is_filled_under_the_navigators_interface(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        add_navigator(session, "leave", "Leaving Navigator", "PJSIP/nav-leave")
    qlog = FIXTURES / "queue_log" / "2p4-queue-leaveempty-joinempty.queue_log"
    assert reconcile_queue_log(qlog, sessions, None).intervals == 1
    assert reconcile_queue_log(qlog, sessions, None).intervals == 0
    assert intervals(sessions) == [
        ("PJSIP/nav-leave", True, at(1796400722), at(1796400726), "logged off")
    ]


def test_the_command_reads_cel_then_queue_log_and_says_so(
    tmp_path: Path,
    db_url: str,
    engine: Engine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SettingsStore(engine).change() as session:
        seed_if_empty(session, SEED)
    cel, qlog = files(tmp_path)
    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    monkeypatch.setenv("IVR211_DATABASE__URL", db_url)
    argv = ["reconcile", "--cel", str(cel), "--queue-log", str(qlog), "--tz", "UTC"]
    argv += ["--features", str(tmp_path / "absent.conf")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "; 0 calls" in out  # the lab's callers were not in the line's contexts
    assert f"{qlog}: 24 lines, 6 calls completed, 1 navigator intervals recorded now" in out
    assert main([*argv[:3], "--queue-log", str(tmp_path / "absent"), *argv[5:]]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_listener_completes_the_calls_from_queue_log_after_a_reconnect(
    store: SettingsStore, tmp_path: Path
) -> None:
    """2p1's queue_log, moved to a minute ago: the AMI link drops and comes back, and the
    listener's reconciliation records both abandoned waits from queue_log."""
    import asyncio

    from listener.actions import ActionOptions
    from listener.ami import LinkOptions
    from listener.service import ListenerOptions, ListenerService
    from tests.listener.fake_ami import FakeAmi
    from tests.listener.test_service import run as run_async
    from tests.listener.test_service import until

    lines = (FIXTURES / "queue_log" / "2p1-queue-abandon-after-wait.queue_log").read_text()
    shift = int(datetime.now(UTC).timestamp()) - 60 - 1796400668
    qlog = tmp_path / "queue_log"
    qlog.write_text(
        "".join(
            f"{int(epoch) + shift}|{rest}"
            for epoch, rest in (line.split("|", 1) for line in lines.splitlines(True))
        )
    )
    sessions = session_factory(store.engine)

    def waits() -> dict[str, tuple[Any, ...]]:
        return {k: (r["queue_outcome"], r["wait_s"]) for k, r in records(sessions).items()}

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = ListenerService(
                store.engine,
                LinkOptions(port=fake.port, secret=fake.secret, backoff_initial_s=0.05),
                store.load,
                ListenerOptions(
                    spool_path=tmp_path / "spool.jsonl",
                    queue_log_path=qlog,
                    poll_s=0.05,
                    actions=ActionOptions(transfer_context="emergency-services"),
                ),
            )
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                await fake.drop()
                await fake.wait_logins(2)
                await service.link.wait_connected(5)
                await until(lambda: len(waits()) == 2)
            finally:
                service.stop()
                await task

    run_async(scenario())
    assert waits() == {
        "p1a-574-caller": ("abandoned", 6.0),
        "p1b-574-caller": ("abandoned", 10.0),
    }
