"""The live tracker against the recorded queue streams (``2f``, ``2f2``), event by event.

Messages with an ``ActionID`` are replies to the lab driver's actions: the link hands
them to the action, never to the subscribers, so the stream replay leaves them out and
the resync tests feed them to :meth:`LiveTracker.finish_resync` as the listener does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from listener.live import CurrentCall, LiveSnapshot, LiveTracker, MemberPresence, WaitingCaller
from listener.transcripts import messages, read_raw

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
BASE = datetime(2026, 11, 28, 15, 10, 42, tzinfo=UTC)
Q2F = "2f-queue"
Q2F2 = "2f2-queue-then-warm-transfer"


def recorded(scenario: str) -> list[tuple[datetime, dict[str, str]]]:
    return [
        (BASE + timedelta(seconds=t), message)
        for t, message in messages(read_raw(FIXTURES / "raw" / f"{scenario}.raw"))
    ]


def events(scenario: str) -> list[tuple[datetime, dict[str, str]]]:
    return [(at, m) for at, m in recorded(scenario) if "Event" in m and "ActionID" not in m]


def replies(scenario: str, action_id: str) -> list[dict[str, str]]:
    return [m for _, m in recorded(scenario) if m.get("ActionID") == action_id]


def index_of(stream: list[tuple[datetime, dict[str, str]]], event: str, **fields: str) -> int:
    return next(
        i
        for i, (_, m) in enumerate(stream)
        if m.get("Event") == event and all(m.get(k) == v for k, v in fields.items())
    )


def feed_until(
    tracker: LiveTracker, stream: list[tuple[datetime, dict[str, str]]], stop: int
) -> LiveSnapshot:
    """Feed ``stream[:stop + 1]`` and return the snapshot."""
    for at, message in stream[: stop + 1]:
        tracker.feed(message, at)
    return tracker.snapshot()


def at_of(stream: list[tuple[datetime, dict[str, str]]], index: int) -> datetime:
    return stream[index][0]


NAV = "Local/nav@queue-agents/n"
SLEEPY = "Local/noanswer@queue-agents/n"
NAV2 = "Local/nav2@queue-agents/n"
XFER = "Local/nav-dtmf-atxfer@navigators/n"


def test_2f_call_a_waits_then_is_answered_then_ends() -> None:
    stream = events(Q2F)
    tracker = LiveTracker()
    join = index_of(stream, "QueueCallerJoin", Uniqueid="fA-78443-caller")
    snap = feed_until(tracker, stream, join)
    assert snap.members == ()
    assert snap.callers == (
        WaitingCaller(
            uniqueid="fA-78443-caller",
            linkedid="fA-78443-caller",
            channel="Local/caller20@lab-phones-0000003f;1",
            queue="navigators",
            position=1,
            joined_at=at_of(stream, join),
            language=None,
            path=None,
        ),
    )
    assert snap.synced is False

    ringing = index_of(stream, "QueueMemberStatus", Interface=NAV)
    snap = feed_until(tracker, stream, ringing)
    assert snap.members == (
        MemberPresence(
            interface=NAV,
            name="Navigator One",
            queues=("navigators",),
            paused=False,
            pause_reason="",
            on_call=False,
            call=None,
            since=at_of(stream, ringing),
        ),
    )

    leave = index_of(stream, "QueueCallerLeave", Uniqueid="fA-78443-caller")
    snap = feed_until(tracker, stream, leave)
    assert snap.callers == ()
    assert snap.members[0].on_call is False

    connect = index_of(stream, "AgentConnect", Uniqueid="fA-78443-caller")
    snap = feed_until(tracker, stream, connect)
    (member,) = snap.members
    assert member.on_call is True
    assert member.since == at_of(stream, connect)
    assert member.call == CurrentCall(
        navigator_channel="Local/nav@queue-agents-00000040;1",
        caller_channel="Local/caller20@lab-phones-0000003f;1",
        caller_uniqueid="fA-78443-caller",
        linkedid="fA-78443-caller",
        caller_number="5145550123",
        language=None,
        path=None,
        interpreter=False,
        queue="navigators",
        waited_s=2.0,  # AgentConnect HoldTime: 2
        connected_at=at_of(stream, connect),
        consulting=False,
    )

    complete = index_of(stream, "AgentComplete", Uniqueid="fA-78443-caller")
    snap = feed_until(tracker, stream, complete)
    (member,) = snap.members
    assert (member.on_call, member.call, member.since) == (False, None, at_of(stream, complete))


@pytest.mark.parametrize("presented", ["anonymous", "Restricted", "<unknown>", "s"])
def test_a_withheld_caller_number_is_not_shown_as_a_number(presented: str) -> None:
    """2f's call A with only the caller's ``CallerIDNum`` changed to a withheld form (a
    SIP trunk sends ``anonymous``; no recording of the queue has one): the console
    shows no number rather than the word (``ivr.callerid``, the flow's rule too)."""
    stream = [
        (at, {**m, "CallerIDNum": presented} if m.get("CallerIDNum") == "5145550123" else m)
        for at, m in events(Q2F)
    ]
    tracker = LiveTracker()
    connect = index_of(stream, "AgentConnect", Uniqueid="fA-78443-caller")
    assert stream[connect][1]["CallerIDNum"] == presented
    (member,) = feed_until(tracker, stream, connect).members
    assert member.call is not None
    assert member.call.linkedid == "fA-78443-caller"
    assert member.call.caller_number is None


def test_2f_call_b_abandons_and_the_dynamic_member_logs_in_pauses_and_out() -> None:
    stream = events(Q2F)
    tracker = LiveTracker()
    join = index_of(stream, "QueueCallerJoin", Uniqueid="fB-78443-caller")
    snap = feed_until(tracker, stream, join)
    assert [(c.uniqueid, c.queue, c.position) for c in snap.callers] == [
        ("fB-78443-caller", "navigators-noanswer", 1)
    ]
    abandon = index_of(stream, "QueueCallerAbandon", Uniqueid="fB-78443-caller")
    snap = feed_until(tracker, stream, abandon - 1)
    assert len(snap.callers) == 1
    assert [m.on_call for m in snap.members] == [False, False]  # rang, never answered
    snap = feed_until(tracker, stream, abandon)
    assert snap.callers == ()

    added = index_of(stream, "QueueMemberAdded", Interface=NAV2)
    snap = feed_until(tracker, stream, added)
    nav2 = snap.member(NAV2)
    assert nav2 is not None
    assert (nav2.name, nav2.queues, nav2.paused, nav2.on_call) == (
        "Navigator Two",
        ("navigators",),
        False,
        False,
    )
    paused = index_of(stream, "QueueMemberPause", Interface=NAV2)
    snap = feed_until(tracker, stream, paused)
    nav2 = snap.member(NAV2)
    assert nav2 is not None
    assert (nav2.paused, nav2.pause_reason, nav2.since) == (True, "break", at_of(stream, paused))

    snap = feed_until(tracker, stream, len(stream) - 1)
    assert snap.member(NAV2) is None
    assert [m.interface for m in snap.members] == [NAV, SLEEPY]
    assert all(not m.on_call and not m.paused for m in snap.members)
    assert snap.callers == ()


def test_2f2_warm_transfer_shows_the_consultation_then_the_call_ends() -> None:
    stream = events(Q2F2)
    tracker = LiveTracker()
    connect = index_of(stream, "AgentConnect")
    snap = feed_until(tracker, stream, connect)
    (member,) = snap.members
    assert member.interface == XFER
    assert member.call is not None
    assert (member.call.caller_number, member.call.linkedid, member.call.waited_s) == (
        "5145550123",
        "f2-78443-caller",
        0.0,
    )
    assert member.call.consulting is False

    nav_leg = "Local/nav-dtmf-atxfer@navigators-00000046;1"
    consult = index_of(
        stream,
        "BridgeEnter",
        Channel=nav_leg,
        BridgeUniqueid="96bb74d8-9028-49d4-b09e-cc5468c418ff",
    )
    assert feed_until(tracker, stream, consult - 1).members[0].call.consulting is False  # type: ignore[union-attr]
    snap = feed_until(tracker, stream, consult)
    assert snap.members[0].call is not None
    assert snap.members[0].call.consulting is True
    assert snap.members[0].on_call is True

    complete = index_of(stream, "AgentComplete", Reason="transfer")
    snap = feed_until(tracker, stream, complete)
    assert (snap.members[0].on_call, snap.members[0].call) == (False, None)
    snap = feed_until(tracker, stream, len(stream) - 1)
    assert [(m.interface, m.on_call) for m in snap.members] == [(XFER, False)]
    assert snap.callers == ()


def test_waited_time_from_join_to_connect_when_holdtime_is_missing() -> None:
    stream = events(Q2F)
    connect = index_of(stream, "AgentConnect", Uniqueid="fA-78443-caller")
    join = index_of(stream, "QueueCallerJoin", Uniqueid="fA-78443-caller")
    without = [
        (at, {k: v for k, v in m.items() if k != "HoldTime"} if i == connect else m)
        for i, (at, m) in enumerate(stream)
    ]
    snap = feed_until(LiveTracker(), without, connect)
    call = snap.members[0].call
    assert call is not None
    expected = (at_of(stream, connect) - at_of(stream, join)).total_seconds()
    assert call.waited_s == pytest.approx(expected, abs=0.001)
    assert 1.9 < expected < 2.1  # the member rang 2 s


def _with_ivr_variables(scenario: str, uniqueid: str) -> list[tuple[datetime, dict[str, str]]]:
    """The stream with our flow's variables on the caller channel, as copies of a recorded
    VarSet of that channel (``__TRANSFER_CONTEXT`` in 2f; the lab's calls run no flow)."""
    stream = events(scenario)
    index = index_of(stream, "VarSet", Uniqueid=uniqueid, Variable="__TRANSFER_CONTEXT")
    at, template = stream[index]
    added = [
        (at, {**template, "Variable": name, "Value": value})
        for name, value in (
            ("__IVR_LANG", "fr"),
            ("__IVR_PATH", "main>navigator"),
            ("__IVR_INTERPRETER", "1"),
        )
    ]
    return stream[: index + 1] + added + stream[index + 1 :]


def test_language_and_path_of_the_caller_reach_the_queue_and_the_call() -> None:
    stream = _with_ivr_variables(Q2F, "fA-78443-caller")
    tracker = LiveTracker()
    snap = feed_until(tracker, stream, index_of(stream, "QueueCallerJoin"))
    assert [(c.language, c.path) for c in snap.callers] == [("fr", "main>navigator")]
    snap = feed_until(tracker, stream, index_of(stream, "AgentConnect"))
    call = snap.members[0].call
    assert call is not None
    assert (call.language, call.path, call.interpreter) == ("fr", "main>navigator", True)
    plain = feed_until(LiveTracker(), events(Q2F), index_of(events(Q2F), "AgentConnect"))
    assert plain.members[0].call is not None
    assert plain.members[0].call.language is None


def test_positions_move_up_when_a_caller_ahead_leaves() -> None:
    """Two callers of the recordings in one queue: the first leaving moves the second up
    (Asterisk does the same and sends nothing about it)."""
    a = events(Q2F)
    join_a = a[index_of(a, "QueueCallerJoin", Uniqueid="fA-78443-caller")]
    leave_a = a[index_of(a, "QueueCallerLeave", Uniqueid="fA-78443-caller")]
    b = events(Q2F2)
    join_b = b[index_of(b, "QueueCallerJoin")]
    join_b = (join_b[0], {**join_b[1], "Queue": "navigators", "Position": "2", "Count": "2"})
    tracker = LiveTracker()
    for at, message in (join_a, join_b):
        tracker.feed(message, at)
    assert [(c.uniqueid, c.position) for c in tracker.snapshot().callers] == [
        ("fA-78443-caller", 1),
        ("f2-78443-caller", 2),
    ]
    tracker.feed(leave_a[1], leave_a[0])
    assert [(c.uniqueid, c.position) for c in tracker.snapshot().callers] == [
        ("f2-78443-caller", 1)
    ]


def test_version_moves_only_on_change() -> None:
    stream = events(Q2F)
    tracker = LiveTracker()
    versions = []
    for at, message in stream:
        before = tracker.version
        changed = tracker.feed(message, at)
        assert changed == (tracker.version != before)
        versions.append(tracker.version)
    assert versions[-1] > 0
    newexten = next(m for _, m in stream if m["Event"] == "Newexten")
    assert tracker.feed(newexten, BASE) is False


# ---- resync after a reconnect -----------------------------------------------------------


def test_resync_from_the_recorded_queuestatus_reply() -> None:
    tracker = LiveTracker()
    reply = replies(Q2F, "ami-128")
    assert [m.get("Event") for m in reply[1:]] == [
        "QueueParams",
        "QueueMember",
        "QueueMember",
        "QueueStatusComplete",
    ]
    at = BASE + timedelta(seconds=20)
    tracker.begin_resync()
    tracker.finish_resync(reply, at)
    snap = tracker.snapshot()
    assert snap.synced is True
    assert snap.changed_at == at
    assert snap.members == (  # sorted by interface: "nav2@" before "nav@"
        MemberPresence(NAV2, "Navigator Two", ("navigators",), True, "break", False, None, at),
        MemberPresence(NAV, "Navigator One", ("navigators",), False, "", False, None, at),
    )
    assert snap.callers == ()


def test_reset_forgets_everything_and_resync_rebuilds_it() -> None:
    stream = events(Q2F)
    tracker = LiveTracker()
    feed_until(tracker, stream, index_of(stream, "AgentConnect"))
    assert tracker.snapshot().members[0].on_call
    version = tracker.version
    tracker.reset()
    assert tracker.version > version
    assert tracker.snapshot().members == ()
    assert tracker.snapshot().callers == ()
    assert tracker.snapshot().synced is False


def test_events_during_the_resync_are_applied_on_top_of_the_reply() -> None:
    """The QueueStatus reply (taken with Navigator Two paused) arrives; meanwhile the
    stream said QueueMemberRemoved: the member must stay removed."""
    stream = events(Q2F)
    removed = stream[index_of(stream, "QueueMemberRemoved", Interface=NAV2)]
    tracker = LiveTracker()
    tracker.begin_resync()
    tracker.feed(removed[1], removed[0])
    tracker.finish_resync(replies(Q2F, "ami-128"), removed[0])
    assert [m.interface for m in tracker.snapshot().members] == [NAV]


def test_resync_mid_call_finds_the_caller_from_status() -> None:
    """Restarted during a call: ``Status`` (``2g``) shows the navigator's leg and the
    caller in one bridge. The member is the recorded QueueMember of 2f with the
    interface of 2g's navigator (the lab recorded no QueueStatus during a call)."""
    member = next(m for m in replies(Q2F, "ami-128") if m.get("Name") == "Navigator One")
    member = {**member, "Location": "Local/nav-manual@navigators/n", "Status": "2"}
    status_id = next(
        m["ActionID"]
        for _, m in recorded("2g-ami-actions")
        if m.get("Event") == "Status" and m.get("Channel", "").startswith("Local/nav-manual")
    )
    status = replies("2g-ami-actions", status_id)
    at = BASE + timedelta(minutes=1)
    tracker = LiveTracker()
    tracker.begin_resync()
    tracker.finish_resync([member, *status], at)
    (presence,) = tracker.snapshot().members
    assert presence.on_call is True
    assert presence.call == CurrentCall(
        navigator_channel="Local/nav-manual@navigators-0000004f;1",
        caller_channel="Local/caller@lab-phones-0000004e;1",
        caller_uniqueid="g-78443-caller",
        linkedid="g-78443-caller",
        caller_number="5145550123",
        language=None,
        path=None,
        interpreter=False,
        queue=None,
        waited_s=None,
        connected_at=None,
    )


def test_resync_busy_member_without_a_visible_call_is_on_call_until_it_frees() -> None:
    member = next(m for m in replies(Q2F, "ami-128") if m.get("Name") == "Navigator One")
    tracker = LiveTracker()
    tracker.begin_resync()
    tracker.finish_resync([{**member, "Status": "2"}], BASE)
    (presence,) = tracker.snapshot().members
    assert (presence.on_call, presence.call) == (True, None)
    stream = events(Q2F)
    free = stream[index_of(stream, "QueueMemberStatus", Interface=NAV, Status="1")]
    assert tracker.feed(free[1], free[0]) is True
    assert tracker.snapshot().members[0].on_call is False


def test_garbage_is_ignored() -> None:
    tracker = LiveTracker()
    for event in (
        {"Event": "AgentConnect"},
        {"Event": "QueueCallerJoin", "Uniqueid": "x" * 600, "Queue": "q", "Channel": "c"},
        {"Event": "QueueMemberAdded", "Queue": "q"},
        {"Event": "VarSet", "Variable": "IVR_LANG"},
    ):
        assert tracker.feed(event, BASE) is False
    assert tracker.snapshot() == LiveSnapshot(0, False, None, (), ())
