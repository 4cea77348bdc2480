"""``ivr211 reconcile --twilio --since ...``: the call records of calls Twilio carried
while the web process missed their webhooks or callbacks, rebuilt from the Calls
resource of Twilio's REST API.

Conference participants are listed only while a conference is live, so the Calls
resource is the one lasting account of what happened: every call of the account
started since ``--since`` (``GET .../Calls.json?StartTime>=...``, every page). For each
inbound parent call (its ``parent_call_sid`` empty: the caller's own leg; a ``<Dial>``
leg names its parent):

- the arrival (``start_time``), the end (``end_time``) and the caller's number
  (``from``, ``ivr.callerid``'s rule: a withheld form is none), always;
- when the line kept the call's state (``store.twilio_calls``) and its flow decided:
  that decision, as the webhook would have written it (``calllog.decision_fact``);
- when the flow had not decided and the call is over: the hang-up, the flow sent
  ``HungUp`` as the status callback would have;
- when the line never saw the call (the web process did not answer: Twilio played the
  number's fallback URL): route ``fallback``, as for a call the dialplan's fallback took.

The facts are merged by ``store.calls.record_calls`` on the ``CallSid``: a call already
recorded is completed, never counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from twilio.rest import Client

from ivr.actions import Finish, HungUp
from ivr.callerid import caller_number
from ivr.flow import ENTRY_QUEUE_EXIT, FlowError
from ivr.settings import LineSettings
from store.calls import CallFact, CallSource, record_calls
from store.twilio_calls import TwilioCall, call_by_sid
from twilio_line.calllog import decision_fact
from twilio_line.options import TwilioOptions
from twilio_line.recordings import RestHttpClient
from twilio_line.replay import decision_from_data, replay

__all__ = ["TwilioReconcileReport", "call_facts", "reconcile_twilio"]

_ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@dataclass(frozen=True)
class TwilioReconcileReport:
    listed: int
    written: int
    fallback: int

    def __str__(self) -> str:
        return (
            f"Twilio: {self.listed} calls listed, {self.written} call records written"
            f" ({self.fallback} answered by the fallback URL)"
        )


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def call_facts(
    row: TwilioCall | None,
    settings: LineSettings,
    *,
    sid: str,
    started: datetime,
    ended: datetime | None,
    status: str,
    from_: str | None,
) -> list[CallFact]:
    """What one inbound call of the Calls resource says, with the line's row of it."""
    base = CallFact(
        linkedid=sid,
        at=started,
        source=CallSource.FLOW,
        caller_uniqueid=sid,
        caller_number=caller_number(from_),
        ended_at=ended,
    )
    if row is None:
        return [CallFact(linkedid=sid, at=started, source=CallSource.FLOW, route="fallback"), base]
    data = row.decision_data()
    queue_exit = row.entry == ENTRY_QUEUE_EXIT
    when = ended or started
    if data is not None:
        decision = decision_from_data(data)
    elif status in _ENDED:
        try:
            flow, _action, _fingerprint = replay(settings, row)
        except FlowError:  # the settings changed since: the pass as it starts now
            flow, _action, _fingerprint = replay(settings, row, [])
        final = flow.send(HungUp())
        if not isinstance(final, Finish):
            return [base]
        decision = final.decision
    else:
        return [base]
    fact = decision_fact(
        sid, row.arrived_at, when, decision, row.caller_number, queue_exit=queue_exit
    )
    return [fact, base]


def reconcile_twilio(
    options: TwilioOptions,
    engine: Engine,
    settings_source: Callable[[], LineSettings],
    since: datetime,
    *,
    now: datetime,
) -> TwilioReconcileReport:
    """List the account's calls started at or after ``since`` and write their facts."""
    if not options.account_sid:
        raise LookupError("no account configured ([twilio] account_sid)")
    settings = settings_source()
    http = RestHttpClient(options.api_url, options.timeout_s)
    try:
        client = Client(options.account_sid, options.auth_token(), http_client=http, environment={})
        calls = list(client.calls.stream(start_time_after=since))
    finally:
        if http.session is not None:
            http.session.close()
    facts: list[CallFact] = []
    listed = fallback = 0
    with Session(engine) as session, session.begin():
        for call in calls:
            if call.parent_call_sid or call.direction != "inbound" or not call.sid:
                continue
            started = _utc(call.start_time) or _utc(call.date_created)
            if started is None:
                continue
            listed += 1
            row = call_by_sid(session, call.sid)
            fallback += row is None
            facts += call_facts(
                row,
                settings,
                sid=call.sid,
                started=started,
                ended=_utc(call.end_time),
                status=str(call.status or ""),
                from_=call._from,
            )
        written = record_calls(session, facts, now=now)
    return TwilioReconcileReport(listed=listed, written=written, fallback=fallback)
