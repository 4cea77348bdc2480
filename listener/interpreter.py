"""Turn the AMI event stream into transfer facts: a pure state machine, no I/O, no clock.

One method per event type (the shape of wazo-call-logd's ``cel_interpretor.py``); the
state is the channels and bridges in flight, the attended-transfer consultations being
watched and the ConfBridge three-ways our own actions announced. ``feed`` takes one
event and returns the facts it concludes, each exactly once.

What Asterisk 22 sends (recorded in the lab, ``transcripts/2a``..``2f``):

* A completed warm transfer ends with one event::

      Event: AttendedTransfer
      Result: Success
      OrigTransfererChannel: Local/nav-manual@navigators-00000014;1
      TransfereeUniqueid: a1-78443-caller
      TransferTargetChannel: Local/911@emergency-services-00000015;1
      TransferTargetUniqueid: 1795878444.42
      DestType: Bridge

  ``TransferTargetUniqueid`` is the consultation channel the transfer feature dialled,
  so a completed and an abandoned transfer share one key (``atxfer:<that uniqueid>``).
  ``DestType: Threeway`` is the atxferthreeway keys (``2d2``).
* An abandoned warm transfer sends no transfer event at all. It starts with ``Hold`` on
  the navigator, then ``Newchannel Local/913@emergency-services-0000001d;1`` (carrying
  ``VarSet ATTENDEDTRANSFER=<navigator channel>``) entering a new bridge, and the navigator
  leaving the caller's bridge for that one. It ends with the navigator entering the
  caller's bridge again. Why it ended is told by the consultation channel's
  ``DialEnd DialStatus: BUSY`` / ``ANSWER``, by the service leaving the consultation bridge
  before the navigator (it hung up first, ``2b4``), and by the abort keys ``*1`` that the
  navigator's phone (or the AMI ``CancelAtxfer`` action) sends as ``DTMFEnd`` events
  (``2b3``, ``2b5``); none of these is the atxfernoanswertimeout (``2b1``). A
  consultation counts as answered by the service only when the Dial() of its ``;2``
  half answered: our dialplan's "transfer failed" prompt also answers it, after a BUSY
  (``2q``, ``6a``) or with no number at all (``listener.outcome``, shared with CEL).
* The caller hanging up during the consultation ends it, as an attempt: ``AttendedTransfer
  Result: Fail`` while the service rings (``2l1``), no event at all once it answered
  (``2l2``, ``2k``; the navigator stays with the service): the caller's own ``Hangup``.
* A referral given with the *7 feature is ``UserEvent: IVR211Referral`` on the
  navigator's channel (``2n``, ``6b``), keyed like its CEL row.
* ``BlindTransfer Result: Success`` carries ``TransfereeUniqueid``, ``BridgeUniqueid``,
  ``Context`` and ``Extension``.
* About 0.4 s after a completed transfer the consultation Local pair optimises away
  (``LocalOptimizationBegin``/``End``, ``Success: No`` even when it worked) and its
  ``;1`` half hangs up: by then the fact is already out and the consultation forgotten.

Times come from the event's ``Timestamp: 1795880062.329001`` header (``timestampevents =
yes``) when present, else from ``received_at``. Bad input (unknown events, missing or
garbage fields, huge values) is counted and logged, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeVar

from ivr.channels import MAX_FIELD, channel_endpoint, event_text, event_time
from ivr.times import require_utc
from listener.cel import REFERRAL_DESTINATION_HEADER, REFERRAL_USER_EVENT
from listener.outcome import (
    LOCAL_CHANNEL,
    answer_delay,
    consultation_outcome,
    dial_outcome,
    joined_outcome,
)
from store.facts import Kind, Outcome, Source, TransferFact

__all__ = ["Interpreter"]

log = logging.getLogger(__name__)

ResolveDestination = Callable[[str, str], str | None]
_Handler = Callable[[Mapping[str, str], datetime], list[TransferFact]]
_T = TypeVar("_T")


_MAX_DIGITS: Final = 16
_MAX_VARS: Final = 32
_MAX_GONE: Final = 4096
_IVR_PREFIX: Final = "IVR_"
_TRUE: Final = frozenset({"1", "yes", "true", "on"})
_DIALING: Final = "DIALING"  # the ;2 half's Dial() began (DialBegin), no DialEnd yet


class _BadEvent(Exception):
    """An event this interpreter handles, missing a field it needs (internal only)."""


def _need(event: Mapping[str, str], name: str) -> str:
    value = event_text(event, name)
    if value is None:
        raise _BadEvent(name)
    return value


def _language(variables: Mapping[str, str]) -> str | None:
    return variables.get("IVR_LANG") or None


def _interpreter(variables: Mapping[str, str]) -> bool:
    return variables.get("IVR_INTERPRETER", "").strip().lower() in _TRUE


def _cause(text: str | None) -> int | None:
    """``Cause: 17`` of a Hangup event, as a number (None when missing or garbage)."""
    if text is None or not text.isdigit() or len(text) > 3:
        return None
    return int(text)


def _since(start: datetime, end: datetime | None) -> float | None:
    if end is None or end < start:
        return None
    return round((end - start).total_seconds(), 3)


def _delay(start: datetime, channel: _Channel | None) -> float | None:
    """The service's answer delay (``listener.outcome``), to the millisecond."""
    if channel is None:
        return None
    delay = answer_delay(start, channel.answered_at, answered_by_dial=channel.answered_by_dial)
    return None if delay is None else round(delay, 3)


