"""The call records of a call carried by Twilio, from its webhooks and status callbacks.

The same ``store.calls.CallFact`` the FastAGI server's call log writes, keyed on the
``CallSid`` (the one id every webhook and callback of the call carries, as the linkedid
is on Asterisk). ``store.calls.record_calls`` merges facts by that key, so a callback
Twilio repeats, or a fact written twice, changes nothing; the local date, hour and
fiscal year come from the arrival, as for every call, so the reports do not care which
back end carried it. What each request says:

- the flow's decision (``decision_fact``), as ``store.flowfacts.flow_fact`` words it
  for both back ends: the line's state, the language (``interpreter`` on the
  interpreter's path, ``none`` for a hang-up before any language), the path, the route
  and its destination or queue; a ``queue-exit`` pass says only what the queue-exit
  menu did (``exit_route``);
- the end of a wait in the queue (``queue_fact``, the ``<Enqueue>`` action):
  ``QueueResult`` ``bridged`` -> answered, ``hangup`` -> abandoned, ``leave`` ->
  timeout (or closing, when the wait was cut to the closing time), ``queue-full`` ->
  full; ``QueueTime`` is the wait;
- the end of the call (``end_fact``, the status callback);
- a research message recorded (the ``<Record>`` action with a recording).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from ivr.actions import Decision
from ivr.flow import ENTRY_QUEUE_EXIT
from store.calls import CallFact, CallSource, QueueOutcome
from store.flowfacts import flow_fact

__all__ = ["decision_fact", "end_fact", "queue_fact", "research_fact"]

_QUEUE_RESULTS: Final = {
    "bridged": QueueOutcome.ANSWERED,
    "bridging-in-process": QueueOutcome.ANSWERED,
    "hangup": QueueOutcome.ABANDONED,
    "queue-full": QueueOutcome.FULL,
}


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def decision_fact(
    call_sid: str,
    arrived_at: datetime,
    now: datetime,
    decision: Decision,
    caller_number: str | None,
    *,
    queue_exit: bool,
) -> CallFact:
    """The flow's decision as a call fact (the first pass), or the queue-exit menu's:
    ``store.flowfacts.flow_fact``, the FastAGI server's rule, on the ``CallSid``."""
    entry = ENTRY_QUEUE_EXIT if queue_exit else ""
    return flow_fact(
        call_sid, call_sid, _utc(arrived_at), _utc(now), entry, decision, caller_number
    )


def queue_fact(
    call_sid: str,
    arrived_at: datetime,
    now: datetime,
    queue: str,
    result: str,
    waited_s: int,
    *,
    cut_at_closing: bool,
) -> CallFact | None:
    """How the wait ended (the ``<Enqueue>`` action's ``QueueResult`` and ``QueueTime``);
    None for a result that says nothing of the wait (``error``, ``system-error``)."""
    outcome = _QUEUE_RESULTS.get(result)
    if result in ("leave", "redirected"):
        outcome = QueueOutcome.CLOSING if cut_at_closing else QueueOutcome.TIMEOUT
    if outcome is None:
        return None
    left = _utc(now)
    return CallFact(
        linkedid=call_sid,
        at=_utc(arrived_at),
        source=CallSource.FLOW,
        queue=queue,
        queue_joined_at=left - timedelta(seconds=max(0, waited_s)),
        queue_left_at=left,
        queue_outcome=outcome,
        wait_s=float(max(0, waited_s)),
    )


def end_fact(call_sid: str, arrived_at: datetime, ended_at: datetime) -> CallFact:
    return CallFact(
        linkedid=call_sid, at=_utc(arrived_at), source=CallSource.FLOW, ended_at=_utc(ended_at)
    )


def research_fact(call_sid: str, arrived_at: datetime) -> CallFact:
    return CallFact(
        linkedid=call_sid, at=_utc(arrived_at), source=CallSource.FLOW, research_message=True
    )
