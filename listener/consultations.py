"""The transfer interpreter's transfer state machine: an attended transfer's
consultation followed from the navigator leaving the caller's bridge to its end (the
``AttendedTransfer`` event, the navigator coming back, or a hang-up), blind transfers,
and the Local pair optimising away under a consultation. What Asterisk sends for each
is in :mod:`listener.interpreter`'s docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from ivr.channels import event_text
from listener.channeltables import (
    BadEvent,
    Channel,
    Consultation,
    InterpreterTables,
    hangup_cause,
    need,
    service_delay,
)
from listener.outcome import LOCAL_CHANNEL, consultation_outcome
from store.facts import Kind, Outcome, TransferFact

__all__ = ["ConsultationEvents"]

#: The interpreter's one logger, whichever module of it logs.
log = logging.getLogger("listener.interpreter")


class ConsultationEvents(InterpreterTables):
    """Attended and blind transfers."""

    def _hangup_consultations(
        self, uid: str, channel: Channel | None, event: Mapping[str, str], at: datetime
    ) -> list[TransferFact]:
        """A channel hung up: the consultation it was the service of ends (or moves to the
        channel its Local pair optimised into), those of a caller who hung up end as
        attempts, and a navigator's keys are kept for the consultation it led."""
        facts: list[TransferFact] = []
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
                self._conclude_consultation(
                    consultation, ended, hangup_cause(event_text(event, "Cause"))
                )
            )
        for waiting in [c for c in self._consultations.values() if c.caller_uid == uid]:
            facts.append(self._conclude_consultation(waiting, at, None, caller_hung_up=True))
        led = self._consultations.get(self._by_navigator.get(uid, ""))
        if led is not None and channel is not None:
            led.navigator_digits = channel.digits
        return facts

    # -- bridges: where a consultation starts and ends -------------------------------

    def _on_bridge_leave(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        bridge = need(event, "BridgeUniqueid")
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
        bridge = need(event, "BridgeUniqueid")
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
        self, navigator: Channel, bridge: str, members: dict[str, None]
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
            consultation = Consultation(
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

    # -- transfers ----------------------------------------------------------------

    def _find_consultation(self, event: Mapping[str, str]) -> Consultation | None:
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

    def _local_in_bridge(self, event: Mapping[str, str]) -> Channel | None:
        """After a reconnect: the ``Local/<exten>@<context>-XXXXXXXX;1`` channel last seen
        in the consultation bridge (``SecondBridgeUniqueid``), the navigator excepted."""
        bridge = event_text(event, "SecondBridgeUniqueid")
        transferers = {
            event_text(event, "OrigTransfererUniqueid"),
            event_text(event, "SecondTransfererUniqueid"),
        }
        if bridge is None:
            return None
        found: list[Channel] = []
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
        result = need(event, "Result")
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
                target.uniqueid if target else need(event, "TransferTargetUniqueid")
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
            raise BadEvent("TransferTargetExten")
        if not self._accepts(context):
            return []
        transferer = (
            event_text(event, "OrigTransfererChannel")
            or event_text(event, "SecondTransfererChannel")
            or (consultation.navigator if consultation else None)
        )
        if transferer is None:
            raise BadEvent("OrigTransfererChannel")
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
            or need(event, "OrigTransfererLinkedid")
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
                answer_delay_s=service_delay(started, target),
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
        result = need(event, "Result")
        if result != "Success":
            log.info("BlindTransfer Result=%s: no fact", result)
            return []
        transferee = need(event, "TransfereeUniqueid")
        bridge = need(event, "BridgeUniqueid")
        exten = need(event, "Extension")
        context = need(event, "Context")
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
                or need(event, "TransfererLinkedid"),
                navigator=need(event, "TransfererChannel"),
                exten=exten,
                context=context,
                answer_delay_s=None,
                caller_uid=transferee,
                caller_number=event_text(event, "TransfereeCallerIDNum")
                or (caller.number if caller else None),
                variables=caller.variables if caller else {},
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
        consultation: Consultation,
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
            answer_delay_s=service_delay(consultation.started_at, target),
            caller_uid=consultation.caller_uid,
            caller_number=(caller.number if caller else None) or consultation.caller_number,
            variables=(caller.variables if caller else None) or consultation.variables,
        )