@dataclass
class _Channel:
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
class _Consultation:
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
class _Conference:
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


class Interpreter:
    """Follow channels, bridges, dials and transfers; conclude :class:`TransferFact` s.

    ``resolve_destination(exten, context)`` maps the dialled extension to a directory key
    (``None`` when it is not a destination: the fact keeps ``target_exten``).
    ``transfer_contexts``: the dialplan contexts transfers are dialled into; ``None``
    accepts any context, a consultation then being recognised by the navigator's Hold
    or the ``ATTENDEDTRANSFER`` variable Asterisk sets on the consultation channel.
    ``abort_code`` is features.conf's atxferabort (the AMI ``CancelAtxfer`` sends it too).
    ``max_in_flight`` bounds each table: past it the oldest entry is forgotten.
    """

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
        self._channels: dict[str, _Channel] = {}
        self._by_name: dict[str, str] = {}
        self._gone: dict[str, None] = {}  # recently hung up: late events must not revive them
        self._bridges: dict[str, dict[str, None]] = {}
        self._consultations: dict[str, _Consultation] = {}
        self._by_navigator: dict[str, str] = {}
        self._by_target: dict[str, str] = {}
        self._conferences: dict[str, _Conference] = {}
        self.stats: dict[str, int] = {
            "events": 0,
            "ignored": 0,
            "malformed": 0,
            "facts": 0,
            "evicted": 0,
        }
        self._handlers: dict[str, _Handler] = {
            "Newchannel": self._on_newchannel,
            "Hangup": self._on_hangup,
            "VarSet": self._on_varset,
            "NewCallerid": self._on_newcallerid,
            "Hold": self._on_hold,
            "Unhold": self._on_unhold,
            "DTMFEnd": self._on_dtmf_end,
            "BridgeCreate": self._on_bridge_create,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
            "BridgeDestroy": self._on_bridge_destroy,
            "DialBegin": self._on_dial_begin,
            "DialState": self._on_dial_state,
            "DialEnd": self._on_dial_end,
            "AttendedTransfer": self._on_attended_transfer,
            "BlindTransfer": self._on_blind_transfer,
            "LocalOptimizationBegin": self._on_local_optimization_begin,
            "ConfbridgeJoin": self._on_confbridge_join,
            "UserEvent": self._on_user_event,
        }

    # -- public API ---------------------------------------------------------------

    def feed(self, event: Mapping[str, str], received_at: datetime) -> list[TransferFact]:
        """Take one AMI event; return the facts it concludes (usually none)."""
        self.stats["events"] += 1
        name = event.get("Event") if isinstance(event, Mapping) else None
        handler = self._handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            self.stats["ignored"] += 1
            return []
        try:
            facts = handler(event, event_time(event, received_at))
        except (_BadEvent, KeyError, ValueError, TypeError, OverflowError) as exc:
            self.stats["malformed"] += 1
            count = self.stats["malformed"]
            if count <= 100 or count % 1000 == 0:
                log.warning(
                    "ignored malformed %s event (#%d, %s: %s)", name, count, type(exc).__name__, exc
                )
            return []
        self.stats["facts"] += len(facts)
        return facts

    def expect_conference(
        self,
        *,
        service_uniqueid: str,
        conference: str,
        navigator_channel: str,
        caller_uniqueid: str | None,
        linkedid: str,
        destination: str | None,
        exten: str,
        context: str,
        started_at: datetime,
    ) -> None:
        """Announce our own three-way: the service channel we originate (``ChannelId``)
        into ``conference``. Its ``ConfbridgeJoin`` concludes completed; its ``Hangup``
        before joining concludes failed (the ``2d1`` path, which has no transfer event)."""
        self._conferences.pop(service_uniqueid, None)
        self._conferences[service_uniqueid] = _Conference(
            service_uid=service_uniqueid,
            conference=conference,
            navigator=channel_endpoint(navigator_channel),
            caller_uid=caller_uniqueid,
            linkedid=linkedid,
            destination=destination,
            exten=exten,
            context=context,
            started_at=require_utc(started_at, "started_at"),
        )
        self._bound(self._conferences)

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
    ) -> _Channel | None:
        """The channel an event is about, learned on the fly if its Newchannel was missed
        (after a reconnect); ``None`` for a channel that already hung up (a late
        ``NewCallerid`` follows some hang-ups) or, without ``learn``, one never seen."""
        uid = _need(event, f"{prefix}Uniqueid")
        channel = self._channels.get(uid)
        if channel is None:
            if not learn or uid in self._gone:
                return None
            name = _need(event, f"{prefix}Channel")
            channel = _Channel(uniqueid=uid, name=name)
            self._add_channel(channel)
        linkedid = event_text(event, f"{prefix}Linkedid")
        if linkedid:
            channel.linkedid = linkedid
        number = event_text(event, f"{prefix}CallerIDNum")
        if number:
            channel.number = number
        return channel

    def _add_channel(self, channel: _Channel) -> None:
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

    def _drop_consultation(self, key_uid: str) -> _Consultation | None:
        consultation = self._consultations.pop(key_uid, None)
        if consultation is not None:
            if self._by_navigator.get(consultation.navigator_uid) == key_uid:
                del self._by_navigator[consultation.navigator_uid]
            if self._by_target.get(consultation.target_uid) == key_uid:
                del self._by_target[consultation.target_uid]
        return consultation

    def _consultation_of_target(self, uid: str) -> _Consultation | None:
        key_uid = self._by_target.get(uid)
        return self._consultations.get(key_uid) if key_uid is not None else None

    def _accepts(self, context: str) -> bool:
        return self._contexts is None or context in self._contexts

    # -- channels -----------------------------------------------------------------

    def _on_newchannel(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        channel = _Channel(
            uniqueid=_need(event, "Uniqueid"),
            name=_need(event, "Channel"),
            linkedid=event_text(event, "Linkedid"),
            number=event_text(event, "CallerIDNum"),
            created_at=at,
        )
        self._add_channel(channel)
        return []

    def _on_newcallerid(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        self._channel(event, learn=False)
        return []

    def _on_varset(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        """``Variable: __IVR_LANG`` (inherited, set by our dialplan) is ``IVR_LANG``."""
        variable = _need(event, "Variable").lstrip("_")
        if not (variable.startswith(_IVR_PREFIX) or variable == "ATTENDEDTRANSFER"):
            return []
        value = event.get("Value", "")
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise _BadEvent("Value")
        value = value.strip()
        if variable.startswith(_IVR_PREFIX):
            channel = self._channel(event)
            if channel is not None and (
                variable in channel.variables or len(channel.variables) < _MAX_VARS
            ):
                channel.variables[variable] = value
        elif variable == "ATTENDEDTRANSFER" and value:
            channel = self._channel(event)
            if channel is not None:
                channel.transferer = value
        return []

    def _on_hold(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        channel = self._channel(event)
        if channel is not None:
            channel.on_hold = True
        return []

    def _on_unhold(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        channel = self._channel(event)
        if channel is not None:
            channel.on_hold = False
        return []

    def _on_dtmf_end(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        if event_text(event, "Direction") != "Received":
            return []
        digit = _need(event, "Digit")
        if len(digit) != 1:
            raise _BadEvent("Digit")
        channel = self._channel(event)
        if channel is not None:
            channel.digits = (channel.digits + digit)[-_MAX_DIGITS:]
        return []

    def _on_hangup(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        uid = _need(event, "Uniqueid")
        facts: list[TransferFact] = []
        channel = self._channels.get(uid)
        consultation = self._consultation_of_target(uid)
        if consultation is not None and channel is not None and channel.optimizing_into:
            del self._by_target[uid]
            consultation.target_uid = channel.optimizing_into
            self._by_target[consultation.target_uid] = consultation.key_uid
            heir = self._channels.get(channel.optimizing_into)
            if heir is not None:
                heir.answered_at = heir.answered_at or channel.answered_at
                heir.inner_status = heir.inner_status or channel.inner_status
        elif consultation is not None:
            ended = consultation.returned_at or at
            facts.append(
                self._conclude_consultation(consultation, ended, _cause(event_text(event, "Cause")))
            )
        for waiting in [c for c in self._consultations.values() if c.caller_uid == uid]:
            facts.append(self._conclude_consultation(waiting, at, None, caller_hung_up=True))
        led = self._consultations.get(self._by_navigator.get(uid, ""))
        if led is not None and channel is not None:
            led.navigator_digits = channel.digits
        conference = self._conferences.pop(uid, None)
        if conference is not None and conference.certain:
            statuses = [channel.dial_status, channel.inner_status] if channel else []
            outcome = dial_outcome(statuses, [_cause(event_text(event, "Cause"))]) or Outcome.FAILED
            facts.append(self._conference_fact(conference, outcome, at))
        self._forget_channel(uid)
        self._gone[uid] = None
        if len(self._gone) > _MAX_GONE:
            del self._gone[next(iter(self._gone))]
        return facts

    # -- bridges ------------------------------------------------------------------

    def _on_bridge_create(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        self._bridge(_need(event, "BridgeUniqueid"))
        return []

    def _bridge(self, bridge: str) -> dict[str, None]:
        members = self._bridges.get(bridge)
        if members is None:
            members = self._bridges[bridge] = {}
            self._bound(self._bridges)
        return members

    def _on_bridge_destroy(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        bridge = _need(event, "BridgeUniqueid")
        for uid in self._bridges.pop(bridge, {}):
            channel = self._channels.get(uid)
            if channel is not None and channel.bridge == bridge:
                channel.bridge = None
        return []

    def _on_bridge_leave(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        bridge = _need(event, "BridgeUniqueid")
        channel = self._channel(event)
        if channel is None:
            return []
        members = self._bridges.get(bridge)
        if members is not None:
            members.pop(channel.uniqueid, None)
        channel.bridge = None
        channel.last_bridge = bridge
        consultation = self._consultation_of_target(channel.uniqueid)
        if (
            consultation is not None
            and bridge == consultation.consult_bridge
            and members is not None
            and consultation.navigator_uid in members
        ):
            consultation.target_left_first = True
        return []

    def _on_bridge_enter(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        bridge = _need(event, "BridgeUniqueid")
        channel = self._channel(event)
        if channel is None:
            return []
        members = self._bridge(bridge)
        members[channel.uniqueid] = None
        channel.bridge = bridge

        key_uid = self._by_navigator.get(channel.uniqueid)
        if key_uid is not None:
            consultation = self._consultations[key_uid]
            if bridge == consultation.consult_bridge:
                return []
            consultation.returned_at = at
            if consultation.target_uid in members:
                return []  # merged with the service (three-way): the AttendedTransfer follows
            return [self._conclude_consultation(consultation, at, None)]

        if not self._maybe_start_consultation(channel, bridge, members):
            for uid in list(members):
                other = self._channels.get(uid)
                if (
                    other is not None
                    and uid != channel.uniqueid
                    and uid not in self._by_navigator
                    and self._maybe_start_consultation(other, bridge, members)
                ):
                    break
        return []

    def _maybe_start_consultation(
        self, navigator: _Channel, bridge: str, members: dict[str, None]
    ) -> bool:
        """The navigator moved from the caller's bridge into a bridge holding a fresh
        ``Local/<exten>@<context>-XXXXXXXX;1`` channel: an attended transfer started.

        The consultation channel's Newchannel must have been seen (after a reconnect
        a consultation already under way is left to the reconciliation: its answer or
        its abort keys may have been missed)."""
        origin = navigator.last_bridge
        if origin is None or origin == bridge or navigator.bridge != bridge:
            return False
        others = [uid for uid in self._bridges.get(origin, {}) if uid != navigator.uniqueid]
        if not others:
            return False
        for uid in members:
            target = self._channels.get(uid)
            if target is None or uid == navigator.uniqueid or target.created_at is None:
                continue
            local = LOCAL_CHANNEL.fullmatch(target.name)
            if local is None or local["half"] != "1" or uid in self._by_target:
                continue
            exten, context = local["exten"], local["context"]
            if not self._accepts(context):
                continue
            if not (navigator.on_hold or target.transferer == navigator.name):
                continue
            caller = self._channels.get(others[0])
            variables = caller.variables if caller is not None else {}
            consultation = _Consultation(
                key_uid=uid,
                target_uid=uid,
                exten=exten,
                context=context,
                navigator_uid=navigator.uniqueid,
                navigator=navigator.name,
                orig_bridge=origin,
                consult_bridge=bridge,
                started_at=target.created_at,
                linkedid=(caller.linkedid if caller else None)
                or navigator.linkedid
                or target.linkedid
                or uid,
                caller_uid=others[0],
                caller_number=caller.number if caller else None,
                variables=dict(variables or navigator.variables),
            )
            navigator.digits = ""
            self._consultations[uid] = consultation
            self._by_navigator[navigator.uniqueid] = uid
            self._by_target[uid] = uid
            self._bound(self._consultations, self._drop_consultation)
            return True
        return False

    # -- dials --------------------------------------------------------------------

    def _first_half(self, event: Mapping[str, str]) -> _Channel | None:
        """The ``;1`` of the Local pair whose ``;2`` half is this event's ``Channel``."""
        if not event_text(event, "Uniqueid"):
            return None
        two = self._channel(event, learn=False)
        if two is None or not two.name.endswith(";2") or not LOCAL_CHANNEL.fullmatch(two.name):
            return None
        return self._channels.get(self._by_name.get(two.name[:-1] + "1", ""))

    def _on_dial_begin(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        one = self._first_half(event)
        if one is not None and one.inner_status is None:
            one.inner_status = _DIALING
        return []

    def _on_dial_state(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        status = _need(event, "DialStatus").upper()
        dest = self._channel(event, "Dest", learn=False)
        if dest is not None and dest.dial_status is None:
            dest.dial_status = status
        return []

    def _on_dial_end(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        """``DialEnd`` with only ``Dest*`` fields is the transfer feature's own dial of
        the consultation channel (``DialStatus: BUSY`` at once for ``912``, ``ANSWER``
        when the service picks up); with ``Channel`` too it is a ``Dial()`` the channel
        ran (the Local ``;2`` half dialling the service)."""
        status = _need(event, "DialStatus").upper()
        dest = self._channel(event, "Dest", learn=False)
        if dest is not None:
            dest.dial_status = status
            if status == "ANSWER" and dest.answered_at is None:
                dest.answered_at = at
        if event_text(event, "Uniqueid"):
            caller = self._channel(event, learn=False)
            if caller is not None:
                caller.outbound_status = status
            one = self._first_half(event)
            if one is not None:
                one.inner_status = status
        return []

    # -- transfers ----------------------------------------------------------------

    def _find_consultation(self, event: Mapping[str, str]) -> _Consultation | None:
        target_uid = event_text(event, "TransferTargetUniqueid")
        if target_uid:
            found = self._consultation_of_target(target_uid)
            if found is not None:
                return found
        second_bridge = event_text(event, "SecondBridgeUniqueid")
        for consultation in self._consultations.values():
            if second_bridge is not None and consultation.consult_bridge == second_bridge:
                return consultation
        for field_name in ("SecondTransfererUniqueid", "OrigTransfererUniqueid"):
            key_uid = self._by_navigator.get(event_text(event, field_name) or "")
            if key_uid is not None:
                return self._consultations.get(key_uid)
        return None

    def _local_in_bridge(self, event: Mapping[str, str]) -> _Channel | None:
        """After a reconnect: the ``Local/<exten>@<context>-XXXXXXXX;1`` channel last seen
        in the consultation bridge (``SecondBridgeUniqueid``), the navigator excepted."""
        bridge = event_text(event, "SecondBridgeUniqueid")
        transferers = {
            event_text(event, "OrigTransfererUniqueid"),
            event_text(event, "SecondTransfererUniqueid"),
        }
        if bridge is None:
            return None
        found: list[_Channel] = []
        for channel in self._channels.values():
            local = LOCAL_CHANNEL.fullmatch(channel.name)
            if (
                local is not None
                and local["half"] == "1"
                and channel.uniqueid not in transferers
                and bridge in (channel.bridge, channel.last_bridge)
                and self._accepts(local["context"])
            ):
                found.append(channel)
        found.sort(key=lambda channel: channel.transferer is None)
        return found[0] if found else None

    def _on_attended_transfer(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        """``TransferTarget*`` is missing from some AttendedTransfer events (the timed
        ``2a1`` run has none, and its CEL row says ``"transfer_target_channel_uniqueid":
        "N/A"``): the consultation is then found by ``SecondBridgeUniqueid``."""
        result = _need(event, "Result")
        consultation = self._find_consultation(event)
        if result == "Fail" and consultation is not None:
            # Only the caller hanging up while the service still rings gives Fail (2l1);
            # the caller's own Hangup usually comes first and has concluded it already.
            return [self._conclude_consultation(consultation, at, None, caller_hung_up=True)]
        if result != "Success":
            log.info("AttendedTransfer Result=%s: left to its consultation", result)
            return []
        if consultation is not None:
            self._drop_consultation(consultation.key_uid)
            key_uid = consultation.key_uid
            target = self._channels.get(consultation.target_uid)
        else:
            target_uid = event_text(event, "TransferTargetUniqueid")
            target = self._channels.get(target_uid) if target_uid else self._local_in_bridge(event)
            key_uid = target_uid or (
                target.uniqueid if target else _need(event, "TransferTargetUniqueid")
            )
        local = LOCAL_CHANNEL.fullmatch(
            event_text(event, "TransferTargetChannel") or (target.name if target else "")
        )
        exten = (
            (consultation.exten if consultation else None)
            or event_text(event, "TransferTargetExten")
            or (local["exten"] if local else None)
        )
        context = (
            (consultation.context if consultation else None)
            or event_text(event, "TransferTargetContext")
            or (local["context"] if local else None)
        )
        if exten is None or context is None:
            raise _BadEvent("TransferTargetExten")
        if not self._accepts(context):
            return []
        transferer = (
            event_text(event, "OrigTransfererChannel")
            or event_text(event, "SecondTransfererChannel")
            or (consultation.navigator if consultation else None)
        )
        if transferer is None:
            raise _BadEvent("OrigTransfererChannel")
        caller_uid = event_text(event, "TransfereeUniqueid") or (
            consultation.caller_uid if consultation else None
        )
        caller = self._channels.get(caller_uid) if caller_uid else None
        started = consultation.started_at if consultation else None
        if started is None:
            started = target.created_at if target and target.created_at else at
        linkedid = (
            event_text(event, "TransfereeLinkedid")
            or (consultation.linkedid if consultation else None)
            or _need(event, "OrigTransfererLinkedid")
        )
        variables = (caller.variables if caller else None) or (
            consultation.variables if consultation else {}
        )
        kind = Kind.THREEWAY if event_text(event, "DestType") == "Threeway" else Kind.ATTENDED
        return [
            self._fact(
                key=f"atxfer:{key_uid}",
                kind=kind,
                outcome=Outcome.COMPLETED,
                started_at=started,
                ended_at=at,
                linkedid=linkedid,
                navigator=transferer,
                exten=exten,
                context=context,
                answer_delay_s=_delay(started, target),
                caller_uid=caller_uid,
                caller_number=event_text(event, "TransfereeCallerIDNum")
                or (caller.number if caller else None)
                or (consultation.caller_number if consultation else None),
                variables=variables,
            )
        ]

    def _on_blind_transfer(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        """``Result: Invalid`` (``2g``: BlindTransfer on the navigator's phone half) carries
        no transferee: a refused transfer is no fact, and the action reports it."""
        result = _need(event, "Result")
        if result != "Success":
            log.info("BlindTransfer Result=%s: no fact", result)
            return []
        transferee = _need(event, "TransfereeUniqueid")
        bridge = _need(event, "BridgeUniqueid")
        exten = _need(event, "Extension")
        context = _need(event, "Context")
        if not self._accepts(context):
            return []
        caller = self._channels.get(transferee)
        return [
            self._fact(
                key=f"blind:{transferee}:{bridge}",
                kind=Kind.BLIND,
                outcome=Outcome.COMPLETED,
                started_at=at,
                ended_at=at,
                linkedid=event_text(event, "TransfereeLinkedid")
                or _need(event, "TransfererLinkedid"),
                navigator=_need(event, "TransfererChannel"),
                exten=exten,
                context=context,
                answer_delay_s=None,
                caller_uid=transferee,
                caller_number=event_text(event, "TransfereeCallerIDNum")
                or (caller.number if caller else None),
                variables=caller.variables if caller else {},
            )
        ]

    def _on_user_event(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        """A referral without transfer, given with the navigator's *7 feature (``6b``)::

            Event: UserEvent
            Channel: Local/nav-alice@lab-navs-0000001b;1
            Uniqueid: 1796398509.57
            Linkedid: 1796398477.55
            UserEvent: IVR211Referral
            Destination: 811
            Code: 811

        Keyed ``referral:<Linkedid>:<Destination>`` like its CEL row ``IVR211_REFERRAL``
        (same call, same destination key), so either source writes it once. The caller
        is the one bridged with the navigator; language and path are the caller's."""
        if event_text(event, "UserEvent") != REFERRAL_USER_EVENT:
            return []
        destination = _need(event, REFERRAL_DESTINATION_HEADER)
        if len(destination) > 40:
            raise _BadEvent(REFERRAL_DESTINATION_HEADER)
        linkedid = _need(event, "Linkedid")
        navigator_name = _need(event, "Channel")
        navigator = self._channel(event)
        caller: _Channel | None = None
        if navigator is not None and navigator.bridge is not None:
            others = [
                uid for uid in self._bridges.get(navigator.bridge, {}) if uid != navigator.uniqueid
            ]
            uid = linkedid if linkedid in others else min(others, default=None)
            caller = self._channels.get(uid) if uid is not None else None
        variables: Mapping[str, str] = (caller.variables if caller else None) or (
            navigator.variables if navigator else {}
        )
        return [
            TransferFact(
                key=f"referral:{linkedid}:{destination}",
                kind=Kind.REFERRAL,
                outcome=Outcome.COMPLETED,
                started_at=at,
                ended_at=at,
                linkedid=linkedid,
                navigator_channel=channel_endpoint(navigator_name),
                destination=destination,
                target_exten="",
                target_context="",
                caller_uniqueid=caller.uniqueid if caller else None,
                caller_number=caller.number if caller else None,
                language=_language(variables),
                path=variables.get("IVR_PATH") or None,
                interpreter=_interpreter(variables),
            )
        ]

    def _on_local_optimization_begin(
        self, event: Mapping[str, str], at: datetime
    ) -> list[TransferFact]:
        """Should a consultation's Local pair optimise away before the transfer is
        done (never seen in the lab: it happens ~0.4 s after it), the channel that takes
        its place (``SourceUniqueid``) carries the consultation on, under the same key."""
        one = self._channel(event, "LocalOne", learn=False)
        source = event_text(event, "SourceUniqueid")
        if one is not None and source and self._consultation_of_target(one.uniqueid):
            one.optimizing_into = source
        return []

    # -- conclusions --------------------------------------------------------------

    def _conclude_consultation(
        self,
        consultation: _Consultation,
        ended_at: datetime,
        cause: int | None,
        *,
        caller_hung_up: bool = False,
    ) -> TransferFact:
        """No AttendedTransfer came: tell why from the dial, the keys, who left first, and
        whether the caller hung up meanwhile (``listener.outcome``)."""
        self._drop_consultation(consultation.key_uid)
        target = self._channels.get(consultation.target_uid)
        navigator = self._channels.get(consultation.navigator_uid)
        digits = navigator.digits if navigator is not None else consultation.navigator_digits
        aborted = bool(self._abort_code) and self._abort_code in digits
        outcome = consultation_outcome(
            answered=target is not None and target.answered_at is not None,
            answered_by_dial=target is not None and target.answered_by_dial,
            statuses=[target.dial_status, target.inner_status] if target is not None else [],
            causes=[cause],
            target_left_first=consultation.target_left_first,
            navigator_cancelled=aborted or (target is not None and target.dial_status == "CANCEL"),
            caller_hung_up=caller_hung_up,
        )
        caller = self._channels.get(consultation.caller_uid or "")
        return self._fact(
            key=f"atxfer:{consultation.key_uid}",
            kind=Kind.ATTENDED,
            outcome=outcome,
            started_at=consultation.started_at,
            ended_at=ended_at,
            linkedid=consultation.linkedid,
            navigator=consultation.navigator,
            exten=consultation.exten,
            context=consultation.context,
            answer_delay_s=_delay(consultation.started_at, target),
            caller_uid=consultation.caller_uid,
            caller_number=(caller.number if caller else None) or consultation.caller_number,
            variables=(caller.variables if caller else None) or consultation.variables,
        )

    def _on_confbridge_join(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        uid = _need(event, "Uniqueid")
        conference = self._conferences.get(uid)
        if conference is None or event_text(event, "Conference") != conference.conference:
            return []
        del self._conferences[uid]
        channel = self._channels.get(uid)
        # The join may come before the inner Dial's DialEnd ANSWER (2d1); a Local channel
        # whose inner Dial ended unanswered, or never began, was answered by our prompt
        # (number busy, or no number): the prompt joined, not the service.
        by_dial = (
            channel is None
            or not LOCAL_CHANNEL.fullmatch(channel.name)
            or channel.inner_status in ("ANSWER", _DIALING)
        )
        outcome = joined_outcome(
            answered_by_dial=by_dial,
            statuses=[channel.dial_status, channel.inner_status] if channel else [],
            causes=[],
        )
        if by_dial:
            conference.answered_at = (channel.answered_at if channel else None) or at
        return [self._conference_fact(conference, outcome, at)]

    def _conference_fact(
        self, conference: _Conference, outcome: Outcome, at: datetime
    ) -> TransferFact:
        caller = self._channels.get(conference.caller_uid or "")
        variables = caller.variables if caller is not None else {}
        return TransferFact(
            key=f"conf:{conference.service_uid}",
            kind=Kind.THREEWAY,
            outcome=outcome,
            started_at=conference.started_at,
            ended_at=at,
            linkedid=conference.linkedid,
            navigator_channel=conference.navigator,
            destination=conference.destination,
            target_exten=conference.exten,
            target_context=conference.context,
            answer_delay_s=_since(conference.started_at, conference.answered_at),
            caller_uniqueid=conference.caller_uid,
            caller_number=caller.number if caller else None,
            language=_language(variables),
            path=variables.get("IVR_PATH") or None,
            interpreter=_interpreter(variables),
            source=Source.ACTION,
        )

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
            language=_language(variables),
            path=variables.get("IVR_PATH") or None,
            interpreter=_interpreter(variables),
        )
