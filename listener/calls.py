"""Call records and navigator activity from the AMI event stream: a pure state machine.

No I/O, no clock: times come from the event's ``Timestamp`` header (``timestampevents =
yes``), else from ``received_at``, like :mod:`listener.interpreter` and
:mod:`listener.live`. ``feed`` takes one event and returns what it concludes: the
:class:`~store.calls.CallFact` s of the callers' calls and the closed
:class:`~store.calls.ActivityFact` intervals of the queue members. A call's fact is given
again each time more of it is known (queue outcome, talk time, hang-up); the store merges
them (first known value wins), so each one carries only what is certain.

What Asterisk 22 sends (recorded in the lab, ``transcripts/2f``, ``2f2``, ``2j``, ``2m``,
``2o``, ``2p1``-``2p4``):

* A call is followed from the ``Newchannel`` of the caller's channel, the one whose
  ``Uniqueid`` is the call's ``Linkedid``; its arrival is that event's time. A call
  this listener did not see begin (started before it, or before a reconnect) is left to
  the reconciliation from CEL and queue_log: only its start says which queue stint is
  the first and which ``IVR_ROUTE`` the flow's first decision.
* The flow's decisions are ``VarSet`` on the caller's channel (``2m``; inherited ones as
  ``__IVR_LANG``): ``IVR_ROUTE``, ``IVR_LANG``, ``IVR_PATH``, ``IVR_INTERPRETER``,
  ``IVR_DEST``, ``IVR_QUEUE``, ``IVR_LINE_STATE``, ``IVR_CLOSES_AT``
  (:mod:`ivr.dialplan`). The first non-empty value of each is the decision; an
  ``IVR_ROUTE`` set after the caller left the queue is what the queue-exit menu did.
  A ``VarSet`` in the fallback context (``[ivr211-fallback]``, the FastAGI server did not
  answer) makes the route ``fallback`` and the flow's variables unknown.
* ``QueueCallerJoin`` (``Queue``, ``Position`` at entry) starts the wait.
  ``AgentConnect`` (``HoldTime`` the wait, ``RingTime``, ``Interface``, ``MemberName``)
  answers it, after ``QueueCallerLeave``; ``AgentComplete`` (``TalkTime``, ``Reason``:
  agent / caller / transfer) ends the conversation.
* ``QueueCallerAbandon`` (``HoldTime``) is NOT an abandon: Asterisk sends it, then
  ``QueueCallerLeave``, also when the caller leaves on the Queue() timeout (``2p3``) and
  on LEAVEEMPTY (``2p4``). Queue() then sets ``QUEUESTATUS`` on the caller's channel
  (``VarSet``: ``TIMEOUT``, ``LEAVEEMPTY``...) and the dialplan goes on; a caller who hung
  up gets no ``QUEUESTATUS``: their channel's ``Hangup`` comes instead (``2p1``). So the
  outcome is concluded on that ``VarSet`` or that ``Hangup``. ``JOINEMPTY`` sends no
  queue event at all, only the ``VarSet`` (``2p4``); ``FULL`` (at ``maxlen``, not
  recorded) is refused before joining as well and is read the same way. A ``TIMEOUT``
  at the closing time the flow gave (``IVR_CLOSES_AT``: the dialplan cuts the wait
  there) is ``closing``.
* A caller who hung up in the menus (``IVR_ROUTE=hangup``) gets no language from here:
  ``IVR_LANG`` then holds the flow's default, and only the flow knows if one was chosen.
* Only the caller's first time in a queue counts (``store.calls``): a later
  ``QueueCallerJoin`` of the same call (after a transfer back, or the queue-exit menu)
  changes nothing.

Navigator activity, per queue member interface:

* ``QueueMemberAdded`` / ``Status`` / ``Pause`` / ``Removed`` carry the member's whole
  state for one queue (``Paused``, ``PausedReason``, ``LoginTime``, ``LastPause``,
  ``Wrapuptime``; ``2j``). A member is logged in from ``LoginTime`` until removed from
  its last queue, and paused while paused in every queue it is in (it can take no call);
  a new reason while paused starts a new interval (``PAUSE lunch`` then ``PAUSE still
  lunch`` in ``2j``). ``QueueMemberPause`` is sent again on an unpause with no change:
  nothing happens then.
* Ringing runs from ``AgentCalled`` to ``AgentRingNoAnswer``, ``AgentConnect`` or the
  member leg's ``Hangup`` (the caller left); on a call from ``AgentConnect`` to
  ``AgentComplete``.
* After-call work has no event (and ``InCall`` stays 0 for Local members, ``2f2``): it
  is the ``wrapup_s`` after ``AgentComplete``. Asterisk reports a member's own
  ``Wrapuptime`` in the member events (``0``: the queue's applies); the queue's
  ``wrapuptime`` is in no event nor in ``QueueStatus`` (``QueueParams`` has none), so it
  comes from the configuration (``asterisk_conf/queues.conf``, :data:`DEFAULT_WRAPUP_S`).

After a reconnect nothing seen before is trusted (:meth:`CallFollower.reset`): the calls
and intervals in progress are forgotten, never concluded; the reconciliation from CEL
and queue_log fills what the stream missed. Memory is bounded: at most
``max_channels`` calls, members and member legs are followed; past that the oldest is
dropped (counted in ``stats``), never concluded.

One module on purpose, like :mod:`listener.live`: one
state machine, a table of handlers (one per event type) over private state; cut in two,
either half would reach into the other's state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

from ivr.callerid import caller_number
from ivr.channels import event_text, event_time
from ivr.dialplan import (
    VAR_CLOSES_AT,
    VAR_DEST,
    VAR_INTERPRETER,
    VAR_LANG,
    VAR_LINE_STATE,
    VAR_PATH,
    VAR_QUEUE,
    VAR_ROUTE,
)
from listener.headers import header_count, header_epoch, header_seconds
from store.calls import (
    LANGUAGES,
    LINE_STATES,
    ROUTES,
    ActivityFact,
    CallFact,
    CallSource,
    QueueOutcome,
)

__all__ = ["DEFAULT_WRAPUP_S", "FALLBACK_CONTEXT", "CallFollower", "Fact"]

log = logging.getLogger(__name__)

#: ``wrapuptime`` of the navigators' queue in ``asterisk_conf/queues.conf``.
DEFAULT_WRAPUP_S: Final = 10.0
#: The dialplan context that runs when the FastAGI server did not answer.
FALLBACK_CONTEXT: Final = "ivr211-fallback"
_MAX_CHANNELS: Final = 4096
_FLOW_VARS: Final = frozenset(
    {VAR_ROUTE, VAR_LANG, VAR_PATH, VAR_INTERPRETER, VAR_DEST, VAR_QUEUE, VAR_LINE_STATE}
    | {VAR_CLOSES_AT}
)
_QUEUESTATUS: Final = {
    "TIMEOUT": QueueOutcome.TIMEOUT,
    "FULL": QueueOutcome.FULL,
    "JOINEMPTY": QueueOutcome.JOINEMPTY,
    "JOINUNAVAIL": QueueOutcome.JOINEMPTY,
    "LEAVEEMPTY": QueueOutcome.LEAVEEMPTY,
    "LEAVEUNAVAIL": QueueOutcome.LEAVEEMPTY,
}
_REFUSED: Final = frozenset({QueueOutcome.FULL, QueueOutcome.JOINEMPTY})
_PATH_MAX: Final = 200
_TEXT_MAX: Final = 40

Fact = CallFact | ActivityFact
_Handler = Callable[[Mapping[str, str], datetime], list[Fact]]
_K = TypeVar("_K")
_V = TypeVar("_V")


# ---- internal state -------------------------------------------------------------------


@dataclass
class _Stint:
    """The caller's first time in a queue."""

    queue: str
    joined_at: datetime
    position: int | None
    left_at: datetime | None = None
    abandon_hold_s: float | None = None  # QueueCallerAbandon HoldTime: left without a navigator
    outcome: QueueOutcome | None = None
    wait_s: float | None = None
    ring_s: float | None = None
    interface: str | None = None
    member: str | None = None
    talk_s: float | None = None
    completed_by: str | None = None


