"""The navigators' presence on the Twilio line, on both databases: logged in, paused with
a reason, back, logged out; kept across the listener's snapshots (which replace only
Asterisk's mirror); read by the live pages beside Asterisk's members and waiting
callers, with the caller's details for the navigator on the call. Migration 0020
creates the table and its downgrade removes it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session

from store import live, twilio_presence
from store.db import upgrade
from store.live import LiveSnapshot, MemberPresence, WaitingCaller
from store.models import Navigator
from store.navigators import add_navigator
from store.twilio_calls import add_call
from store.twilio_conferences import add_conference

T0 = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
CALLER = "CA" + "a" * 32
WAITING = "CA" + "b" * 32


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        yield sess


def alice(session: Session) -> Navigator:
    nav = add_navigator(session, "nav-alice", "Alice Tremblay", "PJSIP/nav-alice")
    session.commit()
    return nav


def test_log_in_pause_with_a_reason_resume_and_log_out(session: Session) -> None:
    nav = alice(session)
    assert not twilio_presence.set_presence(session, nav.id, "pause", T0, reason="dîner")
    assert twilio_presence.presence_of(session, nav.id) is None  # nothing to pause

    assert twilio_presence.set_presence(session, nav.id, "login", T0)
    assert not twilio_presence.set_presence(session, nav.id, "login", T0 + timedelta(seconds=5))
    session.commit()
    row = twilio_presence.presence_of(session, nav.id)
    assert row is not None and (row.paused, row.since) == (False, T0)

    later = T0 + timedelta(minutes=10)
    assert twilio_presence.set_presence(session, nav.id, "pause", later, reason=" dîner ")
    session.commit()
    row = twilio_presence.presence_of(session, nav.id)
    assert row is not None and (row.paused, row.pause_reason, row.since) == (True, "dîner", later)
    assert (row.logged_in_at, row.since) == (T0, later)

    back = later + timedelta(minutes=30)
    assert twilio_presence.set_presence(session, nav.id, "unpause", back)
    session.commit()
    row = twilio_presence.presence_of(session, nav.id)
    assert row is not None and (row.paused, row.pause_reason, row.since) == (False, "", back)

    assert twilio_presence.set_presence(session, nav.id, "logout", back)
    assert not twilio_presence.set_presence(session, nav.id, "logout", back)
    session.commit()
    assert twilio_presence.presence_of(session, nav.id) is None
    with pytest.raises(ValueError, match="unknown presence action"):
        twilio_presence.set_presence(session, nav.id, "dance", back)


def test_the_listeners_snapshot_does_not_erase_twilio_presence(session: Session) -> None:
    nav = alice(session)
    twilio_presence.set_presence(session, nav.id, "login", T0)
    twilio_presence.set_presence(session, nav.id, "pause", T0, reason="formation")
    bob = MemberPresence("PJSIP/nav-bob", "Bob", ("navigateurs",), False, "", False, None, T0)
    caller = WaitingCaller("1795.1", "1795.1", "PJSIP/trunk-1", "navigateurs", 1, T0, "fr", None)
    snapshot = LiveSnapshot(3, True, T0, (bob,), (caller,))
    live.write_snapshot(session, snapshot, connected=True, at=T0)
    live.clear(session, T0 + timedelta(seconds=1))
    session.commit()
    row = twilio_presence.presence_of(session, nav.id)
    assert row is not None and (row.paused, row.pause_reason) == (True, "formation")


def test_read_live_lists_twilio_beside_asterisk(session: Session) -> None:
    nav = alice(session)
    bob = MemberPresence("PJSIP/nav-bob", "Bob", ("navigateurs",), True, "", False, None, T0)
    caller = WaitingCaller("1795.1", "1795.1", "PJSIP/trunk-1", "navigateurs", 1, T0, "fr", None)
    live.write_snapshot(
        session, LiveSnapshot(3, True, T0, (bob,), (caller,)), connected=True, at=T0
    )
    twilio_presence.set_presence(session, nav.id, "login", T0)
    waiting = add_call(
        session, call_sid=WAITING, at=T0, caller_number="+14185550199", dialed_number="+1"
    )
    waiting.decision = '{"route":"queue","language":"en","path":["open","lang:en"]}'
    waiting.updated_at = T0 + timedelta(seconds=40)
    in_menu = add_call(
        session, call_sid="CA" + "c" * 32, at=T0, caller_number=None, dialed_number=None
    )
    in_menu.decision = None
    session.commit()

    asterisk_only = live.read_live(session)
    assert [m.name for m in asterisk_only.members] == ["Bob"]
    assert len(asterisk_only.waiting) == 1

    view = live.read_live(session, twilio=True)
    assert view.known and view.twilio
    assert [(m.name, m.line, m.paused, m.on_call) for m in view.members] == [
        ("Bob", live.ASTERISK, True, False),
        ("Alice Tremblay", live.TWILIO, False, False),
    ]
    assert (view.logged_in, view.paused, view.on_call) == (2, 1, 0)
    assert [(w.uniqueid, w.line, w.language, w.joined_at) for w in view.waiting] == [
        ("1795.1", live.ASTERISK, "fr", T0),
        (WAITING, live.TWILIO, "en", T0 + timedelta(seconds=40)),
    ]

    # Once a navigator took the caller, they are on a call and the caller waits no more.
    add_conference(
        session,
        caller_sid=WAITING,
        navigator_user="nav-alice",
        navigator_endpoint="PJSIP/nav-alice",
        line_number="+14185550211",
        at=T0 + timedelta(minutes=1),
    )
    session.commit()
    view = live.read_live(session, twilio=True)
    assert [w.line for w in view.waiting] == [live.ASTERISK]
    alice_now = view.members[1]
    assert alice_now.on_call and alice_now.since == T0 + timedelta(minutes=1)
    assert alice_now.call is not None and alice_now.call.caller_number is None  # no number

    mine = live.presence_for(session, nav, twilio=True)
    assert mine is not None and mine.line == live.TWILIO and mine.call is not None
    assert mine.call.caller_number == "+14185550199"  # the navigator on the call reads it
    assert (mine.call.language, mine.call.path) == ("en", "open/lang:en")
    assert live.presence_for(session, nav) is None  # not on Asterisk


def test_twilio_is_known_while_the_listener_is_silent(session: Session) -> None:
    nav = alice(session)
    twilio_presence.set_presence(session, nav.id, "login", T0)
    session.commit()
    assert not live.read_live(session).known  # no listener ever ran
    view = live.read_live(session, twilio=True, now=T0, stale_after_s=30)
    assert view.known and not view.connected
    assert [m.line for m in view.members] == [live.TWILIO]


def test_an_inactive_navigator_is_not_listed(session: Session) -> None:
    nav = alice(session)
    twilio_presence.set_presence(session, nav.id, "login", T0)
    nav.active = False
    session.commit()
    assert live.read_live(session, twilio=True).members == ()


def test_line_activity_says_when_twilio_last_called(session: Session) -> None:
    assert twilio_presence.line_activity(session) == twilio_presence.LineActivity(None, None)
    first = add_call(session, call_sid=CALLER, at=T0, caller_number=None, dialed_number=None)
    first.updated_at = T0 + timedelta(minutes=3)
    add_call(
        session,
        call_sid=WAITING,
        at=T0 + timedelta(minutes=1),
        caller_number=None,
        dialed_number=None,
    )
    session.commit()
    activity = twilio_presence.line_activity(session)
    assert activity.last_call_at == T0 + timedelta(minutes=1)
    assert activity.last_heard_at == T0 + timedelta(minutes=3)
    assert activity.last_call_at is not None and activity.last_call_at.tzinfo is not None


def test_0020_creates_the_table_and_its_downgrade_removes_it(engine: Engine) -> None:
    from alembic import command

    from store.db import _alembic_config

    upgrade(engine, "0019")
    assert "twilio_presence" not in inspect(engine).get_table_names()
    upgrade(engine, "0020")
    assert "twilio_presence" in inspect(engine).get_table_names()
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0019")
    assert "twilio_presence" not in inspect(engine).get_table_names()
