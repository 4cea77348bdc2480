"""Call facts from CEL: the caller channel's life and the dialplan's ``IVR211_CALL`` events.

CEL carries none of the flow's ``IVR_*`` variables (2m), so the dialplan writes what a
call record needs into CEL itself (asterisk_conf/extensions.conf): a user-defined event
``CELGenUserEvent(IVR211_CALL,<extra>)`` in the dispatch, the fallback, after Queue()
and when the line gives up. cel_custom writes the event's name in ``eventtype`` and
``{"extra":"<extra>"}`` in ``extra`` (2n, 6b). The extra is ``key=value`` pairs
separated by one space, starting with the format's version::

    v=1 step=dispatch pass=0 route=queue dest= state=hours lang=fr int=0 queue= path=open/main:1
    v=1 step=fallback open=1 state=hours
    v=1 step=queue pass=1 queue=navigateurs status=TIMEOUT cut=0
    v=1 step=give-up pass=4

Every value went through ``FILTER(${CEL_SAFE},...)`` in the dialplan (:data:`SAFE_CHARS`),
so it holds no space, ``=`` or comma; an extra that does not read back exactly so is
refused whole (:class:`CallEventError`), never guessed at.

What each step tells (:class:`CelCallInterpreter`):

* ``dispatch`` with ``pass=0``: the flow's decision (line state, language, path, route,
  destination, queue); with ``pass`` 1 or more, what the queue-exit menu then did
  (``exit_route``), the first time only;
* ``fallback``: the FastAGI server did not finish the flow, the dialplan decided alone
  (route ``fallback``, and the line's state it found);
* ``queue``: how the first wait ended: Asterisk's ``QUEUESTATUS`` (``TIMEOUT`` cut to the
  closing time, ``cut=1``, is ``closing``), at the event's time. A caller who hangs up
  while waiting, or who is answered, never comes back to the dialplan: queue_log tells
  those (``listener.queuelog``);
* ``give-up``: no queue-exit menu could run (``exit_route`` ``give-up``).

The caller's own channel is the one whose uniqueid is the linkedid (the trunk's channel
is the call's first, 6b): its CHAN_START is the arrival, its CHAN_END the end. Only
calls whose caller channel was in one of the line's contexts (``call_contexts``) or
raised an ``IVR211_CALL`` event are calls of the line; the listener's own Originate
channels and the navigators' legs are not. No caller number is taken from CEL: a
reconciliation over an old file must not bring back a number the retention job has
purged from the records.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from listener.celrows import CelRow
from store.calls import LINE_STATES, ROUTES, CallFact, CallSource, QueueOutcome

__all__ = [
    "CALL_CEL_EVENT",
    "CALL_EXTRA_VERSION",
    "DEFAULT_CALL_CONTEXTS",
    "SAFE_CHARS",
    "CallEventError",
    "CelCallInterpreter",
    "format_call_extra",
    "parse_call_extra",
]

log = logging.getLogger(__name__)

#: The user-defined CEL event the dialplan raises at each step of a call.
CALL_CEL_EVENT: Final = "IVR211_CALL"
CALL_EXTRA_VERSION: Final = "1"
#: What a value may hold: the dialplan's ``CEL_SAFE`` global, ``-_:/.0-9A-Za-z``.
SAFE_CHARS: Final = re.compile(r"[-_:/.0-9A-Za-z]*")
#: The keys of each step, in the order the dialplan writes them.
STEP_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "dispatch": ("pass", "route", "dest", "state", "lang", "int", "queue", "path"),
    "fallback": ("open", "state"),
    "queue": ("pass", "queue", "status", "cut"),
    "give-up": ("pass",),
}
#: The contexts of asterisk_conf/extensions.conf a caller's channel runs in.
DEFAULT_CALL_CONTEXTS: Final = frozenset(
    {
        "from-trunk-211",
        "ivr211-incoming",
        "ivr211-dispatch",
        "ivr211-fallback",
        "ivr211-line-source",
        "ivr211-queue",
        "ivr211-research",
        "ivr211-transfer",
        "ivr211-closed",
        "ivr211-hangup",
        "ivr211-dial-dest",
        "ivr211-dial-code",
    }
)
#: ``QUEUESTATUS`` after Queue() -> how the wait ended (app_queue's values; CONTINUE
#: follows an answered call and tells nothing more).
_QUEUE_STATUS: Final[Mapping[str, QueueOutcome]] = {
    "TIMEOUT": QueueOutcome.TIMEOUT,
    "FULL": QueueOutcome.FULL,
    "JOINEMPTY": QueueOutcome.JOINEMPTY,
    "JOINUNAVAIL": QueueOutcome.JOINEMPTY,
    "LEAVEEMPTY": QueueOutcome.LEAVEEMPTY,
    "LEAVEUNAVAIL": QueueOutcome.LEAVEEMPTY,
}
_LANGUAGES: Final = frozenset({"fr", "en"})
GIVE_UP: Final = "give-up"


class CallEventError(ValueError):
    """An ``IVR211_CALL`` extra that does not read as the dialplan writes it."""


def format_call_extra(step: str, values: Mapping[str, str]) -> str:
    """The extra of one step, as the dialplan writes it (for tests and fixtures)."""
    keys = STEP_KEYS.get(step)
    if keys is None:
        raise CallEventError(f"unknown step {step!r}")
    if set(values) - set(keys):
        raise CallEventError(f"step {step}: unknown keys {sorted(set(values) - set(keys))}")
    for key, value in values.items():
        if not SAFE_CHARS.fullmatch(value):
            raise CallEventError(f"step {step}: {key}={value!r} holds a character not allowed")
    pairs = [f"v={CALL_EXTRA_VERSION}", f"step={step}"]
    pairs += [f"{key}={values[key]}" for key in keys if key in values]
    return " ".join(pairs)


def parse_call_extra(text: str) -> tuple[str, dict[str, str]]:
    """``(step, {key: value})`` of an extra; empty values are absent."""
    pairs = text.split(" ")
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CallEventError(f"not key=value: {pair!r}")
        if key in found:
            raise CallEventError(f"{key} given twice")
        if not SAFE_CHARS.fullmatch(value):
            raise CallEventError(f"{key}={value!r} holds a character not allowed")
        found[key] = value
    if found.pop("v", None) != CALL_EXTRA_VERSION:
        raise CallEventError(f"not version {CALL_EXTRA_VERSION} of the extra: {text!r}")
    step = found.pop("step", "")
    keys = STEP_KEYS.get(step)
    if keys is None:
        raise CallEventError(f"unknown step {step!r}")
    unknown = set(found) - set(keys)
    if unknown:
        raise CallEventError(f"step {step}: unknown keys {sorted(unknown)}")
    return step, {key: value for key, value in found.items() if value}


def _pass(values: Mapping[str, str]) -> int | None:
    text = values.get("pass", "")
    return int(text) if text.isdigit() else None


@dataclass(eq=False)
class _Call:
    linkedid: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    in_line_context: bool = False
    events: int = 0
    dispatch: dict[str, str] | None = None
    exit_route: str | None = None
    fallback: dict[str, str] | None = None
    queue: tuple[datetime, dict[str, str]] | None = None
    gave_up: bool = False


@dataclass
class CelCallInterpreter:
    """Feed CEL rows in file order; :meth:`facts` gives one :class:`CallFact` per call
    whose caller channel's start was seen. Pure: no I/O, no clock. ``problems`` lists
    the ``IVR211_CALL`` events that could not be read (each skipped)."""

    call_contexts: Collection[str] = DEFAULT_CALL_CONTEXTS
    problems: list[str] = field(default_factory=list)
    _calls: dict[str, _Call] = field(default_factory=dict, init=False)

    def feed(self, row: CelRow) -> None:
        if not row.linkedid:
            return
        if row.eventtype == CALL_CEL_EVENT:
            self._event(row)
            return
        if row.uniqueid != row.linkedid:
            return
        call = self._calls.get(row.linkedid)
        if row.eventtype == "CHAN_START":
            call = call or self._calls.setdefault(row.linkedid, _Call(row.linkedid))
            call.started_at = call.started_at or row.eventtime
        if call is None:
            return
        if row.context in self.call_contexts:
            call.in_line_context = True
        if row.eventtype == "CHAN_END":
            call.ended_at = row.eventtime

    def _event(self, row: CelRow) -> None:
        extra = row.extra.get("extra")
        try:
            if not isinstance(extra, str):
                raise CallEventError("no extra")
            step, values = parse_call_extra(extra)
        except CallEventError as exc:
            self.problems.append(f"{row.linkedid} {row.eventtime.isoformat()}: {exc}")
            log.warning("CEL %s event of call %s skipped: %s", CALL_CEL_EVENT, row.linkedid, exc)
            return
        call = self._calls.setdefault(row.linkedid, _Call(row.linkedid))
        call.events += 1
        if step == "dispatch":
            passes = _pass(values)
            if passes == 0 and call.dispatch is None:
                call.dispatch = values
            elif passes and call.exit_route is None:
                call.exit_route = values.get("route")
        elif step == "fallback" and call.fallback is None:
            call.fallback = values
        elif step == "queue" and call.queue is None:
            call.queue = (row.eventtime, values)
        elif step == GIVE_UP:
            call.gave_up = True

    def facts(self) -> list[CallFact]:
        """One fact per call of the line whose start was seen, in order of arrival."""
        facts = [
            self._fact(call, call.started_at)
            for call in self._calls.values()
            if call.started_at is not None and (call.in_line_context or call.events)
        ]
        return sorted(facts, key=lambda f: f.at)

    def _fact(self, call: _Call, started_at: datetime) -> CallFact:
        values: dict[str, Any] = {}
        if call.dispatch is not None:
            values.update(_decision(call.linkedid, call.dispatch, self.problems))
        if call.fallback is not None:
            values["route"] = "fallback"
            state = call.fallback.get("state")
            if state in LINE_STATES:
                values.setdefault("line_state", state)
        if call.queue is not None:
            values.update(_queue_end(call.queue[0], call.queue[1]))
        fact = CallFact(
            linkedid=call.linkedid,
            at=started_at,
            source=CallSource.CEL,
            caller_uniqueid=call.linkedid,
            ended_at=call.ended_at,
            exit_route=call.exit_route or (GIVE_UP if call.gave_up else None),
        )
        return replace(fact, **values)


def _decision(linkedid: str, values: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """The flow's decision as the dispatch told it; a value outside its set is dropped
    (and said), never stored."""
    out: dict[str, Any] = {}
    route, state = values.get("route"), values.get("state")
    if route in ROUTES:
        out["route"] = route
    elif route is not None:
        problems.append(f"{linkedid}: route {route!r} is not one of {ROUTES}")
    if state in LINE_STATES:
        out["line_state"] = state
    elif state is not None:
        problems.append(f"{linkedid}: line state {state!r} is not one of {LINE_STATES}")
    path = values.get("path")
    if path:
        out["path"] = path[:200]
    language = values.get("lang")
    if values.get("int") == "1":
        out["language"] = "interpreter"
    elif route == "hangup" and not any(s.startswith("lang:") for s in (path or "").split("/")):
        out["language"] = "none"  # hung up before the language menu had an answer
    elif language in _LANGUAGES:
        out["language"] = language
    if values.get("dest"):
        out["route_destination"] = values["dest"][:40]
    if values.get("queue"):
        out["queue"] = values["queue"][:80]
    return out


def _queue_end(at: datetime, values: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"queue_left_at": at}
    if values.get("queue"):
        out["queue"] = values["queue"][:80]
    outcome = _QUEUE_STATUS.get(values.get("status", ""))
    if outcome is QueueOutcome.TIMEOUT and values.get("cut") == "1":
        outcome = QueueOutcome.CLOSING
    if outcome is not None:
        out["queue_outcome"] = outcome
    return out
