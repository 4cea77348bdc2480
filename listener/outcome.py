"""How a consultation call ended: one rule for the AMI interpreter and the CEL reader.

A consultation (the ``Local/<code>@<transfer context>-XXXXXXXX;1`` channel the transfer
feature dials, or the service channel our own three-way originates) runs a ``Dial()``
in its ``;2`` half: that inner leg is the destination. Asterisk also marks the
consultation answered when the *dialplan* answers it, and ours does: after the inner
Dial ends BUSY, or when there is no number to dial at all, ``[ivr211-dial-dest]``
plays ``211/transfer-failed``, which answers the consultation (``2q``, ``6a``)::

    Event: DialEnd
    Channel: Local/201@navigator-transfers-0000000d;2
    DestChannel: Local/5550000912@pstn-0000000e;1
    DialStatus: BUSY                                 <- the inner leg: the service
    ...
    Event: DialEnd
    DestChannel: Local/201@navigator-transfers-0000000d;1
    DialStatus: ANSWER                               <- Playback answered, no Channel

So an answer counts only when it came through the inner Dial (each reader shows it its
own way: the ``;2`` half's ``DialEnd ... DialStatus: ANSWER`` in AMI, the ``;2`` half's
CEL ``ANSWER`` row written by application ``Dial``). An answer from our own prompt is
no answer: the outcome comes from the inner leg (BUSY -> busy; CHANUNAVAIL, CONGESTION
and the like, or no number at all -> failed; NOANSWER -> not answered) and the record
carries no answer delay. A no-answer still ends on the feature's
``atxfernoanswertimeout`` (30 s in features.conf), before the inner Dial's 45 s.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Final

from store.facts import Outcome

__all__ = [
    "BUSY_CAUSE",
    "LOCAL_CHANNEL",
    "answer_delay",
    "consultation_outcome",
    "dial_outcome",
    "joined_outcome",
]

#: A consultation's name, ``Local/<exten>@<context>-XXXXXXXX;<half>`` (``fullmatch`` it):
#: the ``;1`` half is the navigator's side, the ``;2`` half runs the inner ``Dial()``.
LOCAL_CHANNEL: Final = re.compile(
    r"Local/(?P<exten>[^@]+)@(?P<context>.+)-[0-9A-Fa-f]{8};(?P<half>[12])"
)
#: Q.850 cause 17, "User busy".
BUSY_CAUSE: Final = 17
#: 18 "No user responding", 19 "No answer from user".
NO_ANSWER_CAUSES: Final = frozenset({18, 19})
#: 0 "Unknown" (Local channels), 16 "Normal Clearing", 31 "Normal, unspecified".
NORMAL_CAUSES: Final = frozenset({0, 16, 31})
#: DIALSTATUS values of a dial that could not reach the number.
FAILED_DIAL_STATUSES: Final = frozenset(
    {"CHANUNAVAIL", "CONGESTION", "DONTCALL", "TORTURE", "INVALIDARGS"}
)


def dial_outcome(statuses: Iterable[str | None], causes: Iterable[int | None]) -> Outcome | None:
    """What dial statuses and hangup causes say on their own; None when they say nothing
    (ANSWER, CANCEL, RINGING and normal clearing decide nothing here)."""
    seen = {status.strip().upper() for status in statuses if status}
    codes = {cause for cause in causes if cause is not None}
    if "BUSY" in seen or BUSY_CAUSE in codes:
        return Outcome.BUSY
    if seen & FAILED_DIAL_STATUSES or codes - NORMAL_CAUSES - NO_ANSWER_CAUSES:
        return Outcome.FAILED
    if "NOANSWER" in seen or codes & NO_ANSWER_CAUSES:
        return Outcome.NOT_ANSWERED
    return None


def consultation_outcome(
    *,
    answered: bool,
    answered_by_dial: bool,
    statuses: Collection[str | None],
    causes: Collection[int | None],
    target_left_first: bool,
    navigator_cancelled: bool,
    caller_hung_up: bool = False,
) -> Outcome:
    """The outcome of an attended transfer that ended without ``AttendedTransfer``.

    ``answered``: the consultation channel was answered, by anything;
    ``answered_by_dial``: through its inner Dial (the service itself). ``statuses`` and
    ``causes``: the dial statuses and hangup causes the reader saw for the consultation
    and its inner leg. ``navigator_cancelled``: the reader's own judgement of an
    unanswered consultation (the abort keys in AMI, the time rung in CEL).
    ``caller_hung_up``: the caller left while the consultation was open (``2l1``,
    ``2l2``, ``2k``): an attempt, never a bascule.
    """
    if caller_hung_up:
        return Outcome.CALLER_HUNG_UP
    by_dial = dial_outcome(statuses, causes)
    if by_dial is Outcome.BUSY:
        return by_dial
    if answered and answered_by_dial:
        return Outcome.FAILED if target_left_first else Outcome.ABANDONED
    if by_dial is not None:
        return by_dial
    if answered:
        return Outcome.FAILED  # our prompt answered and no dial said why: no number
    return Outcome.ABANDONED if navigator_cancelled else Outcome.NOT_ANSWERED


def joined_outcome(
    *, answered_by_dial: bool, statuses: Collection[str | None], causes: Collection[int | None]
) -> Outcome:
    """Our three-way's service channel joined the conference: completed when the service
    answered it, else the inner leg's outcome (the prompt joined, not the service)."""
    if answered_by_dial:
        return Outcome.COMPLETED
    return dial_outcome(statuses, causes) or Outcome.FAILED


def answer_delay(
    started_at: datetime, answered_at: datetime | None, *, answered_by_dial: bool
) -> float | None:
    """Seconds from the consultation dial to the service's answer; None when the service
    never answered (an answer by our own prompt is none)."""
    if answered_at is None or not answered_by_dial or answered_at < started_at:
        return None
    return (answered_at - started_at).total_seconds()
