"""The navigators' calls on Twilio: a conference per taken caller, and the bascule in it.

A navigator takes a waiting caller from the console (``twilio_line.console``): the line
adds the navigator to the conference ``ivr211-<caller's CallSid>`` with the Conference
Participants API (dialling the phone number or SIP address of their navigator record),
then dequeues the caller into it (the Queue Member resource, with the URL of
:func:`join_twiml`). From there a warm transfer is three REST requests, as Twilio's own
warm-transfer pattern does it: the caller's participant updated ``Hold=true``, the
service added as a participant (dialled by its full number from the destination
directory), the caller updated ``Hold=false`` once the navigator leaves (complete) or
the service is removed (abandon: the navigator is back with the caller). Blind: the
service added and the navigator removed at once. Three-way: the service added, nobody
on hold.

Twilio reports with two callbacks, both signed like every webhook:

- the conference's ``statusCallback`` (``StatusCallbackEvent`` ``participant-join``,
  ``participant-leave``, ``conference-end``..., with ``FriendlyName``,
  ``ConferenceSid``, ``CallSid`` and ``ParticipantLabel``): :meth:`ConferenceDesk.
  conference_event`;
- the service leg's ``statusCallback`` (call progress: ``CallStatus`` ``ringing``,
  ``in-progress`` when answered, then ``completed``, ``busy``, ``no-answer``,
  ``failed`` or ``canceled``, with ``Timestamp``): :meth:`ConferenceDesk.service_event`.

The transfer record (``store.facts.TransferFact``, key ``twilio:<service CallSid>``,
written once by ``store.transfers.record_facts``) gets the outcomes of DOMAIN.md as the
listener concludes them on Asterisk: completed (the caller joined to the answered
service: the navigator left an attended consultation, or a blind / three-way transfer
was answered), abandoned (the navigator removed the service), busy, not answered,
failed (the dial failed, or the service hung up during the consultation), caller hung up
(the caller left during the consultation). The navigator is named by their Asterisk
endpoint, as every record names them, so the reports per navigator do not care which
back end carried the call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from ivr.logsafe import printable
from store.facts import Kind, Outcome, Source, TransferFact
from store.transfers import record_facts
from store.twilio_calls import call_by_sid
from store.twilio_conferences import (
    TwilioConference,
    conference_by_caller,
    conference_by_name,
    conference_by_navigator_leg,
    conference_by_service,
    conference_name,
)
from twilio_line.options import TwilioOptions
from twilio_line.recordings import RestHttpClient
from twilio_line.replay import decision_from_data

__all__ = [
    "CALLER",
    "NAVIGATOR",
    "SERVICE",
    "TARGET_CONTEXT",
    "ConferenceDesk",
    "ConferenceUrls",
    "Participants",
    "conference_ref",
    "join_twiml",
    "rest_client",
    "taken",
    "transfer_fact",
]

log = logging.getLogger(__name__)

#: The participants' labels (``ParticipantLabel`` in the conference's callbacks).
CALLER: Final = "caller"
NAVIGATOR: Final = "navigator"
SERVICE: Final = "service"
#: What a Twilio transfer record says in ``target_context`` (Asterisk's is its
#: transfer context); ``target_exten`` is the number dialled.
TARGET_CONTEXT: Final = "twilio"
#: The conference events the line asks for (``statusCallbackEvent``).
CONFERENCE_EVENTS: Final = ("start", "end", "join", "leave", "hold")
#: The service leg's call progress events (``statusCallbackEvent`` of a participant).
SERVICE_EVENTS: Final = ("initiated", "ringing", "answered", "completed")
_KINDS: Final = {"attended": Kind.ATTENDED, "blind": Kind.BLIND, "three_way": Kind.THREEWAY}
_DIAL_FAILED: Final = {
    "busy": Outcome.BUSY,
    "no-answer": Outcome.NOT_ANSWERED,
    "failed": Outcome.FAILED,
    "canceled": Outcome.FAILED,
}


class ConferenceUrls:
    """The URLs Twilio is given for the conferences, absolute on the public URL."""

    def __init__(self, options: TwilioOptions) -> None:
        self.root = options.base + options.url_prefix

    def join(self, caller_sid: str) -> str:
        return f"{self.root}/join/{caller_sid}"

    def conference_status(self) -> str:
        return f"{self.root}/conference"

    def requeue(self, caller_sid: str) -> str:
        return f"{self.root}/requeue/{caller_sid}"

    def service_status(self) -> str:
        return f"{self.root}/service"


def join_twiml(options: TwilioOptions, caller_sid: str) -> VoiceResponse:
    """The caller taken from the queue into the conference of their call. The caller
    does not start the conference (they hear the wait music until the navigator is
    in) and does not end it (a navigator may still be briefing a service)."""
    urls = ConferenceUrls(options)
    response = VoiceResponse()
    dial = Dial()
    dial.conference(
        conference_name(caller_sid),
        participant_label=CALLER,
        start_conference_on_enter=False,
        end_conference_on_exit=False,
        beep=False,
        status_callback=urls.conference_status(),
        status_callback_method="POST",
        status_callback_event=" ".join(CONFERENCE_EVENTS),
    )
    response.append(dial)
    response.hangup()
    return response


@contextmanager
def rest_client(options: TwilioOptions) -> Iterator[Client]:
    """The library's client on the account, to ``api_url`` when set (a test's stand-in)."""
    if not options.account_sid:
        raise LookupError("no account configured ([twilio] account_sid)")
    http = RestHttpClient(options.api_url, options.timeout_s)
    try:
        yield Client(options.account_sid, options.auth_token(), http_client=http, environment={})
    finally:
        if http.session is not None:
            http.session.close()


def taken(engine: Engine, caller_sid: str) -> bool:
    """Whether a navigator took the call into its conference."""
    with Session(engine) as session:
        return conference_by_caller(session, caller_sid) is not None


def _when(form: Mapping[str, str], clock: Callable[[], datetime]) -> datetime:
    """``Timestamp`` (RFC 2822, as Twilio sends it), else the clock."""
    text = form.get("Timestamp", "")
    if text:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            return when.astimezone(UTC)
    return clock().astimezone(UTC)


def transfer_fact(
    session: Session, row: TwilioConference, outcome: Outcome, at: datetime
) -> TransferFact:
    """The record of the row's consultation ending with ``outcome`` at ``at``."""
    if row.service_sid is None or row.consult_started_at is None:
        raise ValueError(f"conference {row.name}: no consultation to record")
    caller = call_by_sid(session, row.caller_sid)
    data = None if caller is None else caller.decision_data()
    decision = None if data is None else decision_from_data(data)
    started = row.consult_started_at.astimezone(UTC)
    answered = row.service_answered_at
    delay = None if answered is None else max(0.0, (answered - started).total_seconds())
    return TransferFact(
        key=f"twilio:{row.service_sid}",
        kind=_KINDS.get(row.mode or "", Kind.ATTENDED),
        outcome=outcome,
        started_at=started,
        ended_at=at.astimezone(UTC),
        linkedid=row.caller_sid,
        navigator_channel=row.navigator_endpoint,
        destination=row.destination,
        target_exten=row.target or "",
        target_context=TARGET_CONTEXT,
        answer_delay_s=delay,
        caller_uniqueid=row.caller_sid,
        caller_number=None if caller is None else caller.caller_number,
        language=None if decision is None else decision.language,
        path=None if decision is None else decision.path_text[:200] or None,
        interpreter=bool(decision and decision.interpreter),
        source=Source.TWILIO,
    )