@dataclass
class _Call:
    linkedid: str
    at: datetime
    number: str | None
    flow: dict[str, str] = field(default_factory=dict)  # first non-empty IVR_* values
    fallback: bool = False
    stint: _Stint | None = None
    refused: QueueOutcome | None = None  # FULL / JOINEMPTY: never joined
    exit_route: str | None = None
    ended_at: datetime | None = None

    @property
    def concluded(self) -> bool:
        """The first time in a queue is over (or the queue refused the caller)."""
        return self.refused is not None or (
            self.stint is not None and self.stint.outcome is not None
        )

    @property
    def is_callers(self) -> bool:
        """The flow, the fallback or a queue saw it: a caller's call, not another channel."""
        return (
            bool(self.flow) or self.fallback or self.stint is not None or self.refused is not None
        )


@dataclass
class _Presence:
    interface: str
    login_at: datetime
    queues: dict[str, tuple[bool, str]] = field(default_factory=dict)  # queue -> paused, reason
    paused_since: datetime | None = None
    reason: str = ""
    wrapup_s: float | None = None  # the member's own Wrapuptime, when Asterisk gives one


@dataclass
class _Leg:
    """A member's leg of a queued call: ringing, then on the call."""

    interface: str
    linkedid: str | None
    since: datetime
    connected: bool = False


