"""The transfer interpreter's handlers of channel, bridge and dial events: who is who
(``Newchannel``, ``NewCallerid``), what our dialplan set on a channel (``VarSet`` of the
``IVR_*`` variables, and ``ATTENDEDTRANSFER`` that marks a consultation leg), hold and
the keys a navigator pressed, bridges created and destroyed, and how each dial ended.
They only update the tables: no fact is concluded here (see :mod:`listener.interpreter`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from ivr.channels import MAX_FIELD, event_text
from listener.channeltables import DIALING, BadEvent, Channel, InterpreterTables, need
from listener.outcome import LOCAL_CHANNEL
from store.facts import TransferFact

__all__ = ["ChannelEvents"]

_MAX_DIGITS: Final = 16
_MAX_VARS: Final = 32
_IVR_PREFIX: Final = "IVR_"


class ChannelEvents(InterpreterTables):
    """Channels, variables, keys, bridges and dials, as the tables see them."""

    # -- channels -----------------------------------------------------------------

    def _on_newchannel(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        channel = Channel(
            uniqueid=need(event, "Uniqueid"),
            name=need(event, "Channel"),
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
        variable = need(event, "Variable").lstrip("_")
        if not (variable.startswith(_IVR_PREFIX) or variable == "ATTENDEDTRANSFER"):
            return []
        value = event.get("Value", "")
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise BadEvent("Value")
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
        digit = need(event, "Digit")
        if len(digit) != 1:
            raise BadEvent("Digit")
        channel = self._channel(event)
        if channel is not None:
            channel.digits = (channel.digits + digit)[-_MAX_DIGITS:]
        return []

    # -- bridges ------------------------------------------------------------------

    def _on_bridge_create(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        self._bridge(need(event, "BridgeUniqueid"))
        return []

    def _on_bridge_destroy(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        bridge = need(event, "BridgeUniqueid")
        for uid in self._bridges.pop(bridge, {}):
            channel = self._channels.get(uid)
            if channel is not None and channel.bridge == bridge:
                channel.bridge = None
        return []

    # -- dials --------------------------------------------------------------------

    def _first_half(self, event: Mapping[str, str]) -> Channel | None:
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
            one.inner_status = DIALING
        return []

    def _on_dial_state(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        status = need(event, "DialStatus").upper()
        dest = self._channel(event, "Dest", learn=False)
        if dest is not None and dest.dial_status is None:
            dest.dial_status = status
        return []

    def _on_dial_end(self, event: Mapping[str, str], at: datetime) -> list[TransferFact]:
        """``DialEnd`` with only ``Dest*`` fields is the transfer feature's own dial of
        the consultation channel (``DialStatus: BUSY`` at once for ``912``, ``ANSWER``
        when the service picks up); with ``Channel`` too it is a ``Dial()`` the channel
        ran (the Local ``;2`` half dialling the service)."""
        status = need(event, "DialStatus").upper()
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