class Participants:
    """The REST requests the desk and the console make on a conference's participants;
    a request Twilio refuses (the leg already gone) is logged, never raised: the
    callbacks that follow say what became of the call. A conference is named by its
    ``ConferenceSid`` once known, else by its name."""

    def __init__(self, options: TwilioOptions) -> None:
        self.options = options

    def hold(self, conference: str, call_sid: str, on_hold: bool) -> None:
        try:
            with rest_client(self.options) as client:
                client.conferences(conference).participants(call_sid).update(hold=on_hold)
        except TwilioException as exc:
            log.warning("conference %s: hold=%s refused: %s", conference, on_hold, exc)

    def remove(self, conference: str, call_sid: str) -> None:
        try:
            with rest_client(self.options) as client:
                client.conferences(conference).participants(call_sid).delete()
        except TwilioException as exc:
            log.warning("conference %s: removing %s refused: %s", conference, call_sid, exc)

    def redirect(self, call_sid: str, url: str) -> None:
        """The call's TwiML replaced by ``url``'s (the caller back in the queue)."""
        try:
            with rest_client(self.options) as client:
                client.calls(call_sid).update(url=url, method="POST")
        except TwilioException as exc:
            log.warning("call %s: redirect refused: %s", call_sid, printable(exc))

    def hang_up(self, call_sid: str) -> None:
        """A caller left alone in the conference (the navigator and the service gone)."""
        try:
            with rest_client(self.options) as client:
                client.calls(call_sid).update(status="completed")
        except TwilioException as exc:
            log.warning("call %s: hang-up refused: %s", call_sid, printable(exc))


