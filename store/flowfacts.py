"""The flow's decision as a call record: one rule for every telephony back end.

The FastAGI server (``agi_scripts.calllog``) and the Twilio back end
(``twilio_line.calllog``) both know what no other source knows for certain: the line's
state when the call arrived, the language, the path through the menus and the route the
flow decided (``ivr.actions.Decision``), and what the queue-exit menu did. Both word it
here, so the call records, and the reports on them, do not care which back end carried
the call (the adapters may not import one another).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from ivr.actions import Decision
from ivr.dialplan import Route
from ivr.flow import ENTRY_QUEUE_EXIT
from store.calls import CallFact, CallSource

__all__ = ["INTERPRETER", "NO_LANGUAGE", "flow_fact"]

#: ``CallFact.language`` for a caller who took the interpreter's path, and for one who
#: hung up before the language menu had an answer or a default.
INTERPRETER: Final = "interpreter"
NO_LANGUAGE: Final = "none"


def flow_fact(
    linkedid: str,
    uniqueid: str,
    arrived_at: datetime,
    ended_at: datetime,
    entry: str,
    decision: Decision | None,
    caller_number: str | None,
) -> CallFact:
    """What the flow knows of one pass as a call fact.

    A first pass (``entry`` empty) gives the line's state, language, path and route; a
    ``queue-exit`` pass gives only what the queue-exit menu did (``exit_route``): the
    first pass already said the rest. ``decision`` None: the caller hung up before the
    flow decided anything (route ``hangup``)."""
    if entry == ENTRY_QUEUE_EXIT:
        return CallFact(
            linkedid=linkedid,
            at=arrived_at,
            source=CallSource.FLOW,
            exit_route=None if decision is None else decision.route.value,
        )
    if decision is None:
        return CallFact(
            linkedid=linkedid,
            at=arrived_at,
            source=CallSource.FLOW,
            caller_uniqueid=uniqueid,
            caller_number=caller_number,
            route=Route.HANGUP.value,
            ended_at=ended_at,
        )
    if decision.interpreter:
        language = INTERPRETER
    elif decision.route is Route.HANGUP and not any(
        step.startswith("lang:") for step in decision.path
    ):
        language = NO_LANGUAGE  # hung up before the language menu had an answer or a default
    else:
        language = decision.language  # chosen, or the default the call went on in
    return CallFact(
        linkedid=linkedid,
        at=arrived_at,
        source=CallSource.FLOW,
        caller_uniqueid=uniqueid,
        caller_number=caller_number,
        line_state=decision.line_state or None,
        language=language,
        path=decision.path_text[:200] or None,
        route=decision.route.value,
        route_destination=decision.destination,
        queue=decision.queue,
        research_message=False,
        ended_at=ended_at if decision.route is Route.HANGUP else None,
    )
