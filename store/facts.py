"""What the listener and the CEL reconciliation conclude: one fact per transfer or referral.

A fact is written once and only once: ``key`` is built from ids that both the AMI
stream and Asterisk's CEL rows carry (never from times), so a replay, a reconnect or
a reconciliation cannot double a record. Key forms:

* ``atxfer:<uniqueid>`` — attended transfer (completed, three-way by keys, or
  abandoned), by the Uniqueid of the consultation channel that Asterisk dials into
  the transfer context (``Local/<exten>@<context>-XXXXXXXX;1``; AttendedTransfer's
  ``TransferTargetUniqueid``, CEL's ``transfer_target_channel_uniqueid`` or that
  channel's CHAN_START row);
* ``blind:<transferee uniqueid>:<bridge id>`` — BlindTransfer's ``TransfereeUniqueid``
  and ``BridgeUniqueid``, CEL's ``transferee_channel_uniqueid`` and ``bridge_id``;
* ``conf:<uniqueid>`` — three-way through a ConfBridge, by the Uniqueid we give the
  service's channel in our own Originate (``ChannelId``);
* ``referral:<linkedid>:<destination>`` — a referral without transfer, once per
  destination per call: the same key from the *7 feature's ``UserEvent:
  IVR211Referral`` (AMI), its CEL row ``IVR211_REFERRAL`` and the console's action;
* ``nonumber:<linkedid>:<destination>`` — a transfer from the console to a destination
  whose number is still to fill in, refused before anything reached Asterisk (outcome
  failed), once per destination per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    ATTENDED = "attended"
    BLIND = "blind"
    THREEWAY = "threeway"
    REFERRAL = "referral"  # referral without transfer ("sans bascule")


class Outcome(StrEnum):
    COMPLETED = "completed"  # the caller was joined to the destination (or told, for a referral)
    ABANDONED = "abandoned"  # the navigator cancelled or aborted before completion
    BUSY = "busy"
    NOT_ANSWERED = "not_answered"
    FAILED = "failed"  # the destination hung up first, the dial failed, or no number
    CALLER_HUNG_UP = "caller_hung_up"  # the caller left during the consultation: an attempt


class Source(StrEnum):
    AMI = "ami"
    CEL = "cel"  # recovered by `ivr211 reconcile`
    ACTION = "action"  # recorded from our own action (ConfBridge three-way, console referral)
    TWILIO = "twilio"  # the Twilio back end: its callbacks, or a console action on it


@dataclass(frozen=True)
class TransferFact:
    """One transfer or referral, as concluded from Asterisk's events.

    ``answer_delay_s`` runs from the consultation dial to the destination's answer;
    for a service that answers with a voice menu it measures when the menu picked up,
    not when a person did. It is None when the service itself never answered, even
    if our own dialplan answered the consultation to play a prompt
    (``listener.outcome``). ``caller_number`` is kept only for the console and the
    retention job, never for reports.
    """

    key: str
    kind: Kind
    outcome: Outcome
    started_at: datetime  # aware, UTC
    ended_at: datetime | None
    linkedid: str
    navigator_channel: (
        str  # e.g. "PJSIP/nav-alice" (the channel name without its -XXXXXXXX;N suffix)
    )
    destination: str | None  # directory key, or None when the extension is not in the directory
    target_exten: str
    target_context: str
    answer_delay_s: float | None = None
    caller_uniqueid: str | None = None
    caller_number: str | None = None
    language: str | None = None  # IVR_LANG of the caller's channel
    path: str | None = None  # IVR_PATH of the caller's channel
    interpreter: bool = False
    source: Source = Source.AMI