def conference_ref(row: TwilioConference) -> str:
    return row.conference_sid or row.name


class ConferenceDesk:
    """Serves the conferences' callbacks: one short transaction each, the REST requests
    they call for made once it committed."""

    def __init__(
        self,
        options: TwilioOptions,
        engine: Engine,
        clock: Callable[[], datetime],
        participants: Participants | None = None,
    ) -> None:
        self.options = options
        self.engine = engine
        self.clock = clock
        self.participants = participants or Participants(options)
        self.urls = ConferenceUrls(options)

    def conference_event(self, form: Mapping[str, str]) -> int:
        """One conference status callback; how many transfer records it wrote."""
        event = form.get("StatusCallbackEvent", "")
        at = _when(form, self.clock)
        after: list[Callable[[], None]] = []
        written = 0
        with Session(self.engine) as session, session.begin():
            row = conference_by_name(session, form.get("FriendlyName", ""), lock=True)
            if row is None:
                log.info("conference %s is not the line's", printable(form.get("FriendlyName")))
                return 0
            if form.get("ConferenceSid") and row.conference_sid is None:
                row.conference_sid = form["ConferenceSid"][:64]
            call_sid = form.get("CallSid", "")
            label = form.get("ParticipantLabel", "")
            if event == "conference-end":
                row.ended_at = row.ended_at or at
            elif event == "participant-join" and label == NAVIGATOR and not row.navigator_sid:
                row.navigator_sid = call_sid[:64]
            elif event == "participant-leave" and (
                label == NAVIGATOR or call_sid == row.navigator_sid
            ):
                written, then = self._navigator_left(session, row, at)
                after += then
                row.navigator_user = ""  # free for the next caller (``conference_of_navigator``)
            elif (
                event == "participant-leave"
                and (label == CALLER or call_sid == row.caller_sid)
                and row.consulting
            ):
                fact = transfer_fact(session, row, Outcome.CALLER_HUNG_UP, at)
                written = record_facts(session, [fact])
                row.consult_state = "caller_gone"
        for action in after:
            action()
        return written

    def caller_gone(self, caller_sid: str) -> None:
        """The caller's call ended (its status callback): their conference, if a
        navigator took it, is over even if Twilio's ``conference-end`` is lost, so the
        navigator is free to take the next caller."""
        with Session(self.engine) as session, session.begin():
            row = conference_by_caller(session, caller_sid, lock=True)
            if row is not None and row.ended_at is None:
                row.ended_at = self.clock().astimezone(UTC)

    def _navigator_left(
        self, session: Session, row: TwilioConference, at: datetime
    ) -> tuple[int, list[Callable[[], None]]]:
        """The navigator left the conference: an answered attended consultation is
        completed (the caller joined to the service); one still ringing goes on as a
        blind transfer (the service answering completes it); with no service, the caller
        is alone and their call ends."""
        conference, caller = conference_ref(row), row.caller_sid
        take_off_hold = [lambda: self.participants.hold(conference, caller, False)]
        if row.consulting and row.mode == "attended" and row.consult_state == "answered":
            row.consult_state = "completed"
            fact = transfer_fact(session, row, Outcome.COMPLETED, at)
            return record_facts(session, [fact]), take_off_hold
        if row.consulting and row.mode == "attended":
            row.mode = "blind"
            return 0, take_off_hold
        if row.consulting or row.consult_state == "completed":
            return 0, []
        return 0, [lambda: self.participants.hang_up(caller)]

    def service_event(self, form: Mapping[str, str]) -> int:
        """The call progress of a leg the line dialled into a conference: the service's
        (how many transfer records it wrote), or the navigator's."""
        status = form.get("CallStatus", "")
        at = _when(form, self.clock)
        leg = form.get("CallSid", "")
        after: list[Callable[[], None]] = []
        written = 0
        with Session(self.engine) as session, session.begin():
            taker = conference_by_navigator_leg(session, leg, lock=True) if leg else None
            if taker is not None and status in _DIAL_FAILED:
                # The navigator's phone did not answer: the caller goes back to the
                # queue, where another navigator (or this one again) can take them.
                caller = taker.caller_sid
                log.info("call %s: the navigator did not answer (%s)", caller, status)
                session.delete(taker)
                url = self.urls.requeue(caller)
                after.append(lambda: self.participants.redirect(caller, url))
            row = conference_by_service(session, leg, lock=True) if leg else None
            if row is not None:
                written = self._service_progress(session, row, status, at, after)
            elif taker is None:
                log.info("leg %s is not the line's", printable(leg))
        for action in after:
            action()
        return written

    def _service_progress(
        self,
        session: Session,
        row: TwilioConference,
        status: str,
        at: datetime,
        after: list[Callable[[], None]],
    ) -> int:
        state = row.consult_state
        conference, caller = conference_ref(row), row.caller_sid
        outcome: Outcome | None = None
        if status == "in-progress" and state == "ringing":
            row.service_answered_at = at
            row.consult_state = "answered"
            if row.mode in ("blind", "three_way"):
                row.consult_state = "completed"
                outcome = Outcome.COMPLETED
        elif status in _DIAL_FAILED or status == "completed":
            if state == "abandoned":
                outcome = Outcome.ABANDONED
            elif state in ("ringing", "answered") and row.mode == "blind":
                # A blind transfer that failed: the navigator is gone, so the caller
                # goes back to the queue (as the dialplan's [ivr211-dial-dest] does).
                outcome = _DIAL_FAILED.get(status, Outcome.FAILED)
                row.consult_state = "ended"
                url = self.urls.requeue(caller)
                after.append(lambda: self.participants.redirect(caller, url))
            elif state in ("ringing", "answered"):
                outcome = _DIAL_FAILED.get(status, Outcome.FAILED)
                row.consult_state = "ended"
                after.append(lambda: self.participants.hold(conference, caller, False))
            elif state == "completed" and row.mode != "three_way" and status == "completed":
                # The service hung up after the caller was joined to it: the caller is
                # alone in the conference.
                after.append(lambda: self.participants.hang_up(caller))
        if outcome is None:
            return 0
        written = record_facts(session, [transfer_fact(session, row, outcome, at)])
        if row.consult_state == "ended" and row.mode == "blind":
            session.delete(row)  # the caller leaves the conference: they can be taken anew
        return written