# ---- bookkeeping ----------------------------------------------------------------------


def _bounded_put(table: dict[_K, _V], key: _K, value: _V, limit: int) -> int:
    """Insert, dropping the oldest entries past ``limit``; return how many were dropped."""
    dropped = 0
    while key not in table and len(table) >= limit:
        del table[next(iter(table))]
        dropped += 1
    table[key] = value
    return dropped


# ---- the follower ---------------------------------------------------------------------


class CallFollower:
    """Feed every AMI event (:meth:`feed`); :meth:`reset` when the link drops."""

    def __init__(
        self,
        *,
        wrapup_s: float = DEFAULT_WRAPUP_S,
        fallback_context: str = FALLBACK_CONTEXT,
        max_channels: int = _MAX_CHANNELS,
    ) -> None:
        if wrapup_s < 0 or max_channels < 1:
            raise ValueError("need wrapup_s >= 0 and max_channels >= 1")
        self.wrapup_s = wrapup_s
        self.fallback_context = fallback_context
        self.max_channels = max_channels
        self._calls: dict[str, _Call] = {}  # caller uniqueid (= linkedid) -> call
        self._members: dict[str, _Presence] = {}  # member interface -> presence
        self._legs: dict[str, _Leg] = {}  # member leg uniqueid (DestUniqueid) -> leg
        self.stats: dict[str, int] = {}
        self._handlers: dict[str, _Handler] = {
            "Newchannel": self._on_newchannel,
            "VarSet": self._on_varset,
            "QueueCallerJoin": self._on_join,
            "QueueCallerAbandon": self._on_abandon,
            "QueueCallerLeave": self._on_leave,
            "AgentCalled": self._on_agent_called,
            "AgentRingNoAnswer": self._on_ring_no_answer,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "Hangup": self._on_hangup,
            "QueueMemberAdded": self._on_member,
            "QueueMemberStatus": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberRemoved": self._on_member_removed,
        }

    # ---- public ------------------------------------------------------------------

    def feed(self, event: Mapping[str, str], received_at: datetime) -> list[Fact]:
        """Apply one event; return the facts it concludes."""
        name = event.get("Event")
        handler = self._handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            return []
        at = event_time(event, received_at)
        try:
            return handler(event, at)
        except Exception:  # a malformed event must not stop the stream
            log.exception("calls: cannot apply %s", name)
            self._count("bad")
            return []

    def reset(self) -> None:
        """The link dropped: forget what was in progress, conclude nothing of it."""
        self._count("reset_calls", len(self._calls))
        self._calls.clear()
        self._members.clear()
        self._legs.clear()

    @property
    def following(self) -> int:
        """Calls, members and member legs held now (bounded by ``max_channels`` each)."""
        return len(self._calls) + len(self._members) + len(self._legs)

    def _count(self, name: str, by: int = 1) -> None:
        if by:
            self.stats[name] = self.stats.get(name, 0) + by

    # ---- the caller's call -----------------------------------------------------------

    def _caller(self, event: Mapping[str, str]) -> _Call | None:
        uid = event_text(event, "Uniqueid")
        return None if uid is None else self._calls.get(uid)

    def _on_newchannel(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        uid, linkedid = event_text(event, "Uniqueid"), event_text(event, "Linkedid")
        if uid is None or uid != linkedid or uid in self._calls:
            return []
        call = _Call(uid, at, caller_number(event_text(event, "CallerIDNum")))
        self._count("dropped_calls", _bounded_put(self._calls, uid, call, self.max_channels))
        return []

    def _on_varset(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        call = self._caller(event)
        if call is None:
            return []
        self._note_number(call, event)
        if event_text(event, "Context") == self.fallback_context:
            call.fallback = True
        name = (event_text(event, "Variable") or "").lstrip("_")
        value = (event.get("Value") or "").strip()
        if name == "QUEUESTATUS":
            return self._on_queuestatus(call, value, at)
        if name not in _FLOW_VARS or not value:
            return []
        if name == VAR_ROUTE and call.concluded:
            if call.exit_route is None:
                call.exit_route = value[:_TEXT_MAX]
            return []
        if call.stint is None and not call.concluded:
            call.flow.setdefault(name, value)
        return []

    def _on_queuestatus(self, call: _Call, value: str, at: datetime) -> list[Fact]:
        outcome = _QUEUESTATUS.get(value)
        if outcome is None or call.concluded:
            return []
        stint = call.stint
        if stint is None:
            if outcome not in _REFUSED:
                return []
            call.refused = outcome
            return [self._fact(call)]
        stint.left_at = stint.left_at or at
        if outcome is QueueOutcome.TIMEOUT and self._at_closing(call, stint.left_at):
            outcome = QueueOutcome.CLOSING
        stint.outcome = outcome
        stint.wait_s = stint.abandon_hold_s
        return [self._fact(call)]

    @staticmethod
    def _at_closing(call: _Call, left_at: datetime) -> bool:
        raw = call.flow.get(VAR_CLOSES_AT, "")
        if call.fallback or not raw.isdigit() or len(raw) > 12:
            return False
        # [ivr211-queue] gives Queue() the seconds left, IVR_CLOSES_AT - ${EPOCH}, when
        # fewer than QUEUE_MAX_WAIT (or QUEUE_MIN_WAIT, longer): app_queue counts them from
        # its start in whole seconds, so a wait cut to closing ends at IVR_CLOSES_AT or
        # later, and a wait of QUEUE_MAX_WAIT before it (but when the two are equal).
        return left_at >= datetime.fromtimestamp(int(raw), UTC)

    def _note_number(self, call: _Call, event: Mapping[str, str]) -> None:
        if call.number is None:
            call.number = caller_number(event_text(event, "CallerIDNum"))

    def _on_join(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        call, queue = self._caller(event), event_text(event, "Queue")
        if call is None or queue is None or call.stint is not None or call.concluded:
            return []
        self._note_number(call, event)
        call.stint = _Stint(queue, at, header_count(event, "Position"))
        return []

    def _open_stint(self, event: Mapping[str, str]) -> tuple[_Call, _Stint] | None:
        call = self._caller(event)
        if call is None or call.stint is None or call.stint.outcome is not None:
            return None
        if event_text(event, "Queue") != call.stint.queue:
            return None
        return call, call.stint

    def _on_abandon(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        found = self._open_stint(event)
        if found is not None:
            _, stint = found
            stint.abandon_hold_s = header_seconds(event, "HoldTime")
            stint.left_at = stint.left_at or at
        return []

    def _on_leave(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        found = self._open_stint(event)
        if found is not None:
            found[1].left_at = found[1].left_at or at
        return []

    def _on_agent_connect(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        facts: list[Fact] = []
        leg_uid = event_text(event, "DestUniqueid")
        interface = event_text(event, "Interface")
        leg = self._legs.get(leg_uid) if leg_uid else None
        if leg is not None and not leg.connected:
            facts.extend(self._interval(leg.interface, "ringing", leg.since, at, leg.linkedid))
        if leg_uid is not None and interface is not None:
            new = _Leg(interface, event_text(event, "Linkedid"), at, connected=True)
            self._count("dropped_legs", _bounded_put(self._legs, leg_uid, new, self.max_channels))
        found = self._open_stint(event)
        if found is not None:
            call, stint = found
            stint.outcome = QueueOutcome.ANSWERED
            stint.left_at = stint.left_at or at
            stint.wait_s = header_seconds(event, "HoldTime")
            stint.ring_s = header_seconds(event, "RingTime")
            stint.interface = interface
            stint.member = event_text(event, "MemberName")
            facts.append(self._fact(call))
        return facts

    def _on_agent_complete(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        facts: list[Fact] = []
        interface = event_text(event, "Interface")
        leg_uid = event_text(event, "DestUniqueid")
        leg = self._legs.pop(leg_uid, None) if leg_uid else None
        if leg is not None and leg.connected:
            facts.extend(self._interval(leg.interface, "on_call", leg.since, at, leg.linkedid))
        if interface is not None:
            member = self._members.get(interface)
            wrapup = member.wrapup_s if member is not None and member.wrapup_s else self.wrapup_s
            if wrapup > 0:
                facts.extend(
                    self._interval(
                        interface,
                        "after_call_work",
                        at,
                        at + timedelta(seconds=wrapup),
                        event_text(event, "Linkedid"),
                    )
                )
        call = self._caller(event)
        stint = call.stint if call is not None else None
        if (
            call is not None
            and stint is not None
            and stint.outcome is QueueOutcome.ANSWERED
            and stint.talk_s is None
            and event_text(event, "DestUniqueid") is not None
            and interface == stint.interface
        ):
            stint.talk_s = header_seconds(event, "TalkTime")
            stint.completed_by = (event_text(event, "Reason") or "")[:16] or None
            facts.append(self._fact(call))
        return facts

    def _on_hangup(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        uid = event_text(event, "Uniqueid")
        if uid is None:
            return []
        facts: list[Fact] = []
        leg = self._legs.get(uid)
        if leg is not None and not leg.connected:
            # the caller left (or the ring was cut) while this member's phone rang; a leg
            # on a call is kept for its AgentComplete, which may come after its Hangup
            del self._legs[uid]
            facts.extend(self._interval(leg.interface, "ringing", leg.since, at, leg.linkedid))
        call = self._calls.pop(uid, None)
        if call is None:
            return facts
        call.ended_at = at
        stint = call.stint
        if stint is not None and stint.outcome is None and stint.abandon_hold_s is not None:
            # QueueCallerAbandon, then the caller's hang-up without a QUEUESTATUS: Queue()
            # never returned, the caller hung up waiting.
            stint.outcome = QueueOutcome.ABANDONED
            stint.wait_s = stint.abandon_hold_s
        if call.is_callers:
            facts.append(self._fact(call))
        return facts

    def _fact(self, call: _Call) -> CallFact:
        flow = {} if call.fallback else call.flow
        route = "fallback" if call.fallback else flow.get(VAR_ROUTE)
        if route not in ROUTES:
            route = None
        language: str | None = None
        if route == "hangup":
            pass  # IVR_LANG holds the default then: only the flow knows if one was chosen
        elif flow.get(VAR_INTERPRETER) == "1":
            language = "interpreter"
        elif flow.get(VAR_LANG) in LANGUAGES:
            language = flow[VAR_LANG]
        line_state = flow.get(VAR_LINE_STATE)
        stint = call.stint or _Stint("", call.at, None)
        joined = call.stint is not None
        queue = stint.queue if joined else None
        if call.refused is not None:
            queue = flow.get(VAR_QUEUE)
        path = flow.get(VAR_PATH)
        return CallFact(
            linkedid=call.linkedid,
            at=call.at,
            source=CallSource.AMI,
            caller_uniqueid=call.linkedid,
            caller_number=call.number,
            ended_at=call.ended_at,
            line_state=line_state if line_state in LINE_STATES else None,
            language=language,
            path=None if path is None else path[:_PATH_MAX],
            route=route,
            route_destination=(flow.get(VAR_DEST) or "")[:_TEXT_MAX] or None
            if route == "transfer"
            else None,
            queue=None if queue is None else queue[:80],
            queue_joined_at=stint.joined_at if joined else None,
            queue_position=stint.position,
            queue_outcome=call.refused or stint.outcome,
            queue_left_at=stint.left_at,
            wait_s=stint.wait_s,
            ring_s=stint.ring_s,
            answered_interface=stint.interface,
            answered_name=stint.member,
            talk_s=stint.talk_s,
            completed_by=stint.completed_by,
            exit_route=call.exit_route,
        )

    # ---- member legs ---------------------------------------------------------------

    def _on_agent_called(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        leg_uid, interface = event_text(event, "DestUniqueid"), event_text(event, "Interface")
        if leg_uid is None or interface is None or leg_uid in self._legs:
            return []
        leg = _Leg(interface, event_text(event, "Linkedid"), at)
        self._count("dropped_legs", _bounded_put(self._legs, leg_uid, leg, self.max_channels))
        return []

    def _on_ring_no_answer(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        leg_uid = event_text(event, "DestUniqueid")
        leg = self._legs.get(leg_uid) if leg_uid else None
        if leg is None or leg.connected or leg_uid is None:
            return []
        del self._legs[leg_uid]
        return self._interval(leg.interface, "ringing", leg.since, at, leg.linkedid)

    # ---- members -------------------------------------------------------------------

    def _on_member(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        interface, queue = event_text(event, "Interface"), event_text(event, "Queue")
        if interface is None or queue is None:
            return []
        member = self._members.get(interface)
        first_seen = member is None
        if member is None:
            # Asterisk's own login time (whole seconds), the same whoever reads it
            member = _Presence(interface, min(header_epoch(event, "LoginTime") or at, at))
            self._count(
                "dropped_members",
                _bounded_put(self._members, interface, member, self.max_channels),
            )
        paused = event_text(event, "Paused") == "1"
        member.queues[queue] = (paused, (event_text(event, "PausedReason") or "")[:200])
        wrapup = header_seconds(event, "Wrapuptime")
        member.wrapup_s = wrapup or None
        # A member first seen already paused paused at LastPause (its reason's start).
        since = (header_epoch(event, "LastPause") or at) if first_seen else at
        return self._pause_state(member, at, min(since, at))

    def _on_member_removed(self, event: Mapping[str, str], at: datetime) -> list[Fact]:
        interface, queue = event_text(event, "Interface"), event_text(event, "Queue")
        member = self._members.get(interface) if interface else None
        if member is None or queue is None:
            return []
        member.queues.pop(queue, None)
        facts = self._pause_state(member, at, at)
        if not member.queues:
            del self._members[member.interface]
            facts.extend(self._interval(member.interface, "logged_in", member.login_at, at))
        return facts

    def _pause_state(self, member: _Presence, at: datetime, since: datetime) -> list[Fact]:
        """Close or open the member's pause as its queues now say: paused in every one."""
        states = list(member.queues.values())
        paused = bool(states) and all(p for p, _ in states)
        reason = next((r for p, r in states if p), "") if paused else ""
        facts: list[Fact] = []
        if member.paused_since is not None and (not paused or reason != member.reason):
            facts.extend(
                self._interval(
                    member.interface, "paused", member.paused_since, at, reason=member.reason
                )
            )
            member.paused_since = None
        if paused and member.paused_since is None:
            member.paused_since, member.reason = since, reason
        return facts

    @staticmethod
    def _interval(
        member: str,
        state: str,
        start: datetime,
        end: datetime,
        linkedid: str | None = None,
        *,
        reason: str = "",
    ) -> list[Fact]:
        if end < start:
            return []
        return [ActivityFact(member, state, start, end, reason=reason, linkedid=linkedid)]
