"""The transfer interpreter's facts of the line's own features: a referral without
transfer given with the navigator's *7 key (``UserEvent: IVR211Referral``), and the
three-ways through a ConfBridge that our own action announced
(``Interpreter.expect_conference``), concluded by the service's ``ConfbridgeJoin`` or its
hang-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ivr.channels import channel_endpoint, event_text
from ivr.times import require_utc
from listener.cel import REFERRAL_DESTINATION_HEADER, REFERRAL_USER_EVENT
from listener.channeltables import (
    DIALING,
    BadEvent,
    Channel,
    Conference,
    InterpreterTables,
    caller_language,
    hangup_cause,
    need,
    seconds_between,
    with_interpreter,
)
from listener.outcome import LOCAL_CHANNEL, dial_outcome, joined_outcome
from store.facts import Kind, Outcome, Source, TransferFact

__all__ = ["ReferralEvents"]


class ReferralEvents(InterpreterTables):
    """*7 referrals and announced three-ways."""

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
        self._conferences[service_uniqueid] = Conference(
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

    def _hangup_conference(
        self, uid: str, channel: Channel | None, event: Mapping[str, str], at: datetime
    ) -> list[TransferFact]:
        """The service channel of an announced three-way hung up before joining: failed
        (unless the link dropped since it was announced)."""
        conference = self._conferences.pop(uid, None)
        if conference is not None and conference.certain:
            statuses = [channel.dial_status, channel.inner_status] if channel else []
            outcome = (
                dial_outcome(statuses, [hangup_cause(event_text(event, "Cause"))]) or Outcome.FAILED
            )
            return [self._conference_fact(conference, outcome, at)]
        return []

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
        destination = need(event, REFERRAL_DESTINATION_HEADER)
        if len(destination) > 40:
            raise BadEvent(REFERRAL_DESTINATION_HEADER)
        linkedid = need(event, "Linkedid")
        navigator_name = need(event, "Channel")
        navigator = self._channel(event)
        caller: Channel | None = None
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
                language=caller_language(variables),
                path=variables.get("IVR_PATH") or None,
                interpreter=with_interpreter(variables),
            )
        ]

    def _on_confbridge_join(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        uid = need(event, "Uniqueid")
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
            or channel.inner_status in ("ANSWER", DIALING)
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
        self, conference: Conference, outcome: Outcome, at: datetime
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
            answer_delay_s=seconds_between(conference.started_at, conference.answered_at),
            caller_uniqueid=conference.caller_uid,
            caller_number=caller.number if caller else None,
            language=caller_language(variables),
            path=variables.get("IVR_PATH") or None,
            interpreter=with_interpreter(variables),
            source=Source.ACTION,
        )
