"""The command table (dashboard/CLI -> listener) and the listener's status row, on both
databases. An expired command must never be claimed: that is how a stale Atxfer is
refused instead of being re-sent after a reconnect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store import commands
from store.navigators import NavigatorError, get_status, set_status

T0 = datetime(2026, 12, 5, 15, 0, 0, tzinfo=UTC)
ATXFER_ARGS = {"channel": "PJSIP/nav-alice-0000002a", "destination": "911"}


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        yield sess


def test_submit_claim_complete(session: Session) -> None:
    command_id = commands.submit(session, "atxfer", ATXFER_ARGS, "alice", ttl_s=10, now=T0)
    session.commit()
    pending = commands.get(session, command_id)
    assert (pending.status, pending.args, pending.requested_by) == ("pending", ATXFER_ARGS, "alice")
    assert pending.expires_at == T0 + timedelta(seconds=10)
    assert not pending.finished

    claimed = commands.claim_due(session, T0 + timedelta(seconds=1))
    session.commit()
    assert [(c.id, c.kind, c.status, c.args) for c in claimed] == [
        (command_id, "atxfer", "running", ATXFER_ARGS)
    ]
    assert commands.claim_due(session, T0 + timedelta(seconds=2)) == []

    done = commands.complete(
        session, command_id, "ok", {"response": "Success"}, now=T0 + timedelta(seconds=2)
    )
    session.commit()
    assert (done.status, done.result, done.completed_at) == (
        "ok",
        {"response": "Success"},
        T0 + timedelta(seconds=2),
    )
    assert done.finished
    with pytest.raises(commands.CommandError, match="is ok, not running"):
        commands.complete(session, command_id, "error", {})


def test_claim_takes_due_commands_oldest_first_and_respects_the_limit(session: Session) -> None:
    ids = [
        commands.submit(session, "queue_pause", {"n": n}, "cli", ttl_s=30, now=T0) for n in range(3)
    ]
    session.commit()
    first = commands.claim_due(session, T0, limit=2)
    assert [c.id for c in first] == ids[:2]
    assert [c.id for c in commands.claim_due(session, T0)] == ids[2:]


def test_an_expired_command_is_never_claimed(session: Session) -> None:
    stale = commands.submit(session, "atxfer", ATXFER_ARGS, "alice", ttl_s=10, now=T0)
    fresh = commands.submit(
        session, "atxfer", ATXFER_ARGS, "bob", ttl_s=10, now=T0 + timedelta(seconds=8)
    )
    session.commit()
    # the listener comes back after a reconnect, 11 s later: only the fresh one is sent
    later = T0 + timedelta(seconds=11)
    assert [c.id for c in commands.claim_due(session, later)] == [fresh]
    assert commands.claim_due(session, later) == []
    assert commands.expire_stale(session, later) == 1
    session.commit()
    expired = commands.get(session, stale)
    assert (expired.status, expired.completed_at) == ("expired", later)
    assert expired.result is not None
    assert "expired" in expired.result["error"]
    assert commands.claim_due(session, T0) == []  # even with a clock that went backwards
    with pytest.raises(commands.CommandError, match="is expired, not running"):
        commands.complete(session, stale, "ok", {})


def test_a_command_is_due_only_before_its_expiry(session: Session) -> None:
    command_id = commands.submit(session, "atxfer", ATXFER_ARGS, "alice", ttl_s=5, now=T0)
    session.commit()
    assert commands.claim_due(session, T0 + timedelta(seconds=5)) == []
    assert commands.get(session, command_id).status == "pending"


def test_expire_stale_leaves_running_and_unexpired_commands(session: Session) -> None:
    running = commands.submit(session, "atxfer", ATXFER_ARGS, "alice", ttl_s=5, now=T0)
    commands.claim_due(session, T0)
    waiting = commands.submit(session, "atxfer", ATXFER_ARGS, "alice", ttl_s=60, now=T0)
    session.commit()
    assert commands.expire_stale(session, T0 + timedelta(seconds=30)) == 0
    assert commands.get(session, running).status == "running"
    assert commands.get(session, waiting).status == "pending"


def test_a_restarted_listener_abandons_what_was_running(session: Session) -> None:
    command_id = commands.submit(session, "atxfer", ATXFER_ARGS, "alice", now=T0)
    commands.claim_due(session, T0)
    session.commit()
    assert commands.abandon_running(session, T0 + timedelta(seconds=3), "listener restarted") == 1
    session.commit()
    command = commands.get(session, command_id)
    assert (command.status, command.result) == ("error", {"error": "listener restarted"})
    assert commands.claim_due(session, T0 + timedelta(seconds=3)) == []


@pytest.mark.parametrize(
    ("args", "ttl_s", "message"),
    [
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, 10.0, "not JSON"),
        ({"x": float("nan")}, 10.0, "not JSON"),
        (["not", "a", "dict"], 10.0, "JSON object"),
        ({}, 0.0, "positive"),
        ({}, -1.0, "positive"),
    ],
)
def test_bad_commands_are_refused(
    session: Session, args: object, ttl_s: float, message: str
) -> None:
    with pytest.raises(commands.CommandError, match=message):
        commands.submit(session, "atxfer", args, "alice", ttl_s=ttl_s, now=T0)  # type: ignore[arg-type]
    assert commands.recent(session) == []


def test_unknown_status_is_refused_by_the_database(migrated_engine: Engine) -> None:
    with pytest.raises(IntegrityError), migrated_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO commands (kind, args, requested_by, created_at, expires_at, status)"
                " VALUES ('x', '{}', 'me', :t, :e, 'sent')"
            ),
            {"t": T0, "e": T0 + timedelta(seconds=1)},
        )


def test_wait_result_sees_the_listener_complete(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session, session.begin():
        command_id = commands.submit(session, "queue_pause", {"member": "x"}, "cli", ttl_s=60)

    def listener() -> None:
        with Session(migrated_engine) as session, session.begin():
            for command in commands.claim_due(session, datetime.now(UTC)):
                commands.complete(session, command.id, "error", {"error": "no such member"})

    worker = threading.Thread(target=listener)
    worker.start()
    try:
        result = commands.wait_result(migrated_engine, command_id, timeout_s=30, poll_s=0.01)
    finally:
        worker.join()
    assert (result.status, result.result) == ("error", {"error": "no such member"})


def test_wait_result_gives_a_definite_expiry_without_a_listener(migrated_engine: Engine) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    with Session(migrated_engine) as session, session.begin():
        command_id = commands.submit(session, "atxfer", ATXFER_ARGS, "alice", now=long_ago)
    result = commands.wait_result(migrated_engine, command_id, timeout_s=30)
    assert result.status == "expired"
    with Session(migrated_engine) as session:
        assert commands.claim_due(session, long_ago) == []


def test_wait_result_returns_the_command_as_it_is_when_time_is_up(
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session, session.begin():
        command_id = commands.submit(session, "atxfer", ATXFER_ARGS, "alice", ttl_s=600)
    assert commands.wait_result(migrated_engine, command_id, timeout_s=0).status == "pending"
    with pytest.raises(commands.CommandNotFound):
        commands.wait_result(migrated_engine, command_id + 1, timeout_s=0)


def test_listener_status_since_moves_only_with_the_state(session: Session) -> None:
    assert get_status(session) is None
    set_status(session, "connecting", "127.0.0.1:5038", T0)
    set_status(session, "connected", "FullyBooted", T0 + timedelta(seconds=1))
    session.commit()
    beat = set_status(session, "connected", "FullyBooted", T0 + timedelta(seconds=31))
    session.commit()
    assert (beat.state, beat.since, beat.heartbeat_at) == (
        "connected",
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=31),
    )
    down = set_status(session, "disconnected", "Shutdown", T0 + timedelta(seconds=40))
    session.commit()
    assert down.since == T0 + timedelta(seconds=40)
    status = get_status(session)
    assert status is not None
    assert (status.state, status.detail) == ("disconnected", "Shutdown")
    assert not status.stale(T0 + timedelta(seconds=50), max_age_s=30)
    assert status.stale(T0 + timedelta(seconds=71), max_age_s=30)


def test_listener_status_refuses_unknown_states(session: Session) -> None:
    with pytest.raises(NavigatorError, match="listener state"):
        set_status(session, "sleeping", "", T0)
    with pytest.raises(ValueError, match="has no time zone"):
        set_status(session, "connected", "", datetime(2026, 12, 5, 15, 0))
