"""Who is logged in, paused or on a call, and who waits, from the AMI event stream.

A pure state machine (no I/O, no clock: times come from the event's ``Timestamp``
header when Asterisk sends one, else from ``received_at``), one method per event type,
like :mod:`listener.interpreter`. :meth:`LiveTracker.snapshot` gives an immutable view
that the listener writes to the live tables (``store.live``) for the console.

What Asterisk 22 sends (recorded in the lab, ``transcripts/2f-queue``, ``2f2``):

* Every queue member event carries the member's whole state, so each one is applied
  as it is::

      Event: QueueMemberPause             (also QueueMemberAdded / Status / Removed)
      Queue: navigators
      MemberName: Navigator Two
      Interface: Local/nav2@queue-agents/n
      Status: 4
      Paused: 1
      PausedReason: break

* A caller waits from ``QueueCallerJoin`` (``Position: 1``, ``Count: 1``) until
  ``QueueCallerLeave`` (it is connected: that comes just *before* ``AgentConnect``) or
  ``QueueCallerAbandon`` then ``QueueCallerLeave`` (it hung up). Asterisk moves the
  callers behind the one who left up by one place without saying so; so does this.
* ``AgentConnect`` (``Channel`` the caller, ``DestChannel`` the navigator's leg,
  ``Interface`` the member, ``HoldTime: 2`` seconds waited) starts the navigator's
  call; ``AgentComplete`` (``Reason: agent`` / ``caller`` / ``transfer``) or the
  navigator leg's ``Hangup`` ends it. ``QueueMemberStatus InCall`` is 0 throughout
  for Local members (``2f2``), so it is not used while the stream is followed.
* The language and path the caller chose are the flow's channel variables on the
  caller's channel (``VarSet Variable: IVR_LANG``, or ``__IVR_LANG`` when inherited,
  as ``VarSet Variable: __TRANSFER_CONTEXT`` in ``2f``).
* During a warm transfer the navigator's leg leaves the call's bridge for the
  consultation bridge (``BridgeLeave`` / ``BridgeEnter`` of ``DestChannel``,
  ``2f2``): the call is then "consulting" until it comes back or ends.

After a reconnect nothing seen before is trusted (:meth:`reset`); the listener asks
``QueueStatus`` (``QueueParams``, one ``QueueMember`` per member with ``Location``,
``Name``, ``Paused``, ``InCall``, ``Status``; one ``QueueEntry`` per waiting caller
with ``Position``, ``Channel``, ``Uniqueid``, ``Wait``) and ``Status`` (the channels,
their ``BridgeID`` and ``Variable: IVR_LANG=fr`` lines) and rebuilds the state from the
replies with :meth:`begin_resync` / :meth:`finish_resync`. The lab recorded
``QueueStatus`` with no caller waiting (``2f``), so the ``QueueEntry`` fields come
from Asterisk's documentation of that event, not from a recording.

One module on purpose: it is one state machine, a
table of handlers (one per event type) over private state that the resync rebuilds
with the same helpers; cut in two, either half would reach into the other's state.
The snapshot it produces is a storage type (``store.live.LiveSnapshot``), which the
listener's service writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from ivr.callerid import caller_number
from ivr.channels import MAX_FIELD, channel_endpoint, event_text, event_time
from listener.headers import header_count
from store.live import CurrentCall, LiveSnapshot, MemberPresence, WaitingCaller

__all__ = ["CurrentCall", "LiveSnapshot", "LiveTracker", "MemberPresence", "WaitingCaller"]

log = logging.getLogger(__name__)


_MAX_CHANNELS: Final = 4096
_TRACKED_VARS: Final = frozenset({"IVR_LANG", "IVR_PATH", "IVR_INTERPRETER"})
_TRUE: Final = frozenset({"1", "yes", "true", "on"})
# ast_device_state: 2 INUSE, 3 BUSY, 7 RINGINUSE, 8 ONHOLD (a call is up on the device)
_BUSY_STATES: Final = frozenset({"2", "3", "7", "8"})

_Handler = Callable[[Mapping[str, str], datetime], bool]


# ---- internal state -------------------------------------------------------------------


@dataclass
class _Membership:
    paused: bool
    reason: str


@dataclass
class _Member:
    interface: str
    name: str
    since: datetime
    queues: dict[str, _Membership] = field(default_factory=dict)
    busy_hint: bool = False  # QueueStatus said "in a call" and no call is known


@dataclass
class _Call:
    navigator_channel: str | None
    caller_channel: str | None
    caller_uniqueid: str | None
    linkedid: str | None
    caller_number: str | None
    queue: str | None
    waited_s: float | None
    connected_at: datetime | None
    bridge: str | None = None
    consulting: bool = False


@dataclass
class _Waiting:
    uniqueid: str
    linkedid: str | None
    channel: str
    queue: str
    position: int
    joined_at: datetime | None


def _number(event: Mapping[str, str], name: str = "CallerIDNum") -> str | None:
    """The caller's number, or None when it is withheld (``anonymous``, ``<unknown>``...:
    ``ivr.callerid``, the rule the call flow and the voicemail ingest use too)."""
    return caller_number(event_text(event, name))


def _flag(event: Mapping[str, str], name: str) -> bool:
    return (event_text(event, name) or "").lower() in _TRUE


def endpoint_of(name: str) -> str:
    """``Local/nav@queue-agents-00000040;1`` and the member interface
    ``Local/nav@queue-agents/n`` both -> ``Local/nav@queue-agents``."""
    return channel_endpoint(name).removesuffix("/n")


def _status_variables(raw: str | None) -> dict[str, str]:
    """``Status`` lists each requested variable as ``Variable: IVR_LANG=fr`` (``2g``),
    the repeated header joined with newlines by the link."""
    found: dict[str, str] = {}
    for line in (raw or "").splitlines():
        name, sep, value = line.partition("=")
        name = name.strip().lstrip("_")
        if sep and name in _TRACKED_VARS and len(value) <= MAX_FIELD:
            found[name] = value.strip()
    return found


# ---- the tracker ----------------------------------------------------------------------


class LiveTracker:
    """Feed every AMI event (:meth:`feed`); read :meth:`snapshot` when ``version`` moved."""

    def __init__(self) -> None:
        self._members: dict[str, _Member] = {}
        self._calls: dict[str, _Call] = {}  # member interface -> its call
        self._waiting: dict[str, _Waiting] = {}  # caller uniqueid -> its wait
        self._joined: dict[str, datetime] = {}  # caller uniqueid -> QueueCallerJoin time
        self._vars: dict[str, dict[str, str]] = {}  # uniqueid -> IVR_* variables
        self._numbers: dict[str, str] = {}  # uniqueid -> caller number (waiting callers)
        self._version = 0
        self._changed_at: datetime | None = None
        self._synced = False
        self._buffer: list[tuple[Mapping[str, str], datetime]] | None = None
        self.stats: dict[str, int] = {}
        self._handlers: dict[str, _Handler] = {
            "QueueMemberAdded": self._on_member,
            "QueueMemberStatus": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberRemoved": self._on_member_removed,
            "QueueCallerJoin": self._on_caller_join,
            "QueueCallerLeave": self._on_caller_leave,
            "QueueCallerAbandon": self._on_caller_leave,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "BridgeEnter": self._on_bridge_enter,
            "VarSet": self._on_varset,
            "Hangup": self._on_hangup,
        }

    @property
    def version(self) -> int:
        return self._version

    @property
    def synced(self) -> bool:
        return self._synced

    # ---- public ------------------------------------------------------------------

    def feed(self, event: Mapping[str, str], received_at: datetime) -> bool:
        """Apply one event; True when the snapshot changed."""
        name = event.get("Event")
        handler = self._handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            return False
        at = event_time(event, received_at)
        if self._buffer is not None:
            self._buffer.append((event, at))
        try:
            changed = handler(event, at)
        except Exception:  # a malformed event must not stop the stream
            log.exception("live: cannot apply %s", name)
            self.stats["bad"] = self.stats.get("bad", 0) + 1
            return False
        if changed:
            self._touch(at)
        return changed

    def reset(self) -> None:
        """The link dropped: nothing seen before can be trusted."""
        self._members.clear()
        self._calls.clear()
        self._waiting.clear()
        self._joined.clear()
        self._vars.clear()
        self._numbers.clear()
        self._synced = False
        self._buffer = None
        self._version += 1

    def begin_resync(self) -> None:
        """Remember the events fed from now on: they are applied again on top of the
        ``QueueStatus`` / ``Status`` replies, which may have been taken before them."""
        self._buffer = []

    def abort_resync(self) -> None:
        self._buffer = None

    def finish_resync(self, replies: Iterable[Mapping[str, str]], at: datetime) -> None:
        """Rebuild members, calls and waiting callers from the replies to ``QueueStatus``
        and ``Status`` received at ``at``, then apply the events fed meanwhile again."""
        replies = list(replies)
        buffered, self._buffer = self._buffer or [], None
        members: dict[str, _Member] = {}
        busy: set[str] = set()
        for event in replies:
            if event.get("Event") != "QueueMember":
                continue
            interface, queue = event_text(event, "Location"), event_text(event, "Queue")
            if interface is None or queue is None:
                continue
            old = self._members.get(interface)
            member = members.setdefault(
                interface,
                _Member(
                    interface, event_text(event, "Name") or interface, old.since if old else at
                ),
            )
            member.queues[queue] = _Membership(
                _flag(event, "Paused"), event_text(event, "PausedReason") or ""
            )
            if _flag(event, "InCall") or event_text(event, "Status") in _BUSY_STATES:
                busy.add(interface)
        channels = [e for e in replies if e.get("Event") == "Status" and event_text(e, "Channel")]
        for event in channels:
            uid = event_text(event, "Uniqueid")
            variables = _status_variables(event.get("Variable"))
            if uid and variables:
                self._vars.setdefault(uid, {}).update(variables)
        calls: dict[str, _Call] = {}
        for interface in members:
            known = self._calls.get(interface)
            if known is not None:
                calls[interface] = known
                continue
            call = self._call_from_status(interface, channels)
            if call is not None:
                calls[interface] = call
            elif interface in busy:
                members[interface].busy_hint = True
        waiting: dict[str, _Waiting] = {}
        for event in replies:
            if event.get("Event") != "QueueEntry":
                continue
            uid, queue, channel = (event_text(event, k) for k in ("Uniqueid", "Queue", "Channel"))
            if uid is None or queue is None or channel is None:
                continue
            wait = header_count(event, "Wait")
            linkedid = next(
                (event_text(c, "Linkedid") for c in channels if event_text(c, "Uniqueid") == uid),
                None,
            )
            joined = at - timedelta(seconds=wait) if wait is not None else None
            waiting[uid] = _Waiting(
                uid, linkedid, channel, queue, header_count(event, "Position") or 0, joined
            )
            if joined is not None:
                self._joined[uid] = joined
        self._members, self._calls, self._waiting = members, calls, waiting
        self._synced = True
        self._touch(at)
        for event, when in buffered:
            self.feed(event, when)

    def snapshot(self) -> LiveSnapshot:
        members = []
        for interface in sorted(self._members):
            member = self._members[interface]
            call = self._calls.get(interface)
            members.append(
                MemberPresence(
                    interface=interface,
                    name=member.name,
                    queues=tuple(sorted(member.queues)),
                    paused=any(q.paused for q in member.queues.values()),
                    pause_reason=next(
                        (q.reason for _, q in sorted(member.queues.items()) if q.paused), ""
                    ),
                    on_call=call is not None or member.busy_hint,
                    call=None if call is None else self._current(call),
                    since=member.since,
                )
            )
        callers = sorted(self._waiting.values(), key=lambda w: (w.queue, w.position, w.uniqueid))
        return LiveSnapshot(
            version=self._version,
            synced=self._synced,
            changed_at=self._changed_at,
            members=tuple(members),
            callers=tuple(
                WaitingCaller(
                    uniqueid=w.uniqueid,
                    linkedid=w.linkedid,
                    channel=w.channel,
                    queue=w.queue,
                    position=w.position,
                    joined_at=w.joined_at,
                    language=self._vars.get(w.uniqueid, {}).get("IVR_LANG") or None,
                    path=self._vars.get(w.uniqueid, {}).get("IVR_PATH") or None,
                )
                for w in callers
            ),
        )

    # ---- helpers -----------------------------------------------------------------

    def _touch(self, at: datetime) -> None:
        self._version += 1
        self._changed_at = at

    def _current(self, call: _Call) -> CurrentCall:
        variables = self._vars.get(call.caller_uniqueid or "", {})
        return CurrentCall(
            navigator_channel=call.navigator_channel,
            caller_channel=call.caller_channel,
            caller_uniqueid=call.caller_uniqueid,
            linkedid=call.linkedid,
            caller_number=call.caller_number,
            language=variables.get("IVR_LANG") or None,
            path=variables.get("IVR_PATH") or None,
            interpreter=variables.get("IVR_INTERPRETER", "").strip().lower() in _TRUE,
            queue=call.queue,
            waited_s=call.waited_s,
            connected_at=call.connected_at,
            consulting=call.consulting,
        )

    def _call_from_status(self, interface: str, channels: list[Mapping[str, str]]) -> _Call | None:
        """The member's leg in a bridge with a channel of another endpoint: the caller."""
        endpoint = endpoint_of(interface)
        for mine in channels:
            name, bridge = event_text(mine, "Channel"), event_text(mine, "BridgeID")
            if name is None or bridge is None or endpoint_of(name) != endpoint:
                continue
            for peer in channels:
                peer_name = event_text(peer, "Channel")
                if (
                    peer_name is None
                    or event_text(peer, "BridgeID") != bridge
                    or endpoint_of(peer_name) == endpoint
                ):
                    continue
                return _Call(
                    navigator_channel=name,
                    caller_channel=peer_name,
                    caller_uniqueid=event_text(peer, "Uniqueid"),
                    linkedid=event_text(peer, "Linkedid"),
                    caller_number=_number(peer),
                    queue=None,
                    waited_s=None,
                    connected_at=None,
                    bridge=bridge,
                )
        return None

    def _end_call(self, interface: str) -> bool:
        call = self._calls.pop(interface, None)
        member = self._members.get(interface)
        if call is None:
            return False
        if member is not None:
            member.busy_hint = False
        return True

    def _set_since(self, member: _Member, before: tuple[bool, bool], at: datetime) -> None:
        if self._state(member) != before:
            member.since = at

    def _state(self, member: _Member) -> tuple[bool, bool]:
        return (
            any(q.paused for q in member.queues.values()),
            member.interface in self._calls or member.busy_hint,
        )

    # ---- handlers: queue members -------------------------------------------------

    def _on_member(self, event: Mapping[str, str], at: datetime) -> bool:
        interface, queue = event_text(event, "Interface"), event_text(event, "Queue")
        if interface is None or queue is None:
            return False
        member = self._members.get(interface)
        if member is None:
            member = self._members[interface] = _Member(
                interface, event_text(event, "MemberName") or interface, at
            )
            changed = True
        else:
            changed = False
        before = self._state(member)
        membership = _Membership(_flag(event, "Paused"), event_text(event, "PausedReason") or "")
        if member.queues.get(queue) != membership:
            member.queues[queue] = membership
            changed = True
        name = event_text(event, "MemberName")
        if name and name != member.name:
            member.name = name
            changed = True
        status = event_text(event, "Status")
        if member.busy_hint and status is not None and status not in _BUSY_STATES:
            member.busy_hint = False
            changed = True
        self._set_since(member, before, at)
        return changed

    def _on_member_removed(self, event: Mapping[str, str], at: datetime) -> bool:
        interface, queue = event_text(event, "Interface"), event_text(event, "Queue")
        member = self._members.get(interface or "")
        if member is None or queue not in member.queues:
            return False
        del member.queues[queue]
        if not member.queues:
            del self._members[member.interface]
            self._calls.pop(member.interface, None)
        return True

    # ---- handlers: callers ---------------------------------------------------------

    def _on_caller_join(self, event: Mapping[str, str], at: datetime) -> bool:
        uid, queue, channel = (event_text(event, k) for k in ("Uniqueid", "Queue", "Channel"))
        if uid is None or queue is None or channel is None:
            return False
        if len(self._waiting) >= _MAX_CHANNELS:
            return False
        self._waiting[uid] = _Waiting(
            uid,
            event_text(event, "Linkedid"),
            channel,
            queue,
            header_count(event, "Position") or 0,
            at,
        )
        self._joined[uid] = at
        number = _number(event)
        if number is not None:
            self._numbers[uid] = number
        return True

    def _on_caller_leave(self, event: Mapping[str, str], at: datetime) -> bool:
        uid = event_text(event, "Uniqueid")
        waiting = self._waiting.pop(uid or "", None)
        if waiting is None:
            return False
        if event.get("Event") == "QueueCallerAbandon":
            self._joined.pop(waiting.uniqueid, None)
        for other in self._waiting.values():
            if other.queue == waiting.queue and other.position > waiting.position:
                other.position -= 1
        return True

    # ---- handlers: calls -----------------------------------------------------------

    def _on_agent_connect(self, event: Mapping[str, str], at: datetime) -> bool:
        interface = event_text(event, "Interface")
        if interface is None:
            return False
        uid = event_text(event, "Uniqueid")
        member = self._members.get(interface)
        if member is None:
            member = self._members[interface] = _Member(
                interface, event_text(event, "MemberName") or interface, at
            )
            queue = event_text(event, "Queue")
            if queue is not None:
                member.queues[queue] = _Membership(False, "")
        before = self._state(member)
        hold = header_count(event, "HoldTime")
        joined = self._joined.pop(uid, None) if uid else None
        if hold is not None:
            waited: float | None = float(hold)
        elif joined is not None:
            waited = round((at - joined).total_seconds(), 3)
        else:
            waited = None
        if uid:
            self._waiting.pop(uid, None)
        self._calls[interface] = _Call(
            navigator_channel=event_text(event, "DestChannel"),
            caller_channel=event_text(event, "Channel"),
            caller_uniqueid=uid,
            linkedid=event_text(event, "Linkedid"),
            caller_number=_number(event) or self._numbers.get(uid or ""),
            queue=event_text(event, "Queue"),
            waited_s=waited,
            connected_at=at,
        )
        if uid:
            self._numbers.pop(uid, None)
        member.busy_hint = False
        self._set_since(member, before, at)
        return True

    def _on_agent_complete(self, event: Mapping[str, str], at: datetime) -> bool:
        interface = event_text(event, "Interface")
        member = self._members.get(interface or "")
        call = self._calls.get(interface or "")
        if call is None or interface is None:
            if member is not None and member.busy_hint:
                member.busy_hint = False
                member.since = at
                return True
            return False
        if call.caller_uniqueid not in (None, event_text(event, "Uniqueid")):
            return False
        before = self._state(member) if member else (False, True)
        self._end_call(interface)
        if member is not None:
            self._set_since(member, before, at)
        return True

    def _on_bridge_enter(self, event: Mapping[str, str], at: datetime) -> bool:
        channel, bridge = event_text(event, "Channel"), event_text(event, "BridgeUniqueid")
        if channel is None or bridge is None:
            return False
        for call in self._calls.values():
            if call.navigator_channel != channel:
                continue
            if call.bridge is None:
                call.bridge = bridge
                return False
            consulting = bridge != call.bridge
            if consulting != call.consulting:
                call.consulting = consulting
                return True
        return False

    def _on_varset(self, event: Mapping[str, str], at: datetime) -> bool:
        variable = (event_text(event, "Variable") or "").lstrip("_")
        if variable not in _TRACKED_VARS:
            return False
        uid = event_text(event, "Uniqueid")
        if uid is None:
            return False
        if uid not in self._vars and len(self._vars) >= _MAX_CHANNELS:
            return False
        value = (event.get("Value") or "").strip()[:MAX_FIELD]
        variables = self._vars.setdefault(uid, {})
        if variables.get(variable) == value:
            return False
        variables[variable] = value
        return uid in self._waiting or any(c.caller_uniqueid == uid for c in self._calls.values())

    def _on_hangup(self, event: Mapping[str, str], at: datetime) -> bool:
        channel, uid = event_text(event, "Channel"), event_text(event, "Uniqueid")
        changed = False
        for interface, call in list(self._calls.items()):
            if channel is not None and channel == call.navigator_channel:
                member = self._members.get(interface)
                before = self._state(member) if member else (False, True)
                self._end_call(interface)
                if member is not None:
                    self._set_since(member, before, at)
                changed = True
        if uid is not None:
            self._vars.pop(uid, None)
            self._joined.pop(uid, None)
            self._numbers.pop(uid, None)
            if uid in self._waiting:
                changed = self._on_caller_leave(event, at) or changed
        return changed
