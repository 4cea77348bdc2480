"""Call records and navigator activity from the recorded AMI streams of a real Asterisk 22.

The streams are the lab's exact bytes (``tests/fixtures/ami/raw``, copied from
``transcripts/raw``), replayed in virtual time through :class:`listener.calls.CallFollower`
(an event received ``+t`` s into the recording arrives at ``BASE + t``; the recordings with
``Timestamp`` headers carry their own time). The expected figures are Asterisk's own
(``tests/fixtures/queue_log``, copied from ``transcripts/queue_log``): ``ENTERQUEUE`` gives
the position, ``ABANDON|pos|origpos|wait``, ``EXITWITHTIMEOUT|pos|origpos|wait``,
``EXITEMPTY|pos|origpos|wait``, ``CONNECT|wait|uid|ring``, ``COMPLETEAGENT|wait|talk|pos``.
The same facts are then written to SQLite and PostgreSQL, twice: one row per call.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from listener.calls import DEFAULT_WRAPUP_S, CallFollower, Fact
from store.calls import (
    ActivityFact,
    CallFact,
    CallRecord,
    NavigatorActivity,
    QueueOutcome,
    merge,
    record_activity,
    record_calls,
)
from tests.listener.test_replay import moment, stream

ROOT = Path(__file__).resolve().parents[2]
QUEUE_LOG = ROOT / "tests" / "fixtures" / "queue_log"
WRAPUP = timedelta(seconds=DEFAULT_WRAPUP_S)


def replay(
    scenario: str, follower: CallFollower | None = None, events: Iterable[Any] | None = None
) -> list[Fact]:
    follower = follower or CallFollower()
    facts: list[Fact] = []
    for received_at, message in events if events is not None else stream(scenario):
        facts.extend(follower.feed(message, received_at))
    return facts


def calls_of(facts: Iterable[Fact]) -> dict[str, CallFact]:
    """Each call's facts merged as the store merges them."""
    merged: dict[str, CallFact] = {}
    for fact in facts:
        if isinstance(fact, CallFact):
            known = merged.get(fact.linkedid)
            merged[fact.linkedid] = fact if known is None else merge(known, fact)
    return merged


def activity_of(facts: Iterable[Fact]) -> list[tuple[str, str, datetime, datetime, str]]:
    return [
        (f.member, f.state, f.started_at, f.ended_at, f.reason)
        for f in facts
        if isinstance(f, ActivityFact)
    ]


def queue_log(scenario: str) -> list[list[str]]:
    """Asterisk's queue_log lines of the scenario, split on ``|``."""
    path = QUEUE_LOG / f"{scenario}.queue_log"
    return [line.split("|") for line in path.read_text().splitlines() if line.strip()]


def logged(scenario: str, callid: str, verb: str) -> list[str]:
    found = [line for line in queue_log(scenario) if line[1] == callid and line[4] == verb]
    assert len(found) == 1, f"{scenario}: {verb} of {callid}: {found}"
    return found[0][5:]


def at(scenario: str, event: str, **fields: str) -> datetime:
    return moment(scenario, event, **fields)


# ---- the expected calls --------------------------------------------------------------


def waited(
    scenario: str, uid: str, queue: str, outcome: QueueOutcome, exit_verb: str, number: str
) -> dict[str, Any]:
    """A caller who left the queue without a navigator: Asterisk's QueueCallerAbandon
    time and HoldTime, the queue_log line ``<exit_verb>|pos|origpos|wait``."""
    _, original, wait = logged(scenario, uid, exit_verb)
    entry_position = logged(scenario, uid, "ENTERQUEUE")[2]
    assert entry_position == original
    return {
        "at": at(scenario, "Newchannel", Uniqueid=uid),
        "caller_number": number,
        "queue": queue,
        "queue_joined_at": at(scenario, "QueueCallerJoin", Uniqueid=uid),
        "queue_position": int(entry_position),
        "queue_outcome": outcome,
        "queue_left_at": at(scenario, "QueueCallerAbandon", Uniqueid=uid),
        "wait_s": float(wait),
        "ring_s": None,
        "answered_interface": None,
        "talk_s": None,
        "ended_at": at(scenario, "Hangup", Uniqueid=uid),
    }


