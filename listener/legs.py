"""Which channel is in which bridge, from the AMI event stream: enough for an action to
find a navigator's live leg, the caller with it, and whether a warm transfer is in
progress (:class:`CallTracker`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivr.channels import channel_endpoint

__all__ = ["CallTracker", "Leg"]


@dataclass
class Leg:
    """A live channel as last seen: name, Uniqueid, Linkedid, bridge, and the bridge it
    last left (None when no BridgeLeave was seen, e.g. learned from ``Status``)."""

    name: str
    uniqueid: str
    linkedid: str
    bridge: str | None = None
    left_bridge: str | None = None


class CallTracker:
    """Which channel is in which bridge, from the event stream (and from ``Status``
    replies after a reconnect): enough to find a navigator's live leg and the caller."""

    def __init__(self) -> None:
        self.channels: dict[str, Leg] = {}
        self.bridges: dict[str, set[str]] = {}

    def reset(self) -> None:
        self.channels.clear()
        self.bridges.clear()

    def feed(self, event: Mapping[str, str]) -> None:
        name = event.get("Event", "")
        channel = event.get("Channel", "")
        if name in ("Newchannel", "Status") and channel:
            leg = self.channels.setdefault(
                channel, Leg(channel, event.get("Uniqueid", ""), event.get("Linkedid", ""))
            )
            leg.uniqueid = event.get("Uniqueid", leg.uniqueid)
            leg.linkedid = event.get("Linkedid", leg.linkedid)
            if name == "Status" and event.get("BridgeID"):
                self._enter(leg, event["BridgeID"])
        elif name == "BridgeEnter" and channel:
            leg = self.channels.setdefault(
                channel, Leg(channel, event.get("Uniqueid", ""), event.get("Linkedid", ""))
            )
            self._enter(leg, event.get("BridgeUniqueid", ""))
        elif name == "BridgeLeave" and channel in self.channels:
            self._leave(self.channels[channel])
        elif name == "Hangup" and channel in self.channels:
            self._leave(self.channels.pop(channel))
        elif name == "BridgeDestroy":
            for member in self.bridges.pop(event.get("BridgeUniqueid", ""), set()):
                if member in self.channels:
                    self.channels[member].bridge = None

    def _enter(self, leg: Leg, bridge: str) -> None:
        if bridge and leg.bridge == bridge:  # seen again (a Status reply): not a move
            self.bridges.setdefault(bridge, set()).add(leg.name)
            return
        self._leave(leg)
        leg.bridge = bridge or None
        if bridge:
            self.bridges.setdefault(bridge, set()).add(leg.name)

    def _leave(self, leg: Leg) -> None:
        if leg.bridge is not None:
            leg.left_bridge = leg.bridge
            members = self.bridges.get(leg.bridge)
            if members is not None:
                members.discard(leg.name)
                if not members:
                    del self.bridges[leg.bridge]
            leg.bridge = None

    def peers(self, leg: Leg) -> list[Leg]:
        if leg.bridge is None:
            return []
        names = sorted(self.bridges.get(leg.bridge, set()) - {leg.name})
        return [self.channels[n] for n in names if n in self.channels]

    def consulting(self, leg: Leg) -> bool:
        """A warm transfer of ``leg`` is in progress: it talks with someone in a bridge
        other than the one it left, and that one still holds the caller, on hold.

        Once the caller has hung up (``2k``, ``2l2``: the caller's bridge is destroyed,
        the navigator stays with the service) there is no transfer left to cancel, and
        ``CancelAtxfer`` would answer Success and play ``*1`` to the service as DTMF.
        After a reconnect (no BridgeLeave seen) this says False: nothing is sent blind.
        """
        if leg.bridge is None or leg.left_bridge is None or leg.left_bridge == leg.bridge:
            return False
        return bool(self.bridges.get(leg.left_bridge)) and bool(self.peers(leg))

    def find(self, navigator: str) -> Leg | None:
        """The live leg of ``navigator`` (an endpoint or a channel name) that is bridged
        with someone else; for a Local pair, the ``;1`` half in the bridge."""
        if navigator in self.channels:
            return self.channels[navigator]
        endpoint = channel_endpoint(navigator)
        candidates = [
            leg
            for leg in self.channels.values()
            if channel_endpoint(leg.name) == endpoint and leg.bridge is not None
        ]
        candidates.sort(key=lambda leg: (not self.peers(leg), leg.name))
        return candidates[0] if candidates else None
