"""What the transfer interpreter (:mod:`listener.interpreter`) keeps in flight, and the
helpers its event handlers share: the channels, bridges, attended-transfer consultations
and announced ConfBridge three-ways, each table bounded (past ``max_in_flight`` the
oldest entry is forgotten), and the reading of an event's fields.

:class:`InterpreterTables` is the base of the handler groups (:mod:`listener.channelevents`,
:mod:`listener.consultations`, :mod:`listener.referrals`) that ``Interpreter`` puts
together; it does no I/O and reads no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeVar

from ivr.channels import channel_endpoint, event_text
from listener.outcome import answer_delay
from store.facts import Kind, Outcome, TransferFact

__all__ = [
    "DIALING",
    "BadEvent",
    "Channel",
    "Conference",
    "Consultation",
    "InterpreterTables",
    "ResolveDestination",
    "caller_language",
    "hangup_cause",
    "need",
    "seconds_between",
    "service_delay",
    "with_interpreter",
]

ResolveDestination = Callable[[str, str], str | None]
_T = TypeVar("_T")

_TRUE: Final = frozenset({"1", "yes", "true", "on"})
DIALING: Final = "DIALING"  # the ;2 half's Dial() began (DialBegin), no DialEnd yet


class BadEvent(Exception):
    """An event the interpreter handles, missing a field it needs (internal to the
    interpreter: ``Interpreter.feed`` counts and logs it)."""


def need(event: Mapping[str, str], name: str) -> str:
    value = event_text(event, name)
    if value is None:
        raise BadEvent(name)
    return value


def caller_language(variables: Mapping[str, str]) -> str | None:
    return variables.get("IVR_LANG") or None


def with_interpreter(variables: Mapping[str, str]) -> bool:
    return variables.get("IVR_INTERPRETER", "").strip().lower() in _TRUE


def hangup_cause(text: str | None) -> int | None:
    """``Cause: 17`` of a Hangup event, as a number (None when missing or garbage)."""
    if text is None or not text.isdigit() or len(text) > 3:
        return None
    return int(text)


def seconds_between(start: datetime, end: datetime | None) -> float | None:
    if end is None or end < start:
        return None
    return round((end - start).total_seconds(), 3)


def service_delay(start: datetime, channel: Channel | None) -> float | None:
    """The service's answer delay (``listener.outcome``), to the millisecond."""
    if channel is None:
        return None
    delay = answer_delay(start, channel.answered_at, answered_by_dial=channel.answered_by_dial)
    return None if delay is None else round(delay, 3)


@dataclass
class Channel:
    uniqueid: str
    name: str
    linkedid: str | None = None
    number: str | None = None
    created_at: datetime | None = None  # None: learned mid-call, its Newchannel unseen
    bridge: str | None = None
    last_bridge: str | None = None
    on_hold: bool = False
    digits: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    transferer: str | None = None  # ATTENDEDTRANSFER: this channel is a consultation leg
    dial_status: str | None = None  # DialEnd with this channel as the one dialled
    answered_at: datetime | None = None
    outbound_status: str | None = None  # DialEnd of a Dial() this channel ran
    inner_status: str | None = None  # ;1 of a Local pair: DialEnd of the Dial() its ;2 ran
    optimizing_into: str | None = None  # LocalOptimizationBegin: uniqueid that replaces it

    @property
    def answered_by_dial(self) -> bool:
        """Answered through the Dial() of its ``;2`` half, not by a dialplan prompt."""
        return self.inner_status == "ANSWER"


@dataclass
class Consultation:
    """An attended transfer in progress, keyed by its consultation channel's uniqueid."""

    key_uid: str
    target_uid: str
    exten: str
    context: str
    navigator_uid: str
    navigator: str
    orig_bridge: str
    consult_bridge: str
    started_at: datetime
    linkedid: str
    caller_uid: str | None
    caller_number: str | None
    variables: dict[str, str]
    navigator_digits: str = ""  # the navigator's keys, kept if it hangs up first
    target_left_first: bool = False
    target_in_orig: bool = False
    returned_at: datetime | None = None


@dataclass
class Conference:
    """A three-way through a ConfBridge announced by our own action (``expect_conference``)."""

    service_uid: str
    conference: str
    navigator: str
    caller_uid: str | None
    linkedid: str
    destination: str | None
    exten: str
    context: str
    started_at: datetime
    answered_at: datetime | None = None
    certain: bool = True  # False after reset(): a join may have been missed