def answered(
    scenario: str, uid: str, queue: str, interface: str, name: str, reason: str
) -> dict[str, Any]:
    wait, _, ring = logged(scenario, uid, "CONNECT")
    complete = "COMPLETEAGENT" if reason == "agent" else "COMPLETECALLER"
    wait_again, talk, _ = logged(scenario, uid, complete)
    assert wait == wait_again
    return {
        "at": at(scenario, "Newchannel", Uniqueid=uid),
        "queue": queue,
        "queue_joined_at": at(scenario, "QueueCallerJoin", Uniqueid=uid),
        "queue_position": int(logged(scenario, uid, "ENTERQUEUE")[2]),
        "queue_outcome": QueueOutcome.ANSWERED,
        "queue_left_at": at(scenario, "QueueCallerLeave", Uniqueid=uid),
        "wait_s": float(wait),
        "ring_s": float(ring),
        "answered_interface": interface,
        "answered_name": name,
        "talk_s": float(talk),
        "completed_by": reason,
        "ended_at": at(scenario, "Hangup", Uniqueid=uid),
    }


P1, P2, P3, P4 = (
    "2p1-queue-abandon-after-wait",
    "2p2-queue-answered-after-5s",
    "2p3-queue-timeout",
    "2p4-queue-leaveempty-joinempty",
)
NOANSWER = "Local/noanswer@queue-agents/n"


def expected_calls(scenario: str) -> dict[str, dict[str, Any]]:
    if scenario == P1:
        return {
            uid: waited(P1, uid, "navigators-noanswer", QueueOutcome.ABANDONED, "ABANDON", num)
            for uid, num in (("p1a-574-caller", "5145550123"), ("p1b-574-caller", "8195550142"))
        }
    if scenario == P2:
        return {
            "p2a-574-caller": answered(
                P2,
                "p2a-574-caller",
                "navigators-5s",
                "Local/nav5@queue-agents/n",
                "Navigator Five",
                "agent",
            ),
            "p2b-574-caller": answered(
                P2,
                "p2b-574-caller",
                "navigators-long",
                "Local/navlong@queue-agents/n",
                "Navigator Long",
                "caller",
            ),
        }
    if scenario == P3:
        uid = "p3-574-caller"
        return {
            uid: waited(
                P3,
                uid,
                "navigators-noanswer",
                QueueOutcome.TIMEOUT,
                "EXITWITHTIMEOUT",
                "5145550123",
            )
        }
    if scenario == P4:
        uid = "p4a-574-caller"
        return {
            uid: waited(
                P4, uid, "navigators-leave", QueueOutcome.LEAVEEMPTY, "EXITEMPTY", "5145550123"
            ),
            # JOINEMPTY: no queue event, no queue_log line; only QUEUESTATUS on the channel
            "p4b-574-caller": {
                "at": at(P4, "Newchannel", Uniqueid="p4b-574-caller"),
                "queue": None,
                "queue_joined_at": None,
                "queue_position": None,
                "queue_outcome": QueueOutcome.JOINEMPTY,
                "queue_left_at": None,
                "wait_s": None,
                "ended_at": at(P4, "Hangup", Uniqueid="p4b-574-caller"),
            },
        }
    if scenario == "2o-queuestatus-caller-waiting":
        uid = "o-574-caller"
        return {
            uid: waited(
                scenario,
                uid,
                "navigators-noanswer",
                QueueOutcome.ABANDONED,
                "ABANDON",
                "5145550123",
            )
        }
    if scenario == "2m-fastagi-ivr-vars-then-queue":
        uid = "m-574-caller"
        return {
            uid: {
                # the flow's SET VARIABLE, seen as VarSet on the caller's channel
                "route": "queue",
                "language": "fr",
                "path": "menu>1>queue",
                "queue": "navigators",
                "queue_outcome": QueueOutcome.ANSWERED,
                "queue_position": 1,
                "wait_s": 2.0,  # AgentConnect HoldTime (QUEUEWAIT=2)
                "ring_s": 2.0,
                "answered_interface": "Local/nav@queue-agents/n",
                "answered_name": "Navigator One",
                "talk_s": 3.0,
                "completed_by": "agent",
                "queue_joined_at": at(scenario, "QueueCallerJoin", Uniqueid=uid),
                "ended_at": at(scenario, "Hangup", Uniqueid=uid),
            }
        }
    if scenario == "2f-queue":  # no queue_log: the event headers (HoldTime, TalkTime...)
        return {
            "fA-78443-caller": {
                "queue": "navigators",
                "queue_outcome": QueueOutcome.ANSWERED,
                "queue_position": 1,
                "wait_s": 2.0,
                "ring_s": 2.0,
                "answered_interface": "Local/nav@queue-agents/n",
                "talk_s": 3.0,
                "completed_by": "agent",
                "caller_number": "5145550123",
            },
            "fB-78443-caller": {
                "queue": "navigators-noanswer",
                "queue_outcome": QueueOutcome.ABANDONED,
                "queue_position": 1,
                "wait_s": 8.0,
                "talk_s": None,
                "answered_interface": None,
                "caller_number": "8195550142",
                "queue_left_at": at("2f-queue", "QueueCallerAbandon", Uniqueid="fB-78443-caller"),
            },
        }
    if scenario == "2f2-queue-then-warm-transfer":
        return {
            "f2-78443-caller": {
                "queue": "navigators-xfer",
                "queue_outcome": QueueOutcome.ANSWERED,
                "wait_s": 0.0,
                "ring_s": 0.0,
                "answered_interface": "Local/nav-dtmf-atxfer@navigators/n",
                "answered_name": "Navigator Xfer",
                "talk_s": 10.0,
                "completed_by": "transfer",  # the navigator's warm transfer ended it
            }
        }
    raise AssertionError(scenario)


