"""Transfer facts from Asterisk's CEL rows (cel_custom CSV), for `ivr211 reconcile`.

The AMI stream is the live source; CEL is what Asterisk wrote down on its own disk, so
it still holds the transfers made while the listener was away. This module reads the
rows of ``asterisk_conf/cel_custom.conf`` and reaches the same facts as the AMI
interpreter: same keys (``store.facts``), kinds and outcomes.

The rows are read by :mod:`listener.celrows`.

What CEL tells, and what it does not (from the recorded scenarios 2a-2f):

* ATTENDEDTRANSFER is written only for a transfer that succeeded; its ``extra`` has no
  destination type, so a three-way (``*3``, AMI ``DestType=Threeway``) is told apart by
  the transferer's bridge: after a plain transfer the navigator has left every bridge
  when the row is written (2a1, 2a2, 2f2); after ``*3`` it has just entered the
  caller's bridge (2d2).
* ATTENDEDTRANSFER may say ``"transfer_target_channel_uniqueid":"N/A"`` (5-timestamped
  2a1; its AMI AttendedTransfer has no TransferTarget* headers either): the
  consultation is then the one in ``bridge2_id`` (or ``bridge1_id``).
* An abandoned consultation leaves no transfer row. The consultation channel is the
  ``Local/<exten>@<context>-XXXXXXXX;1`` that enters a bridge *before* it is answered,
  joined there by the navigator coming from the caller's bridge. Its end says how it
  went, by the rule of ``listener.outcome`` shared with the AMI interpreter: hangup
  cause 17 or dial status BUSY -> busy (2b2); NOANSWER or cause 18/19 -> not answered;
  CHANUNAVAIL/CONGESTION or a network cause -> failed; answered by the service, then
  the service left the bridge first -> failed (2b4), the navigator first -> abandoned.
* The service answered only when the ``;2`` half's ANSWER row was written by ``Dial``;
  one written by ``Playback`` is our own "transfer failed" prompt (2q, 6a): no answer
  delay, and the outcome from the inner leg (the ``;2`` half's ``dialstatus``, BUSY in
  6a), failed when it dialled nothing (no number).
* The caller's own CHAN_END while the navigator is still in the consultation bridge
  ends it: the caller hung up (2l1 ringing, 2l2 and 2k answered; no ATTENDEDTRANSFER
  row in any of them), concluded at that row's time as the AMI interpreter does at the
  caller's Hangup.
* Unanswered with a normal clearing (cause 16, no dial status) is the same in CEL for
  the ``atxfernoanswertimeout`` expiry (2b1), an AMI ``CancelAtxfer`` (2b3) and the
  ``*1`` abort (2b5): the rows differ only in timing (peer column and hangup order
  vary between recordings of the same scenario). The rule: the navigator left the
  consultation at least ``atxfernoanswertimeout`` after it was dialled -> not answered,
  else abandoned. With whole-second times an abort in the last second before the
  timeout reads as not answered; neither outcome counts as a bascule.
* BLINDTRANSFER, also only on success, carries the transferee and the bridge (2c1, 2c3).
  A Redirect (2c2) and an Atxfer without the transfer feature (2b6) leave nothing.
* A three-way through ConfBridge (2d1) is recognised only for the service channel that
  our own Originate names ``ivr211-conf-...`` (``ChannelId``): joined -> completed, hung
  up before joining -> failed (busy / not answered when the cause says so).
* A referral without transfer is the ``CELGenUserEvent(IVR211_REFERRAL,<key>)`` that the
  navigator's feature code runs; cel_custom writes the user-defined name in
  ``eventtype`` (not ``USER_DEFINED``) and ``{"extra":"<key>"}`` in ``extra`` (2n, 6b).
  The listener records the same referral live from the feature's ``UserEvent:
  IVR211Referral``, under the same key ``referral:<linkedid>:<key>``.

CEL carries no channel variables: a fact from CEL has no language, path or interpreter
flag, and no caller number (not needed after the call; kept out on purpose). Nor can
CEL tell a navigator's abort from the no-answer timeout except by the time rung (above),
nor why an unanswered consultation hung up when no cause or dial status says it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ivr.channels import channel_endpoint
from listener.celrows import (
    COLUMNS,
    CelError,
    CelRow,
    parse_eventtime,
    parse_row,
    read_rows,
)
from listener.outcome import LOCAL_CHANNEL, answer_delay, consultation_outcome, dial_outcome
from store.facts import Kind, Outcome, Source, TransferFact

__all__ = [
    "COLUMNS",
    "CONF_CHANNEL_PREFIX",
    "DEFAULT_NOANSWER_TIMEOUT_S",
    "REFERRAL_CEL_EVENT",
    "REFERRAL_DESTINATION_HEADER",
    "REFERRAL_USER_EVENT",
    "CelError",
    "CelInterpreter",
    "CelRow",
    "facts_from_rows",
    "parse_eventtime",
    "parse_row",
    "read_rows",
]

#: Name of the AMI UserEvent raised by the referral feature code (features.conf
#: ``[applicationmap]``, extensions.conf ``[ivr211-referral]``): ``UserEvent: IVR211Referral``.
REFERRAL_USER_EVENT = "IVR211Referral"
#: Header of that UserEvent that carries the destination key: ``Destination: 811``.
REFERRAL_DESTINATION_HEADER = "Destination"
#: CEL user-defined event name of the same referral (``CELGenUserEvent``).
REFERRAL_CEL_EVENT = "IVR211_REFERRAL"
#: ``ChannelId`` prefix of the service channel our own three-way Originate creates.
CONF_CHANNEL_PREFIX = "ivr211-conf-"
#: Asterisk's default ``atxfernoanswertimeout`` (features.conf), in seconds.
DEFAULT_NOANSWER_TIMEOUT_S = 15.0

#: The application that writes a Local ``;2`` half's ANSWER row when the service itself
#: answered its Dial(); a prompt of the dialplan writes ``Playback`` (2q, 6a).
_DIAL_APP = "Dial"

Resolver = Callable[[str, str], str | None]


def _name_base(channel_name: str) -> str:
    return channel_name.rsplit(";", 1)[0]


def _str(extra: Mapping[str, object], key: str) -> str:
    value = extra.get(key)
    return value if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


@dataclass(eq=False)
class _Channel:
    uniqueid: str
    name: str
    linkedid: str
    exten: str
    context: str
    started_at: datetime
    answered_at: datetime | None = None
    answer_app: str = ""  # the application that answered it (CEL ANSWER's appname)
    bridge: str | None = None
    left_bridge: str | None = None
    left_bridge_members: frozenset[str] = frozenset()
    hangup_cause: int | None = None
    dialstatus: str = ""
    ended_at: datetime | None = None


@dataclass(eq=False)
class _Consultation:
    channel: _Channel
    bridge: str
    precise: bool
    transferer: _Channel | None = None
    caller_uniqueid: str | None = None
    transferer_left_at: datetime | None = None
    target_left_first: bool | None = None
    done: bool = False


@dataclass(eq=False)
class _Conference:
    channel: _Channel
    joined: bool = False
    done: bool = False
    prompt_joined_at: datetime | None = None  # our prompt joined the room, not the service
    room: frozenset[str] = frozenset()  # who was in the room then


@dataclass
class CelInterpreter:
    """Feed rows in file order; each call returns the facts concluded by that row.

    ``resolve_destination(exten, context)`` gives the directory key of a dialled
    extension (None when not in the directory). ``transfer_contexts``: contexts a
    consultation channel may be dialled into (None: any). ``noanswer_timeout_s``: the
    PBX's ``atxfernoanswertimeout``. Pure: no I/O, no clock.
    """

    resolve_destination: Resolver
    transfer_contexts: Collection[str] | None = None
    noanswer_timeout_s: float = DEFAULT_NOANSWER_TIMEOUT_S
    _channels: dict[str, _Channel] = field(default_factory=dict, init=False)
    _halves: dict[str, dict[str, _Channel]] = field(default_factory=dict, init=False)
    _bridges: dict[str, set[str]] = field(default_factory=dict, init=False)
    _consults: dict[str, _Consultation] = field(default_factory=dict, init=False)
    _confs: dict[str, _Conference] = field(default_factory=dict, init=False)
    _referrals: dict[str, set[str]] = field(default_factory=dict, init=False)

    def feed(self, row: CelRow) -> list[TransferFact]:
        handler = _HANDLERS.get(row.eventtype)
        if handler is not None:
            return handler(self, row)
        if row.eventtype == REFERRAL_CEL_EVENT:
            return self._referral(row)
        return []

    def finish(self) -> list[TransferFact]:
        """End of input: conclude what has ended; forget what is still in progress."""
        facts = [
            fact
            for consult in list(self._consults.values())
            if consult.channel.ended_at is not None
            for fact in self._conclude_consultation(consult, force=True)
        ]
        self._channels.clear()
        self._halves.clear()
        self._bridges.clear()
        self._consults.clear()
        self._confs.clear()
        self._referrals.clear()
        return facts

    # ---- one method per event type ---------------------------------------------------

    def _chan_start(self, row: CelRow) -> list[TransferFact]:
        chan = _Channel(
            uniqueid=row.uniqueid,
            name=row.channame,
            linkedid=row.linkedid,
            exten=row.exten,
            context=row.context,
            started_at=row.eventtime,
        )
        self._channels[row.uniqueid] = chan
        if ";" in row.channame:
            half = row.channame.rsplit(";", 1)[1]
            self._halves.setdefault(_name_base(row.channame), {})[half] = chan
        if row.uniqueid.startswith(CONF_CHANNEL_PREFIX):
            self._confs[row.uniqueid] = _Conference(chan)
        return []

    def _answer(self, row: CelRow) -> list[TransferFact]:
        chan = self._channels.get(row.uniqueid)
        if chan is not None and chan.answered_at is None:
            chan.answered_at = row.eventtime
            chan.answer_app = row.appname
        return []

    def _bridge_enter(self, row: CelRow) -> list[TransferFact]:
        bridge = _str(row.extra, "bridge_id")
        chan = self._channels.get(row.uniqueid)
        if not bridge or chan is None:
            return []
        members = self._bridges.setdefault(bridge, set())
        members.add(chan.uniqueid)
        chan.bridge = bridge
        if self._is_consultation_start(chan):
            self._consults[chan.uniqueid] = _Consultation(chan, bridge, row.precise)
            return []
        for uid in members - {chan.uniqueid}:
            consult = self._consults.get(uid)
            if (
                consult is not None
                and consult.transferer is None
                and consult.bridge == bridge
                and chan.left_bridge not in (None, bridge)
                and chan.linkedid == consult.channel.linkedid
            ):
                consult.transferer = chan
                consult.caller_uniqueid = _caller_of(chan.left_bridge_members, chan.linkedid)
        conf = self._confs.get(chan.uniqueid)
        if conf is not None and not conf.done and row.appname == "ConfBridge":
            conf.joined = True
            if not self._answered_by_dial(chan):
                # why the prompt answered (busy, no number) is in the ;2 half's HANGUP row,
                # written before this channel ends: concluded then (_chan_end)
                conf.prompt_joined_at, conf.room = row.eventtime, frozenset(members)
                return []
            conf.done = True
            return [self._conference_fact(conf, row.eventtime, Outcome.COMPLETED, members)]
        return []

    def _bridge_exit(self, row: CelRow) -> list[TransferFact]:
        bridge = _str(row.extra, "bridge_id")
        chan = self._channels.get(row.uniqueid)
        if not bridge or chan is None:
            return []
        members = self._bridges.get(bridge, set())
        members.discard(chan.uniqueid)
        chan.left_bridge = bridge
        chan.left_bridge_members = frozenset(members)
        if chan.bridge == bridge:
            chan.bridge = None
        for consult in self._consults.values():
            if consult.bridge != bridge or consult.done:
                continue
            if consult.channel is chan and consult.target_left_first is None:
                consult.target_left_first = consult.transferer is not None and (
                    consult.transferer.bridge == bridge
                )
            elif consult.transferer is chan and consult.transferer_left_at is None:
                consult.transferer_left_at = row.eventtime
                if consult.target_left_first is None:
                    consult.target_left_first = False
        if not members:
            self._bridges.pop(bridge, None)
        return []

    def _hangup(self, row: CelRow) -> list[TransferFact]:
        chan = self._channels.get(row.uniqueid)
        if chan is not None:
            chan.hangup_cause = _int(row.extra.get("hangupcause"))
            chan.dialstatus = _str(row.extra, "dialstatus").upper()
        return []

    def _chan_end(self, row: CelRow) -> list[TransferFact]:
        chan = self._channels.pop(row.uniqueid, None)
        if chan is None:
            return []
        chan.ended_at = row.eventtime
        base = _name_base(chan.name)
        halves = self._halves.get(base, {})
        facts: list[TransferFact] = []
        for waiting in list(self._consults.values()):
            if (
                waiting.caller_uniqueid == chan.uniqueid
                and waiting.transferer is not None
                and waiting.transferer_left_at is None
                and not waiting.done
            ):
                facts.extend(self._conclude_consultation(waiting, caller_hung_up_at=row.eventtime))
        for half in halves.values():
            consult = self._consults.get(half.uniqueid)
            if consult is not None:
                facts.extend(self._conclude_consultation(consult, force=False))
        conf = self._confs.pop(chan.uniqueid, None)
        if conf is not None and not conf.done:
            conf.done = True
            both = list(halves.values()) or [chan]
            outcome = dial_outcome([h.dialstatus for h in both], [h.hangup_cause for h in both])
            ended = conf.prompt_joined_at or row.eventtime
            facts.append(self._conference_fact(conf, ended, outcome or Outcome.FAILED, conf.room))
        if all(h.ended_at is not None for h in halves.values()):
            self._halves.pop(base, None)
        return facts

    def _linkedid_end(self, row: CelRow) -> list[TransferFact]:
        self._referrals.pop(row.linkedid, None)
        return []

    def _in_transfer_context(self, context: str) -> bool:
        """Only transfers into the navigators' transfer context count (as in the AMI
        interpreter): anything else is not a bascule of ours."""
        return self.transfer_contexts is None or context in self.transfer_contexts

    def _attended_transfer(self, row: CelRow) -> list[TransferFact]:
        target = _str(row.extra, "transfer_target_channel_uniqueid")
        if target == "N/A":
            target = ""
        transferer = self._channels.get(row.uniqueid) or self._channels.get(
            _str(row.extra, "channel2_uniqueid")
        )
        kind = Kind.THREEWAY if transferer is not None and transferer.bridge else Kind.ATTENDED
        caller = _str(row.extra, "transferee_channel_uniqueid")
        consult = self._consults.pop(target, None) if target else None
        if consult is None:
            bridges = {_str(row.extra, "bridge1_id"), _str(row.extra, "bridge2_id")} - {""}
            consult = next(
                (c for c in self._consults.values() if c.bridge in bridges and not c.done), None
            )
            if consult is not None:
                self._consults.pop(consult.channel.uniqueid, None)
        delay = None
        if consult is not None:
            consult.done = True
            chan = consult.channel
            target = chan.uniqueid
            exten, context, started = chan.exten, chan.context, chan.started_at
            delay = answer_delay(
                started, chan.answered_at, answered_by_dial=self._answered_by_dial(chan)
            )
        elif target:
            match = LOCAL_CHANNEL.fullmatch(_str(row.extra, "transfer_target_channel_name"))
            match = match if match and match["half"] == "1" else None
            exten = match["exten"] if match else ""
            context = match["context"] if match else ""
            started = row.eventtime
        else:
            return []
        if not self._in_transfer_context(context):
            return []
        return [
            TransferFact(
                key=f"atxfer:{target}",
                kind=kind,
                outcome=Outcome.COMPLETED,
                started_at=started,
                ended_at=row.eventtime,
                linkedid=row.linkedid,
                navigator_channel=channel_endpoint(row.channame),
                destination=self.resolve_destination(exten, context),
                target_exten=exten,
                target_context=context,
                answer_delay_s=delay,
                caller_uniqueid=caller if caller and caller != "N/A" else None,
                source=Source.CEL,
            )
        ]

    def _blind_transfer(self, row: CelRow) -> list[TransferFact]:
        transferee = _str(row.extra, "transferee_channel_uniqueid")
        bridge = _str(row.extra, "bridge_id")
        if not transferee or transferee == "N/A" or not bridge:
            return []
        exten, context = _str(row.extra, "extension"), _str(row.extra, "context")
        if not self._in_transfer_context(context):
            return []
        return [
            TransferFact(
                key=f"blind:{transferee}:{bridge}",
                kind=Kind.BLIND,
                outcome=Outcome.COMPLETED,
                started_at=row.eventtime,
                ended_at=row.eventtime,
                linkedid=row.linkedid,
                navigator_channel=channel_endpoint(row.channame),
                destination=self.resolve_destination(exten, context),
                target_exten=exten,
                target_context=context,
                caller_uniqueid=transferee,
                source=Source.CEL,
            )
        ]

    def _referral(self, row: CelRow) -> list[TransferFact]:
        destination = _str(row.extra, "extra").strip()
        if not destination or not row.linkedid:
            return []
        seen = self._referrals.setdefault(row.linkedid, set())
        if destination in seen:
            return []
        seen.add(destination)
        chan = self._channels.get(row.uniqueid)
        members = self._bridges.get(chan.bridge, set()) if chan and chan.bridge else set()
        return [
            TransferFact(
                key=f"referral:{row.linkedid}:{destination}",
                kind=Kind.REFERRAL,
                outcome=Outcome.COMPLETED,
                started_at=row.eventtime,
                ended_at=row.eventtime,
                linkedid=row.linkedid,
                navigator_channel=channel_endpoint(row.channame),
                destination=destination,
                target_exten="",
                target_context="",
                caller_uniqueid=_caller_of(members - {row.uniqueid}, row.linkedid),
                source=Source.CEL,
            )
        ]

    # ---- conclusions -------------------------------------------------------------------

    def _is_consultation_start(self, chan: _Channel) -> bool:
        return (
            chan.answered_at is None
            and chan.name.startswith("Local/")
            and chan.name.endswith(";1")
            and not chan.uniqueid.startswith(CONF_CHANNEL_PREFIX)
            and chan.uniqueid not in self._consults
            and self._in_transfer_context(chan.context)
        )

    def _answered_by_dial(self, chan: _Channel) -> bool:
        """Its ``;2`` half was answered by Dial(): the service answered, not our prompt."""
        partner = self._halves.get(_name_base(chan.name), {}).get("2")
        return partner is not None and partner.answer_app == _DIAL_APP

    def _conclude_consultation(
        self,
        consult: _Consultation,
        *,
        force: bool = False,
        caller_hung_up_at: datetime | None = None,
    ) -> list[TransferFact]:
        """Once both halves have ended (or at once, when the caller hung up meanwhile:
        ``caller_hung_up_at``), by the rule of ``listener.outcome``."""
        chan = consult.channel
        if consult.done:
            return []
        if caller_hung_up_at is None and chan.ended_at is None:
            return []
        partner = self._halves.get(_name_base(chan.name), {}).get("2")
        if (
            caller_hung_up_at is None
            and not force
            and partner is not None
            and partner.ended_at is None
        ):
            return []
        consult.done = True
        self._consults.pop(chan.uniqueid, None)
        if consult.transferer is None:
            return []
        ended = caller_hung_up_at or chan.ended_at or chan.started_at
        halves = [h for h in (chan, partner) if h is not None]
        left = consult.transferer_left_at or ended
        slack = 0.25 if consult.precise else 0.0
        rang = (left - chan.started_at).total_seconds()
        by_dial = self._answered_by_dial(chan)
        outcome = consultation_outcome(
            answered=chan.answered_at is not None,
            answered_by_dial=by_dial,
            statuses=[h.dialstatus for h in halves],
            causes=[h.hangup_cause for h in halves],
            target_left_first=bool(consult.target_left_first),
            navigator_cancelled=rang < self.noanswer_timeout_s - slack,
            caller_hung_up=caller_hung_up_at is not None,
        )
        return [
            TransferFact(
                key=f"atxfer:{chan.uniqueid}",
                kind=Kind.ATTENDED,
                outcome=outcome,
                started_at=chan.started_at,
                ended_at=ended,
                linkedid=chan.linkedid,
                navigator_channel=channel_endpoint(consult.transferer.name),
                destination=self.resolve_destination(chan.exten, chan.context),
                target_exten=chan.exten,
                target_context=chan.context,
                answer_delay_s=answer_delay(
                    chan.started_at, chan.answered_at, answered_by_dial=by_dial
                ),
                caller_uniqueid=consult.caller_uniqueid,
                source=Source.CEL,
            )
        ]

    def _conference_fact(
        self, conf: _Conference, ended: datetime, outcome: Outcome, members: Collection[str]
    ) -> TransferFact:
        chan = conf.channel
        others = [self._channels[u] for u in members if u != chan.uniqueid and u in self._channels]
        people = [o for o in others if not o.name.startswith("CBAnn/")]
        linkedid = next((o.linkedid for o in people), chan.linkedid)
        navigator = next(
            (o.name for o in people if o.linkedid == linkedid and o.uniqueid != linkedid), ""
        )
        caller = next((o.uniqueid for o in people if o.uniqueid == linkedid), None)
        return TransferFact(
            key=f"conf:{chan.uniqueid}",
            kind=Kind.THREEWAY,
            outcome=outcome,
            started_at=chan.started_at,
            ended_at=ended,
            linkedid=linkedid,
            navigator_channel=channel_endpoint(navigator),
            destination=self.resolve_destination(chan.exten, chan.context),
            target_exten=chan.exten,
            target_context=chan.context,
            answer_delay_s=answer_delay(
                chan.started_at, chan.answered_at, answered_by_dial=self._answered_by_dial(chan)
            ),
            caller_uniqueid=caller,
            source=Source.CEL,
        )


_HANDLERS: Mapping[str, Callable[[CelInterpreter, CelRow], list[TransferFact]]] = {
    "CHAN_START": CelInterpreter._chan_start,
    "ANSWER": CelInterpreter._answer,
    "BRIDGE_ENTER": CelInterpreter._bridge_enter,
    "BRIDGE_EXIT": CelInterpreter._bridge_exit,
    "HANGUP": CelInterpreter._hangup,
    "CHAN_END": CelInterpreter._chan_end,
    "LINKEDID_END": CelInterpreter._linkedid_end,
    "ATTENDEDTRANSFER": CelInterpreter._attended_transfer,
    "BLINDTRANSFER": CelInterpreter._blind_transfer,
}


def _caller_of(members: Iterable[str], linkedid: str) -> str | None:
    ordered = sorted(members)
    if linkedid in ordered:
        return linkedid
    return ordered[0] if ordered else None


def facts_from_rows(
    rows: Iterable[CelRow],
    resolve_destination: Resolver,
    *,
    transfer_contexts: Collection[str] | None = None,
    noanswer_timeout_s: float = DEFAULT_NOANSWER_TIMEOUT_S,
) -> list[TransferFact]:
    """Every fact the rows conclude, in the order they are concluded."""
    interpreter = CelInterpreter(resolve_destination, transfer_contexts, noanswer_timeout_s)
    facts = [fact for row in rows for fact in interpreter.feed(row)]
    return facts + interpreter.finish()