class InterpreterTables:
    """The tables of what is in flight, and their bookkeeping (see ``Interpreter``)."""

    def __init__(
        self,
        resolve_destination: ResolveDestination,
        transfer_contexts: Collection[str] | None = None,
        *,
        abort_code: str = "*1",
        max_in_flight: int = 20_000,
    ) -> None:
        self._resolve = resolve_destination
        self._contexts = frozenset(transfer_contexts) if transfer_contexts is not None else None
        self._abort_code = abort_code
        self._cap = max(1, max_in_flight)
        self._channels: dict[str, Channel] = {}
        self._by_name: dict[str, str] = {}
        self._gone: dict[str, None] = {}  # recently hung up: late events must not revive them
        self._bridges: dict[str, dict[str, None]] = {}
        self._consultations: dict[str, Consultation] = {}
        self._by_navigator: dict[str, str] = {}
        self._by_target: dict[str, str] = {}
        self._conferences: dict[str, Conference] = {}
        self.stats: dict[str, int] = {
            "events": 0,
            "ignored": 0,
            "malformed": 0,
            "facts": 0,
            "evicted": 0,
        }

    def reset(self) -> list[TransferFact]:
        """The link to Asterisk dropped: forget every channel, bridge and consultation.

        Nothing in flight can be concluded safely (an AttendedTransfer or a join may have
        happened while the link was down), so this returns no fact; ``ivr211 reconcile``
        recovers them from CEL. Announced conferences are kept, but a later hang-up no
        longer concludes them failed, since their join may have been missed.
        """
        self._channels.clear()
        self._by_name.clear()
        self._gone.clear()
        self._bridges.clear()
        self._consultations.clear()
        self._by_navigator.clear()
        self._by_target.clear()
        for conference in self._conferences.values():
            conference.certain = False
        return []

    @property
    def in_flight(self) -> dict[str, int]:
        """Sizes of the tables (for the status page and the memory-bound test)."""
        return {
            "channels": len(self._channels),
            "bridges": len(self._bridges),
            "consultations": len(self._consultations),
            "conferences": len(self._conferences),
            "recently_gone": len(self._gone),
        }

    # -- bookkeeping --------------------------------------------------------------

    def _bound(self, table: dict[str, _T], evict: Callable[[str], object] | None = None) -> None:
        while len(table) > self._cap:
            oldest = next(iter(table))
            if evict is None:
                del table[oldest]
            else:
                evict(oldest)
            self.stats["evicted"] += 1

    def _channel(
        self, event: Mapping[str, str], prefix: str = "", *, learn: bool = True
    ) -> Channel | None:
        """The channel an event is about, learned on the fly if its Newchannel was missed
        (after a reconnect); ``None`` for a channel that already hung up (a late
        ``NewCallerid`` follows some hang-ups) or, without ``learn``, one never seen."""
        uid = need(event, f"{prefix}Uniqueid")
        channel = self._channels.get(uid)
        if channel is None:
            if not learn or uid in self._gone:
                return None
            name = need(event, f"{prefix}Channel")
            channel = Channel(uniqueid=uid, name=name)
            self._add_channel(channel)
        linkedid = event_text(event, f"{prefix}Linkedid")
        if linkedid:
            channel.linkedid = linkedid
        number = event_text(event, f"{prefix}CallerIDNum")
        if number:
            channel.number = number
        return channel

    def _add_channel(self, channel: Channel) -> None:
        self._gone.pop(channel.uniqueid, None)
        self._forget_channel(channel.uniqueid)
        self._channels[channel.uniqueid] = channel
        self._by_name[channel.name] = channel.uniqueid
        self._bound(self._channels, self._forget_channel)

    def _forget_channel(self, uid: str) -> None:
        channel = self._channels.pop(uid, None)
        if channel is None:
            return
        if self._by_name.get(channel.name) == uid:
            del self._by_name[channel.name]
        if channel.bridge is not None:
            members = self._bridges.get(channel.bridge)
            if members is not None:
                members.pop(uid, None)

    def _drop_consultation(self, key_uid: str) -> Consultation | None:
        consultation = self._consultations.pop(key_uid, None)
        if consultation is not None:
            if self._by_navigator.get(consultation.navigator_uid) == key_uid:
                del self._by_navigator[consultation.navigator_uid]
            if self._by_target.get(consultation.target_uid) == key_uid:
                del self._by_target[consultation.target_uid]
        return consultation

    def _consultation_of_target(self, uid: str) -> Consultation | None:
        key_uid = self._by_target.get(uid)
        return self._consultations.get(key_uid) if key_uid is not None else None

    def _accepts(self, context: str) -> bool:
        return self._contexts is None or context in self._contexts

    def _bridge(self, bridge: str) -> dict[str, None]:
        members = self._bridges.get(bridge)
        if members is None:
            members = self._bridges[bridge] = {}
            self._bound(self._bridges)
        return members

    def _fact(
        self,
        *,
        key: str,
        kind: Kind,
        outcome: Outcome,
        started_at: datetime,
        ended_at: datetime,
        linkedid: str,
        navigator: str,
        exten: str,
        context: str,
        answer_delay_s: float | None,
        caller_uid: str | None,
        caller_number: str | None,
        variables: Mapping[str, str],
    ) -> TransferFact:
        return TransferFact(
            key=key,
            kind=kind,
            outcome=outcome,
            started_at=started_at,
            ended_at=ended_at,
            linkedid=linkedid,
            navigator_channel=channel_endpoint(navigator),
            destination=self._resolve(exten, context),
            target_exten=exten,
            target_context=context,
            answer_delay_s=answer_delay_s,
            caller_uniqueid=caller_uid,
            caller_number=caller_number,
            language=caller_language(variables),
            path=variables.get("IVR_PATH") or None,
            interpreter=with_interpreter(variables),
        )
