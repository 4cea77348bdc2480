"""What a Twilio call's row holds of the flow, and the flow rebuilt from it
(``twilio_line.calls`` explains why the state lives in the database): the events of a
pass as small JSON objects, the decision as JSON, the fingerprint of the actions played,
and :func:`replay`, which builds ``ivr.flow.CallFlow`` again and sends it the events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from ivr.actions import (
    Action,
    CallInfo,
    Decision,
    DigitPressed,
    DigitsEntered,
    Event,
    HungUp,
    NoInput,
    PlaybackDone,
)
from ivr.dialplan import Route
from ivr.flow import CallFlow
from ivr.settings import Language, LineSettings
from store.twilio_calls import TwilioCall

__all__ = [
    "call_info",
    "decision_from_data",
    "decision_to_data",
    "decode_event",
    "digest",
    "encode_event",
    "replay",
]


def encode_event(event: Event) -> dict[str, Any]:
    if isinstance(event, PlaybackDone):
        return {"e": "done"}
    if isinstance(event, DigitPressed):
        return {"e": "key", "d": event.digit}
    if isinstance(event, DigitsEntered):
        return {"e": "digits", "d": event.digits, "t": event.timed_out}
    if isinstance(event, NoInput):
        return {"e": "none"}
    return {"e": "hangup"}


def decode_event(data: Mapping[str, Any]) -> Event:
    kind = data.get("e")
    if kind == "done":
        return PlaybackDone()
    if kind == "key":
        return DigitPressed(str(data["d"]))
    if kind == "digits":
        return DigitsEntered(str(data["d"]), bool(data.get("t", False)))
    if kind == "none":
        return NoInput()
    if kind == "hangup":
        return HungUp()
    raise ValueError(f"unknown event {data!r}")


def decision_to_data(decision: Decision) -> dict[str, Any]:
    data = asdict(decision)
    data["route"] = decision.route.value
    data["path"] = list(decision.path)
    data["closes_at"] = None if decision.closes_at is None else decision.closes_at.isoformat()
    return data


def decision_from_data(data: Mapping[str, Any]) -> Decision:
    closes_at = data.get("closes_at")
    language: Language = "en" if data.get("language") == "en" else "fr"
    return Decision(
        route=Route(str(data["route"])),
        language=language,
        path=tuple(str(step) for step in data.get("path", ())),
        interpreter=bool(data.get("interpreter", False)),
        destination=data.get("destination"),
        number=data.get("number"),
        queue=data.get("queue"),
        mailbox=data.get("mailbox"),
        callback=data.get("callback"),
        line_state=str(data.get("line_state", "")),
        closes_at=None if closes_at is None else datetime.fromisoformat(str(closes_at)),
    )


def digest(actions: Sequence[Action]) -> str:
    """The fingerprint of the actions of a pass, in order: each one's ``repr`` (frozen
    dataclasses and tuples: stable) chained into one SHA-256."""
    chain = hashlib.sha256()
    for action in actions:
        chain.update(hashlib.sha256(repr(action).encode()).digest())
    return chain.hexdigest()


def call_info(row: TwilioCall) -> CallInfo:
    extra: dict[str, str] = {}
    if row.entry:
        extra["entry"] = row.entry
        if row.entry_language:
            extra["language"] = row.entry_language
    return CallInfo(caller_number=row.caller_number, dialed_number=row.dialed_number, extra=extra)


def replay(
    settings: LineSettings,
    row: TwilioCall,
    events: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[CallFlow, Action, str]:
    """The flow of the row's pass with its stored events (or ``events``) sent again, the
    action it is at, and the fingerprint of every action of the replay (``digest``).

    A replay that no longer fits (an event the flow now refuses) raises ``FlowError``."""
    flow = CallFlow(settings, row.pass_started_at, call_info(row))
    actions = [flow.start()]
    for data in row.event_list() if events is None else events:
        actions.append(flow.send(decode_event(data)))
    return flow, actions[-1], digest(actions)