SCENARIOS = [
    P1,
    P2,
    P3,
    P4,
    "2o-queuestatus-caller-waiting",
    "2m-fastagi-ivr-vars-then-queue",
    "2f-queue",
    "2f2-queue-then-warm-transfer",
]


def check(call: CallFact | CallRecord, expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if isinstance(call, CallFact):
            got = getattr(call, name)
        elif name == "answered_interface":
            continue  # the record names the member: answered_name, else the interface
        elif name == "answered_name":
            got = call.answered_member
        else:
            got = getattr(call, "arrived_at" if name == "at" else name)
        assert got == value, f"{call.linkedid}: {name} is {got!r}, expected {value!r}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_recorded_call_has_asterisks_figures(scenario: str) -> None:
    calls = calls_of(replay(scenario))
    expected = expected_calls(scenario)
    assert set(calls) == set(expected)
    for linkedid, figures in expected.items():
        check(calls[linkedid], figures)


@pytest.mark.parametrize("scenario", [P3, P4])
def test_queue_caller_abandon_is_not_an_abandon(scenario: str) -> None:
    """Asterisk sends QueueCallerAbandon on a timeout and on LEAVEEMPTY too: up to the
    QueueCallerLeave that follows it, nothing is concluded."""
    events = stream(scenario)
    leave = next(i for i, (_, m) in enumerate(events) if m.get("Event") == "QueueCallerLeave")
    before = calls_of(replay(scenario, events=events[: leave + 1]))
    assert before == {}
    assert all(
        c.queue_outcome is not QueueOutcome.ABANDONED for c in calls_of(replay(scenario)).values()
    )


def test_a_timeout_at_closing_time_is_closing() -> None:
    """The dialplan cuts the wait at IVR_CLOSES_AT: a TIMEOUT there is the closing."""
    events = stream(P3)
    join = next(i for i, (_, m) in enumerate(events) if m.get("Event") == "QueueCallerJoin")
    received_at, varset = next(
        (t, m)
        for t, m in events
        if m.get("Event") == "VarSet" and m.get("Uniqueid") == "p3-574-caller"
    )
    left = at(P3, "QueueCallerAbandon", Uniqueid="p3-574-caller")
    results = {}
    cases = (
        ("closing", int(left.timestamp())),  # Queue(..., IVR_CLOSES_AT - EPOCH): 8 s left
        ("max wait", int(left.timestamp()) + 1),  # the wait ended before closing time
        ("far from closing", int(left.timestamp()) + 600),
    )
    for label, closes_at in cases:
        closes = dict(varset, Variable="IVR_CLOSES_AT", Value=str(closes_at))
        run = [*events[:join], (received_at, closes), *events[join:]]
        results[label] = calls_of(replay(P3, events=run))["p3-574-caller"].queue_outcome
    assert results == {
        "closing": QueueOutcome.CLOSING,
        "max wait": QueueOutcome.TIMEOUT,
        "far from closing": QueueOutcome.TIMEOUT,
    }


def test_member_actions_give_the_logged_in_and_paused_intervals() -> None:
    scenario = "2j-queue-member-actions"
    nav2 = "Local/nav2@queue-agents/n"
    pause = [
        at(scenario, "QueueMemberPause", Paused="1", PausedReason=r)
        for r in ("lunch", "still lunch", "meeting")
    ]
    back = at(scenario, "QueueMemberPause", PausedReason="back")
    unpaused = at(scenario, "QueueMemberPause", Paused="0", PausedReason="")
    removed = at(scenario, "QueueMemberRemoved")
    # queue_log: ADDMEMBER, PAUSE lunch, PAUSE still lunch, UNPAUSE back, UNPAUSE,
    # PAUSEALL meeting, UNPAUSEALL, REMOVEMEMBER: the unpause sent again changes nothing
    verbs = [line[4] for line in queue_log(scenario)]
    assert verbs.count("PAUSE") == 3 and verbs[-1] == "REMOVEMEMBER"
    login = datetime.fromtimestamp(int(queue_log(scenario)[0][0]), UTC)  # LoginTime
    assert activity_of(replay(scenario)) == [
        (nav2, "paused", pause[0], pause[1], "lunch"),
        (nav2, "paused", pause[1], back, "still lunch"),
        (nav2, "paused", pause[2], unpaused, "meeting"),
        (nav2, "logged_in", login, removed, ""),
    ]


def test_ringing_on_call_and_after_call_work_of_the_answered_calls() -> None:
    facts = replay(P2)
    expected = []
    for uid, member in (
        ("p2a-574-caller", "Local/nav5@queue-agents/n"),
        ("p2b-574-caller", "Local/navlong@queue-agents/n"),
    ):
        called, connected, done = (
            at(P2, event, Uniqueid=uid)
            for event in ("AgentCalled", "AgentConnect", "AgentComplete")
        )
        expected += [
            (member, "ringing", called, connected, ""),
            (member, "on_call", connected, done, ""),
            (member, "after_call_work", done, done + WRAPUP, ""),
        ]
    assert activity_of(facts) == expected
    assert {f.linkedid for f in facts if isinstance(f, ActivityFact)} == {
        "p2a-574-caller",
        "p2b-574-caller",
    }


def test_ringing_ends_when_the_member_does_not_answer_or_the_caller_leaves() -> None:
    facts = replay(P1)
    uid = "p1a-574-caller"
    rings = [(s, e) for _, state, s, e, _ in activity_of(facts) if state == "ringing"]
    called = [
        t for t, m in stream(P1) if m.get("Event") == "AgentCalled" and m.get("Uniqueid") == uid
    ]
    assert len(rings) == 4 and len(called) == 2
    # queue_log: RINGNOANSWER|3000 then RINGCANCELED (the caller hung up)
    first, second = rings[0], rings[1]
    assert (first[1] - first[0]).total_seconds() == pytest.approx(3.0, abs=0.01)
    assert second[1] == at(P1, "Hangup", Uniqueid=moment_leg(P1, uid, 1))


def moment_leg(scenario: str, caller: str, index: int) -> str:
    legs = [
        m["DestUniqueid"]
        for _, m in stream(scenario)
        if m.get("Event") == "AgentCalled" and m.get("Uniqueid") == caller
    ]
    return legs[index]


def test_wrapup_default_is_the_queues_wrapuptime() -> None:
    config = configparser.ConfigParser(strict=False, inline_comment_prefixes=(";",))
    config.read_string((ROOT / "asterisk_conf" / "queues.conf").read_text())
    assert float(config["navigateurs"]["wrapuptime"]) == DEFAULT_WRAPUP_S


def test_a_reset_concludes_nothing_half_seen() -> None:
    """The link drops after AgentConnect: the talk time and the on_call interval are
    left to the reconciliation; a call whose start was not seen is not followed."""
    events = stream(P2)
    connect = next(i for i, (_, m) in enumerate(events) if m.get("Event") == "AgentConnect")
    follower = CallFollower()
    before = replay(P2, follower, events[: connect + 1])
    follower.reset()
    after = replay(P2, follower, events[connect + 1 :])
    first = calls_of(before)["p2a-574-caller"]
    assert first.queue_outcome is QueueOutcome.ANSWERED and first.talk_s is None
    assert "p2a-574-caller" not in calls_of(after)  # not seen from its start any more
    assert calls_of(after)["p2b-574-caller"].talk_s == 7.0
    states = [(m, s) for m, s, *_ in activity_of(after) if m == "Local/nav5@queue-agents/n"]
    assert states == [("Local/nav5@queue-agents/n", "after_call_work")]  # no on_call


def test_memory_is_bounded() -> None:
    follower = CallFollower(max_channels=8)
    base = datetime(2026, 12, 4, tzinfo=UTC)
    for i in range(100):
        uid = f"1796400{i:03d}.1"
        follower.feed({"Event": "Newchannel", "Uniqueid": uid, "Linkedid": uid}, base)
    assert follower.following == 8
    assert follower.stats["dropped_calls"] == 92


def test_bad_events_break_nothing() -> None:
    follower = CallFollower()
    now = datetime(2026, 12, 4, tzinfo=UTC)
    for event in (
        {"Event": "AgentConnect"},
        {"Event": "QueueCallerJoin", "Uniqueid": "x", "Position": "9" * 40},
        {"Event": "QueueMemberPause", "Interface": "Local/x", "Queue": "q", "LoginTime": "z"},
        {"Event": "VarSet", "Uniqueid": "x", "Variable": "QUEUESTATUS", "Value": "WHAT"},
        {"Event": "Hangup", "Uniqueid": "\x00" * 2000},
    ):
        assert all(isinstance(f, ActivityFact | CallFact) for f in follower.feed(event, now))


# ---- on both databases ----------------------------------------------------------------


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        yield sess


def write(session: Session, facts: list[Fact]) -> None:
    with session.begin():
        record_calls(session, [f for f in facts if isinstance(f, CallFact)])
        record_activity(session, [f for f in facts if isinstance(f, ActivityFact)])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replayed_calls_are_one_row_each_with_the_figures(session: Session, scenario: str) -> None:
    facts = replay(scenario)
    write(session, facts)
    write(session, replay(scenario))  # a replay merges into the same rows
    rows = {r.linkedid: r for r in session.scalars(select(CallRecord))}
    expected = expected_calls(scenario)
    assert set(rows) == set(expected)
    for linkedid, figures in expected.items():
        check(rows[linkedid], figures)
        assert rows[linkedid].seen_ami
    activity = session.scalar(select(func.count()).select_from(NavigatorActivity))
    assert activity == sum(isinstance(f, ActivityFact) for f in facts)


def test_pause_intervals_are_stored_once(session: Session) -> None:
    scenario = "2j-queue-member-actions"
    write(session, replay(scenario))
    write(session, replay(scenario))
    rows = session.scalars(
        select(NavigatorActivity).order_by(NavigatorActivity.started_at, NavigatorActivity.state)
    ).all()
    assert [(r.state, r.reason) for r in rows] == [
        ("logged_in", ""),
        ("paused", "lunch"),
        ("paused", "still lunch"),
        ("paused", "meeting"),
    ]


# ---- the flow's variables -------------------------------------------------------------


def with_varsets(
    events: list[tuple[datetime, dict[str, str]]],
    uid: str,
    before: str,
    varsets: list[tuple[str, str, str]],
) -> list[tuple[datetime, dict[str, str]]]:
    """``events`` with VarSets of the caller's channel put before its first ``before``
    event: each a recorded VarSet of that channel (same headers) with another variable,
    value and context, as the project's dialplan and flow set them (2m, 6a)."""
    mine = [(i, t, m) for i, (t, m) in enumerate(events) if m.get("Uniqueid") == uid]
    index = next(i for i, _, m in mine if m.get("Event") == before)
    received_at, recorded = next((t, m) for _, t, m in mine if m.get("Event") == "VarSet")
    added = [
        (received_at, dict(recorded, Variable=name, Value=value, Context=context))
        for name, value, context in varsets
    ]
    return [*events[:index], *added, *events[index:]]


FLOW = "ivr211-incoming"


def test_the_flows_variables_and_the_queue_exit_route() -> None:
    uid = "p3-574-caller"
    decided = [
        ("IVR_ROUTE", "queue", FLOW),
        ("__IVR_LANG", "en", FLOW),
        ("__IVR_PATH", "open/lang:en/main:1", FLOW),
        ("__IVR_INTERPRETER", "0", FLOW),
        ("IVR_LINE_STATE", "hours", FLOW),
        ("__IVR_LANG", "fr", "ivr211-queue"),  # a later value does not replace the decision
    ]
    events = with_varsets(stream(P3), uid, "QueueCallerJoin", decided)
    # after QUEUESTATUS=TIMEOUT the queue-exit menu (a second pass of the flow) decides
    exit_menu = [("IVR_ROUTE", "", "ivr211-queue"), ("IVR_ROUTE", "research", "ivr211-queue")]
    events = with_varsets(events, uid, "Hangup", exit_menu)
    call = calls_of(replay(P3, events=events))[uid]
    assert (call.route, call.language, call.path, call.line_state) == (
        "queue",
        "en",
        "open/lang:en/main:1",
        "hours",
    )
    assert (call.queue_outcome, call.exit_route) == (QueueOutcome.TIMEOUT, "research")


def test_the_interpreters_path_is_its_own_language() -> None:
    uid = "p2a-574-caller"
    varsets = [("IVR_ROUTE", "queue", FLOW), ("__IVR_LANG", "fr", FLOW)]
    varsets.append(("__IVR_INTERPRETER", "1", FLOW))
    call = calls_of(replay(P2, events=with_varsets(stream(P2), uid, "QueueCallerJoin", varsets)))[
        uid
    ]
    assert call.language == "interpreter"


def test_the_fallback_makes_the_flows_variables_unknown() -> None:
    """The flow set a route, then broke: the dialplan's fallback ran (its own VarSets)."""
    uid = "p2a-574-caller"
    varsets = [
        ("IVR_ROUTE", "research", FLOW),
        ("__IVR_LANG", "en", FLOW),
        ("NOW", "1796400683", "ivr211-fallback"),
        ("__IVR_LANG", "fr", "ivr211-queue"),
    ]
    call = calls_of(replay(P2, events=with_varsets(stream(P2), uid, "QueueCallerJoin", varsets)))[
        uid
    ]
    assert (call.route, call.language, call.path) == ("fallback", None, None)
    assert call.queue_outcome is QueueOutcome.ANSWERED


def test_a_caller_who_hung_up_in_the_menu_leaves_the_language_to_the_flow() -> None:
    uid = "p4b-574-caller"
    varsets = [("IVR_ROUTE", "hangup", FLOW), ("__IVR_LANG", "fr", FLOW)]
    call = calls_of(replay(P4, events=with_varsets(stream(P4), uid, "Newstate", varsets)))[uid]
    assert (call.route, call.language) == ("hangup", None)
