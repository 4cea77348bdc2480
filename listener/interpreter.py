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

One state machine, its handlers grouped by job: channels, variables, bridges and dials
(:mod:`listener.channelevents`), the attended and blind transfers
(:mod:`listener.consultations`), the *7 referrals and the three-ways our own actions
announce (:mod:`listener.referrals`), over the tables they share
(:mod:`listener.channeltables`). This module puts them together and dispatches.
"""

import logging
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Final

from ivr.channels import event_time
from listener.channelevents import ChannelEvents
from listener.channeltables import BadEvent, ResolveDestination, need
from listener.consultations import ConsultationEvents
from listener.referrals import ReferralEvents
from store.facts import TransferFact

__all__ = ["Interpreter"]

log = logging.getLogger(__name__)

_Handler = Callable[[Mapping[str, str], datetime], list[TransferFact]]

_MAX_GONE: Final = 4096


class Interpreter(ChannelEvents, ConsultationEvents, ReferralEvents):
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
        super().__init__(
            resolve_destination,
            transfer_contexts,
            abort_code=abort_code,
            max_in_flight=max_in_flight,
        )
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
        except (BadEvent, KeyError, ValueError, TypeError, OverflowError) as exc:
            self.stats["malformed"] += 1
            count = self.stats["malformed"]
            if count <= 100 or count % 1000 == 0:
                log.warning(
                    "ignored malformed %s event (#%d, %s: %s)", name, count, type(exc).__name__, exc
                )
            return []
        self.stats["facts"] += len(facts)
        return facts

    def _on_hangup(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        """What ended with this channel: consultations, then an announced three-way; the
        channel is then forgotten, and remembered as gone so late events do not revive it."""
        uid = need(event, "Uniqueid")
        channel = self._channels.get(uid)
        facts = self._hangup_consultations(uid, channel, event, at)
        facts += self._hangup_conference(uid, channel, event, at)
        self._forget_channel(uid)
        self._gone[uid] = None
        if len(self._gone) > _MAX_GONE:
            del self._gone[next(iter(self._gone))]
        return facts
