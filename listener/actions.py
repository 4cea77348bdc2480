"""The navigators' actions over AMI, each judged from the events that follow it.

Asterisk's replies do not say whether anything happened (``2b6``, ``2g``)::

    Response: Success
    Message: Atxfer successfully queued     <- also when the leg has no transfer feature:
                                               the keys * 2 9 1 1 then reach the caller
    Message: Redirect successful            <- also to an extension that does not exist:
                                               the caller is then dropped

So every action opens a watch on the event stream before it sends, and concludes from
what follows: the consultation channel ``Local/<code>@<transfer context>-XXXXXXXX;1``
and the navigator entering its bridge (warm transfer started), ``DTMFEnd`` on the
caller's leg (the keys leaked: no transfer feature), ``BlindTransfer Result: Success``,
``QueueMemberAdded`` / ``QueueMemberPause`` / ``QueueMemberRemoved``, ``ConfbridgeJoin``
of the service channel we originated. Destinations are checked against the directory
before anything is sent, and one whose number is still to fill in is refused there
(:class:`NoNumber`, with the failed attempt to record). Errors are
:class:`ActionError` subclasses whose message a navigator understands.

The errors, options and results live in :mod:`listener.action_types`, the call tracker
the actions find legs with in :mod:`listener.legs`; both are re-exported here.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ivr.channels import channel_endpoint
from listener.action_types import (
    ActionError,
    ActionOptions,
    ActionResult,
    LinkUnavailable,
    NoConsultation,
    NoNumber,
    NoSuchChannel,
    NotPermitted,
    QueueMember,
    Rejected,
    TimedOut,
    TransferNotAvailable,
    UnknownDestination,
)
from listener.ami import ActionTimeout, AmiLink, Event, EventWatch, LinkDown
from listener.interpreter import Interpreter
from listener.legs import CallTracker, Leg
from store.facts import Kind, Outcome, Source, TransferFact

__all__ = [
    "ActionError",
    "ActionOptions",
    "ActionResult",
    "Actions",
    "CallTracker",
    "Leg",
    "LinkUnavailable",
    "NoConsultation",
    "NoNumber",
    "NoSuchChannel",
    "NotPermitted",
    "QueueMember",
    "Rejected",
    "TimedOut",
    "TransferNotAvailable",
    "UnknownDestination",
]


def _now() -> datetime:
    return datetime.now(UTC)


class Actions:
    """The navigators' actions; ``destinations`` maps a directory key to its short code
    in the transfer context (from the line settings, read when the action runs), and
    ``dialable(key)`` says whether that destination has a number to dial (None: all do).
    """

    def __init__(
        self,
        link: AmiLink,
        tracker: CallTracker,
        destinations: Callable[[], Mapping[str, str]],
        options: ActionOptions | None = None,
        *,
        conferences: Interpreter | None = None,
        clock: Callable[[], datetime] = _now,
        dialable: Callable[[str], bool] | None = None,
    ) -> None:
        self.link = link
        self.tracker = tracker
        self.destinations = destinations
        self.options = options or ActionOptions()
        self.conferences = conferences
        self.clock = clock
        self.dialable = dialable

    # ---- helpers ---------------------------------------------------------------------

    def short_code(self, destination: str) -> str:
        code = self.destinations().get(destination)
        if not code:
            known = ", ".join(sorted(self.destinations())) or "none"
            raise UnknownDestination(f"unknown destination {destination!r} (known: {known})")
        return code

    def _refuse_without_number(self, leg: Leg, destination: str, code: str, kind: Kind) -> None:
        """Raise :class:`NoNumber` when ``destination`` has no number to dial: the
        navigator hears nothing, stays with the caller, and the attempt is a failed one
        (``nonumber:<linkedid>:<destination>``, once per destination per call)."""
        if self.dialable is None or self.dialable(destination):
            return
        peers = self.tracker.peers(leg)
        caller = peers[0] if len(peers) == 1 else None
        linkedid = (caller.linkedid if caller else "") or leg.linkedid
        now = self.clock()
        fact = TransferFact(
            key=f"nonumber:{linkedid}:{destination}",
            kind=kind,
            outcome=Outcome.FAILED,
            started_at=now,
            ended_at=now,
            linkedid=linkedid,
            navigator_channel=channel_endpoint(leg.name),
            destination=destination,
            target_exten=code,
            target_context=self.options.transfer_context,
            caller_uniqueid=caller.uniqueid if caller and caller.uniqueid else None,
            source=Source.ACTION,
        )
        raise NoNumber(
            f"{destination} has no number to dial yet: nothing was sent, the caller is "
            "still with the navigator",
            fact,
        )

    async def _send(self, action: dict[str, str]) -> Event:
        try:
            reply = await self.link.send(action)
        except LinkDown as exc:
            raise LinkUnavailable(
                f"the phone system link is down, nothing was sent ({exc})"
            ) from exc
        except ActionTimeout as exc:
            raise TimedOut(f"Asterisk did not answer {action['Action']}") from exc
        if reply.get("Response") != "Success":
            message = reply.get("Message", "no message")
            if message == "Permission denied":
                raise NotPermitted(f"{action['Action']}: the listener's AMI user may not do this")
            if message.startswith(("Channel specified does not exist", "Channel does not exist")):
                raise NoSuchChannel(f"{action['Action']}: that call no longer exists ({message})")
            raise Rejected(f"{action['Action']} refused by Asterisk: {message}")
        return reply

    async def locate(self, navigator: str) -> Leg:
        """The navigator's live bridged leg; asks Asterisk (``Status``) when the stream
        has not shown it (e.g. a call that started before the listener connected)."""
        leg = self.tracker.find(navigator)
        if leg is None or not self.tracker.peers(leg):
            try:
                reply = await self.link.send_action({"Action": "Status"}, as_list=True)
            except LinkDown as exc:
                raise LinkUnavailable(f"the phone system link is down ({exc})") from exc
            except ActionTimeout as exc:
                raise TimedOut("Asterisk did not answer Status") from exc
            for event in reply if isinstance(reply, list) else [reply]:
                self.tracker.feed(event)
            leg = self.tracker.find(navigator)
        if leg is None:
            raise NoSuchChannel(f"{navigator} is not on a call")
        return leg

    async def _until(
        self, watch: EventWatch, match: Callable[[Event], Any], timeout_s: float, what: str
    ) -> Any:
        try:
            _, value = await watch.until(match, timeout_s)
        except TimeoutError:
            raise TimedOut(what) from None
        except LinkDown as exc:
            raise LinkUnavailable(f"the phone system link dropped: {exc}") from exc
        return value

    # ---- warm transfer ---------------------------------------------------------------

    async def start_warm_transfer(self, navigator: str, destination: str) -> ActionResult:
        """Atxfer on the navigator's leg to the destination's short code; success when the
        consultation channel is up with the navigator in its bridge."""
        code = self.short_code(destination)
        leg = await self.locate(navigator)
        self._refuse_without_number(leg, destination, code, Kind.ATTENDED)
        peers = {p.name for p in self.tracker.peers(leg)}
        context = self.options.transfer_context
        prefix = f"Local/{code}@{context}-"
        state: dict[str, str] = {}

        def judge(event: Event) -> Any:
            name, channel = event.get("Event"), event.get("Channel", "")
            if name == "Newchannel" and channel.startswith(prefix) and channel.endswith(";1"):
                state["name"], state["uid"] = channel, event.get("Uniqueid", "")
            elif name == "BridgeEnter" and channel == state.get("name"):
                state["bridge"] = event.get("BridgeUniqueid", "")
            elif (
                name == "BridgeEnter"
                and channel == leg.name
                and state.get("bridge")
                and event.get("BridgeUniqueid") == state["bridge"]
            ):
                return "started"
            elif name == "DTMFEnd" and channel in peers:
                raise TransferNotAvailable(
                    "this call cannot be transferred (no transfer feature on the navigator's "
                    "leg): the keys reached the caller; transfer by phone or call back"
                )
            elif name == "Hangup" and channel == leg.name:
                raise NoSuchChannel("the navigator's call ended")
            return None

        async with self.link.watch() as watch:
            await self._send(
                {"Action": "Atxfer", "Channel": leg.name, "Exten": code, "Context": context}
            )
            await self._until(
                watch,
                judge,
                self.options.start_timeout_s,
                f"no consultation call to {destination} started within "
                f"{self.options.start_timeout_s:g} s",
            )
        return ActionResult(
            f"calling {destination}; the caller is on hold",
            {
                "consultation_channel": state["name"],
                "consultation_uniqueid": state["uid"],
                "navigator_channel": leg.name,
            },
        )

    async def cancel_warm_transfer(self, navigator: str) -> ActionResult:
        """CancelAtxfer; success when the navigator's leg is back in a bridge (``2b3``).

        Sent only while a consultation exists (:meth:`CallTracker.consulting`): with none,
        Asterisk still answers ``Message: CancelAtxfer successfully queued`` and the abort
        keys ``*1`` reach the other party as DTMF (``2k``)."""
        leg = await self.locate(navigator)
        if not self.tracker.consulting(leg):
            raise NoConsultation(
                "no warm transfer in progress on this call: nothing was sent "
                "(the abort keys would have reached the other party)"
            )

        def judge(event: Event) -> Any:
            name, channel = event.get("Event"), event.get("Channel", "")
            if channel != leg.name:
                return None
            if name in ("BridgeEnter", "Unhold"):
                return "back"
            if name == "Hangup":
                raise NoSuchChannel("the navigator's call ended")
            return None

        async with self.link.watch() as watch:
            await self._send({"Action": "CancelAtxfer", "Channel": leg.name})
            await self._until(
                watch, judge, self.options.cancel_timeout_s, "the transfer was not cancelled"
            )
        return ActionResult("transfer cancelled; back with the caller", {"channel": leg.name})

    # ---- blind transfer ----------------------------------------------------------------

    async def blind_transfer(self, navigator: str, destination: str) -> ActionResult:
        """BlindTransfer of the navigator's leg; judged from ``BlindTransfer Result``."""
        code = self.short_code(destination)
        leg = await self.locate(navigator)
        self._refuse_without_number(leg, destination, code, Kind.BLIND)
        context = self.options.transfer_context

        def judge(event: Event) -> Any:
            if event.get("Event") != "BlindTransfer":
                return None
            if event.get("TransfererChannel") != leg.name:
                return None
            result = event.get("Result", "")
            if result != "Success":
                raise Rejected(f"Asterisk could not transfer the call (Result: {result})")
            return event.get("TransfereeUniqueid") or "done"

        async with self.link.watch() as watch:
            await self._send(
                {"Action": "BlindTransfer", "Channel": leg.name, "Exten": code, "Context": context}
            )
            transferee = await self._until(
                watch, judge, self.options.blind_timeout_s, "the blind transfer was not confirmed"
            )
        return ActionResult(
            f"the caller was sent to {destination}", {"transferee_uniqueid": str(transferee)}
        )

    # ---- three-way ---------------------------------------------------------------------

    async def three_way(self, navigator: str, destination: str) -> ActionResult:
        """Redirect the caller and the navigator into a new ConfBridge room, then originate
        the destination into it (``2d1``). The record comes from this action (announced to
        the interpreter, confirmed by the service channel's ``ConfbridgeJoin``)."""
        conf_context = self.options.conference_context
        if not conf_context:
            raise NotPermitted("three-way calls are not configured on this line")
        code = self.short_code(destination)
        leg = await self.locate(navigator)
        self._refuse_without_number(leg, destination, code, Kind.THREEWAY)
        peers = self.tracker.peers(leg)
        if len(peers) != 1:
            raise NoSuchChannel(f"{navigator} is not in a two-party call")
        caller = peers[0]
        room = f"{secrets.randbelow(10**12):012d}"
        conf_id = uuid.uuid4().hex
        service_uid = f"ivr211-conf-{conf_id}"
        action_id = f"ivr211-originate-{conf_id}"
        await self._send(
            {
                "Action": "Redirect",
                "Channel": caller.name,
                "ExtraChannel": leg.name,
                "Context": conf_context,
                "Exten": room,
                "Priority": "1",
                "ExtraContext": conf_context,
                "ExtraExten": room,
                "ExtraPriority": "1",
            }
        )
        if self.conferences is not None:
            self.conferences.expect_conference(
                service_uniqueid=service_uid,
                conference=room,
                navigator_channel=leg.name,
                caller_uniqueid=caller.uniqueid or None,
                linkedid=caller.linkedid or leg.linkedid,
                destination=destination,
                exten=code,
                context=self.options.transfer_context,
                started_at=self.clock(),
            )

        def judge(event: Event) -> Any:
            name = event.get("Event")
            if name == "ConfbridgeJoin" and event.get("Uniqueid") == service_uid:
                return "joined"
            if (
                name == "OriginateResponse"
                and event.get("ActionID") == action_id
                and event.get("Response") != "Success"
            ):
                reason = {"5": "busy", "3": "no answer"}.get(event.get("Reason", ""), "failed")
                raise Rejected(f"{destination} could not be reached ({reason})")
            if name == "Hangup" and event.get("Uniqueid") == service_uid:
                raise Rejected(f"{destination} hung up before joining")
            return None

        async with self.link.watch() as watch:
            await self._send(
                {
                    "Action": "Originate",
                    "ActionID": action_id,
                    "Channel": f"Local/{code}@{self.options.transfer_context}",
                    "Context": conf_context,
                    "Exten": room,
                    "Priority": "1",
                    "Async": "true",
                    "ChannelId": service_uid,
                    "CallerID": self.options.caller_id,
                    "Timeout": str(int(self.options.ring_timeout_s * 1000)),
                }
            )
            await self._until(
                watch,
                judge,
                self.options.ring_timeout_s + 5.0,
                f"{destination} did not join the conference",
            )
        return ActionResult(
            f"{destination} joined the three-way call",
            {"conference": room, "service_uniqueid": service_uid},
        )

    # ---- referral (no AMI) ------------------------------------------------------------

    def record_referral(self, linkedid: str, destination: str, navigator: str) -> TransferFact:
        """A referral without transfer, once per destination per call."""
        if not linkedid.strip():
            raise NoSuchChannel("a referral needs the call's Linkedid")
        code = self.short_code(destination)
        now = self.clock()
        return TransferFact(
            key=f"referral:{linkedid}:{destination}",
            kind=Kind.REFERRAL,
            outcome=Outcome.COMPLETED,
            started_at=now,
            ended_at=now,
            linkedid=linkedid,
            navigator_channel=channel_endpoint(navigator),
            destination=destination,
            target_exten=code,
            target_context=self.options.transfer_context,
            source=Source.ACTION,
        )

    # ---- queue ----------------------------------------------------------------------------

    async def _queue_action(
        self, action: dict[str, str], member: QueueMember, event_name: str, extra: dict[str, str]
    ) -> None:
        def judge(event: Event) -> Any:
            return (
                event.get("Event") == event_name
                and event.get("Queue") == member.queue
                and event.get("Interface") == member.interface
                and all(event.get(k) == v for k, v in extra.items())
            )

        async with self.link.watch() as watch:
            await self._send(action)
            await self._until(
                watch,
                judge,
                self.options.queue_timeout_s,
                f"Asterisk did not confirm {action['Action']} for {member.name}",
            )

    async def queue_login(self, member: QueueMember) -> ActionResult:
        """QueueAdd, confirmed by ``QueueMemberAdded`` (panoramisk never completes it)."""
        action = {
            "Action": "QueueAdd",
            "Queue": member.queue,
            "Interface": member.interface,
            "MemberName": member.name,
            "Penalty": "0",
            "Paused": "false",
        }
        if member.state_interface:
            action["StateInterface"] = member.state_interface
        await self._queue_action(action, member, "QueueMemberAdded", {})
        return ActionResult(f"{member.name} is logged in to queue {member.queue}")

    async def queue_pause(
        self, member: QueueMember, paused: bool = True, reason: str = ""
    ) -> ActionResult:
        action = {
            "Action": "QueuePause",
            "Queue": member.queue,
            "Interface": member.interface,
            "Paused": "true" if paused else "false",
        }
        if reason:
            action["Reason"] = reason
        await self._queue_action(
            action, member, "QueueMemberPause", {"Paused": "1" if paused else "0"}
        )
        state = "paused" if paused else "available again"
        return ActionResult(f"{member.name} is {state} in queue {member.queue}")

    async def queue_logout(self, member: QueueMember) -> ActionResult:
        action = {"Action": "QueueRemove", "Queue": member.queue, "Interface": member.interface}
        await self._queue_action(action, member, "QueueMemberRemoved", {})
        return ActionResult(f"{member.name} is logged out of queue {member.queue}")
