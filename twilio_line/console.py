"""The navigators' commands on the Twilio back end: what the console asks of Twilio.

As on Asterisk, the dashboard only writes a command in the command table
(``store.commands``, the ``twilio_*`` kinds) and polls for its result; this runner, the
one process that speaks to Twilio's REST API for the navigators (``ivr211`` starts it
beside the web process), claims the due ones within their short expiry, runs each with
the twilio library and writes its result back. It never claims the listener's kinds, nor
the listener its own.

- ``twilio_take`` (``user``, optional ``call_sid``): the caller at the front of the
  line's queue (or that one) into the conference of their call, the navigator dialled
  into it at their navigator record's Twilio address (``twilio_line.conference``);
- ``twilio_transfer`` (``user``, ``destination``, ``mode``): the service of the
  destination directory dialled by its full number into the navigator's conference;
  attended puts the caller on hold first, blind removes the navigator, three-way keeps
  everyone. A destination without a full number (none filled in, or only an N11 code
  such as 811 or 211, which Twilio does not route) is refused before anything is dialled,
  and the attempt recorded as failed (``nonumber:<CallSid>:<destination>``, as on
  Asterisk);
- ``twilio_cancel``: the service removed, the caller taken off hold;
- ``twilio_complete``: the navigator leaves an answered attended consultation;
- ``twilio_referral`` (``destination``, ``linkedid``: the caller's CallSid): a referral
  without transfer, recorded at once.

The transfer records come from Twilio's callbacks (``ConferenceDesk``), not from here.

While its thread runs, the runner beats ``store.twilio_presence.RUNNER_HEARTBEAT`` in
``service_heartbeats`` every ``heartbeat_s``: the console offers the Twilio actions only
while that beat is fresh (on a line without Asterisk there is no listener to watch), and
the status page says whether the Twilio line can take the navigators' actions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException

from ivr.logsafe import printable
from ivr.settings import LineSettings
from store import commands
from store.calls import record_calls
from store.facts import Kind, Outcome, Source, TransferFact
from store.heartbeats import beat
from store.navigators import navigator_by_username
from store.transfers import record_facts
from store.twilio_calls import call_by_sid
from store.twilio_conferences import (
    TwilioConference,
    add_conference,
    conference_by_caller,
    conference_of_navigator,
)
from store.twilio_presence import RUNNER_HEARTBEAT
from twilio_line.calllog import queue_fact
from twilio_line.conference import (
    CONFERENCE_EVENTS,
    NAVIGATOR,
    SERVICE,
    SERVICE_EVENTS,
    TARGET_CONTEXT,
    ConferenceUrls,
    Participants,
    conference_ref,
    rest_client,
)
from twilio_line.options import TwilioOptions
from twilio_line.twiml import dial_number

__all__ = ["ConsoleError", "TwilioConsole"]

log = logging.getLogger(__name__)


class ConsoleError(Exception):
    """A command refused; ``code`` is the console's word for why (``dashboard.console``)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _sid(value: Any) -> str:
    return str(value or "")[:64]


class TwilioConsole:
    """Claims and runs the Twilio commands (:meth:`run_due`), or keeps doing so in a
    thread (:meth:`start`)."""

    def __init__(
        self,
        options: TwilioOptions,
        engine: Engine,
        settings_source: Callable[[], LineSettings],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        participants: Participants | None = None,
    ) -> None:
        self.options = options
        self.engine = engine
        self.settings_source = settings_source
        self.clock = clock
        self.participants = participants or Participants(options)
        self.urls = ConferenceUrls(options)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = self.clock().astimezone(UTC)

    # ---- the loop ---------------------------------------------------------------------

    def run_due(self) -> int:
        """Run every due command once; how many ran."""
        now = self.clock().astimezone(UTC)
        with Session(self.engine) as session, session.begin():
            commands.expire_stale(session, now)
            due = commands.claim_due(session, now, kinds=commands.TWILIO_KINDS)
        for command in due:
            self.execute(command.id, command.kind, dict(command.args))
        return len(due)

    def beat(self) -> None:
        """Say this runner is alive (its row in ``service_heartbeats``)."""
        with Session(self.engine) as session, session.begin():
            beat(session, RUNNER_HEARTBEAT, self._started_at, self.clock().astimezone(UTC))

    def start(self, poll_s: float = 0.25, heartbeat_s: float = 10.0) -> None:
        def loop() -> None:
            last_beat: float | None = None
            while True:
                if last_beat is None or time.monotonic() - last_beat >= heartbeat_s:
                    last_beat = time.monotonic()
                    try:
                        self.beat()
                    except Exception:
                        log.exception("cannot write the Twilio runner's heartbeat")
                if self._stop.wait(poll_s):
                    return
                try:
                    self.run_due()
                except Exception:
                    log.exception("cannot run the Twilio commands")

        self._thread = threading.Thread(target=loop, name="twilio-console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def execute(self, command_id: int, kind: str, args: dict[str, Any]) -> None:
        """Run one claimed command and write its result (never raises)."""
        try:
            status, payload = "ok", self._run(kind, args)
        except ConsoleError as exc:
            status, payload = "error", {"code": exc.code, "message": str(exc)}
        except (TwilioException, LookupError, OSError) as exc:
            log.error("command %d (%s): Twilio refused: %s", command_id, kind, printable(exc))
            status, payload = "error", {"code": "rejected", "message": f"Twilio refused: {exc}"}
        except Exception as exc:
            log.exception("command %d (%s) failed", command_id, kind)
            status, payload = "error", {"code": "internal", "message": f"internal error: {exc}"}
        with Session(self.engine) as session, session.begin():
            commands.complete(
                session, command_id, "ok" if status == "ok" else "error", payload, now=self.clock()
            )

    def _run(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user", ""))
        if kind == commands.TWILIO_TAKE:
            return self.take(user, str(args.get("call_sid", "")) or None)
        if kind == commands.TWILIO_TRANSFER:
            mode = str(args.get("mode", commands.ATTENDED))
            return self.transfer(user, str(args.get("destination", "")), mode)
        if kind == commands.TWILIO_CANCEL:
            return self.cancel(user)
        if kind == commands.TWILIO_COMPLETE:
            return self.complete(user)
        if kind == commands.TWILIO_REFERRAL:
            return self.referral(
                user, str(args.get("destination", "")), str(args.get("linkedid", ""))
            )
        raise ConsoleError(f"unknown command {kind!r}", "internal")

    # ---- take a caller ----------------------------------------------------------------

    def take(self, user: str, call_sid: str | None) -> dict[str, Any]:
        settings = self.settings_source()
        queue_name = settings.queue_name
        with Session(self.engine) as session, session.begin():
            nav = navigator_by_username(session, user)
            if nav is None or not nav.active:
                raise ConsoleError(f"no navigator {user!r}", "no_such_channel")
            if not nav.twilio_address:
                raise ConsoleError(
                    f"navigator {user!r} has no phone number or SIP address for Twilio",
                    "no_twilio_address",
                )
            if conference_of_navigator(session, user, lock=True) is not None:
                raise ConsoleError(f"{user} is already on a call", "busy")
            address, endpoint = nav.twilio_address, nav.phone_endpoint
        with rest_client(self.options) as client:
            queue = next((q for q in client.queues.stream() if q.friendly_name == queue_name), None)
            if queue is None or not queue.sid:
                raise ConsoleError(f"no Twilio queue {queue_name!r}", "queue_empty")
            members = sorted(client.queues(queue.sid).members.stream(), key=_position)
            member = next((m for m in members if call_sid is None or m.call_sid == call_sid), None)
            if member is None or not member.call_sid:
                raise ConsoleError("nobody is waiting", "queue_empty")
            caller_sid = _sid(member.call_sid)
            now = self.clock().astimezone(UTC)
            with Session(self.engine) as session, session.begin():
                caller = call_by_sid(session, caller_sid, lock=True)
                if caller is None or not caller.dialed_number:
                    raise ConsoleError(f"call {caller_sid} is not the line's", "no_such_channel")
                if conference_by_caller(session, caller_sid, lock=True) is not None:
                    raise ConsoleError(f"call {caller_sid} was already taken", "taken")
                row = add_conference(
                    session,
                    caller_sid=caller_sid,
                    navigator_user=user,
                    navigator_endpoint=endpoint,
                    line_number=caller.dialed_number,
                    at=now,
                )
                name, line_number, arrived = row.name, row.line_number, caller.arrived_at
            navigator_leg = ""
            try:
                navigator = client.conferences(name).participants.create(
                    from_=line_number,
                    to=address,
                    label=NAVIGATOR,
                    timeout=self.options.transfer_ring_s,
                    beep="false",
                    start_conference_on_enter=True,
                    end_conference_on_exit=False,
                    status_callback=self.urls.service_status(),
                    status_callback_method="POST",
                    status_callback_event=list(SERVICE_EVENTS),
                    conference_status_callback=self.urls.conference_status(),
                    conference_status_callback_method="POST",
                    conference_status_callback_event=list(CONFERENCE_EVENTS),
                )
                navigator_leg = _sid(navigator.call_sid)
                with Session(self.engine) as session, session.begin():
                    row = _conference(session, caller_sid)
                    row.navigator_sid = navigator_leg or None
                    row.conference_sid = _sid(navigator.conference_sid) or None
                client.queues(queue.sid).members(caller_sid).update(
                    url=self.urls.join(caller_sid), method="POST"
                )
            except TwilioException:
                with Session(self.engine) as session, session.begin():
                    gone = conference_by_caller(session, caller_sid, lock=True)
                    if gone is not None:
                        session.delete(gone)
                if navigator_leg:
                    self.participants.remove(name, navigator_leg)
                raise
        with Session(self.engine) as session, session.begin():
            waited = int(member.wait_time or 0)
            fact = queue_fact(
                caller_sid, arrived, now, queue_name, "bridged", waited, cut_at_closing=False
            )
            if fact is not None:
                record_calls(session, [fact], now=now)
        return {"message": "calling your phone; the caller joins you", "call_sid": caller_sid}

    # ---- transfers --------------------------------------------------------------------

    def transfer(self, user: str, destination: str, mode: str) -> dict[str, Any]:
        if mode not in commands.TRANSFER_MODES:
            raise ConsoleError(f"unknown transfer mode {mode!r}", "rejected")
        settings = self.settings_source()
        dest = settings.destination(destination)
        if dest is None:
            raise ConsoleError(f"unknown destination {destination!r}", "unknown_destination")
        number = dial_number(dest.number_for(settings.territory) or "")
        now = self.clock().astimezone(UTC)
        with Session(self.engine) as session, session.begin():
            row = self._live(session, user)
            if row.consulting:
                raise ConsoleError("a transfer is already under way", "busy")
            refused = not number.startswith("+")
            if refused:
                self._no_number(session, row, destination, mode, number, now)
            conference, caller = conference_ref(row), row.caller_sid
            navigator_sid, line_number = row.navigator_sid, row.line_number
        if refused:
            raise ConsoleError(
                f"{destination} has no full number Twilio can dial ({number or 'none'}): nothing"
                " was dialled, the caller is still with the navigator",
                "no_number",
            )
        if mode == commands.ATTENDED:
            self.participants.hold(conference, caller, True)
        with rest_client(self.options) as client:
            try:
                service = client.conferences(conference).participants.create(
                    from_=line_number,
                    to=number,
                    label=SERVICE,
                    timeout=self.options.transfer_ring_s,
                    beep="false",
                    early_media=True,
                    start_conference_on_enter=True,
                    end_conference_on_exit=False,
                    status_callback=self.urls.service_status(),
                    status_callback_method="POST",
                    status_callback_event=list(SERVICE_EVENTS),
                )
            except TwilioException:
                if mode == commands.ATTENDED:
                    self.participants.hold(conference, caller, False)
                raise
        with Session(self.engine) as session, session.begin():
            row = _conference(session, caller)
            row.start_consultation(_sid(service.call_sid), destination, mode, number, now)
        if mode == commands.BLIND and navigator_sid:
            self.participants.remove(conference, navigator_sid)
        said = {
            commands.ATTENDED: "the caller is on hold",
            commands.BLIND: "the caller is transferred",
            commands.THREE_WAY: "three-way call",
        }[mode]
        return {"message": f"calling {destination}; {said}", "service_sid": _sid(service.call_sid)}

    def _no_number(
        self,
        session: Session,
        row: TwilioConference,
        destination: str,
        mode: str,
        number: str,
        now: datetime,
    ) -> None:
        """The failed attempt at a destination Twilio cannot dial (nothing is dialled)."""
        kind = {commands.BLIND: Kind.BLIND, commands.THREE_WAY: Kind.THREEWAY}.get(
            mode, Kind.ATTENDED
        )
        fact = TransferFact(
            key=f"nonumber:{row.caller_sid}:{destination}",
            kind=kind,
            outcome=Outcome.FAILED,
            started_at=now,
            ended_at=now,
            linkedid=row.caller_sid,
            navigator_channel=row.navigator_endpoint,
            destination=destination,
            target_exten=number,
            target_context=TARGET_CONTEXT,
            caller_uniqueid=row.caller_sid,
            source=Source.TWILIO,
        )
        record_facts(session, [fact], now=now)

    def cancel(self, user: str) -> dict[str, Any]:
        with Session(self.engine) as session, session.begin():
            row = self._live(session, user)
            if not row.consulting or row.service_sid is None:
                raise ConsoleError("no transfer under way", "no_consultation")
            row.consult_state = "abandoned"
            conference, caller, service = conference_ref(row), row.caller_sid, row.service_sid
        self.participants.remove(conference, service)
        self.participants.hold(conference, caller, False)
        return {"message": "transfer cancelled; back with the caller"}

    def complete(self, user: str) -> dict[str, Any]:
        with Session(self.engine) as session, session.begin():
            row = self._live(session, user)
            if not (row.consulting and row.consult_state == "answered" and row.navigator_sid):
                raise ConsoleError("no answered transfer to complete", "no_consultation")
            conference, caller, navigator = conference_ref(row), row.caller_sid, row.navigator_sid
        self.participants.hold(conference, caller, False)
        self.participants.remove(conference, navigator)
        return {"message": "the caller is with the service"}

    def referral(self, user: str, destination: str, call_sid: str) -> dict[str, Any]:
        """A referral without transfer, once per destination per call (the key of the
        Asterisk side's referrals, ``referral:<call>:<destination>``)."""
        settings = self.settings_source()
        dest = settings.destination(destination)
        if dest is None:
            raise ConsoleError(f"unknown destination {destination!r}", "unknown_destination")
        if not call_sid:
            raise ConsoleError("a referral needs the call", "no_such_channel")
        now = self.clock().astimezone(UTC)
        with Session(self.engine) as session, session.begin():
            nav = navigator_by_username(session, user)
            if nav is None:
                raise ConsoleError(f"no navigator {user!r}", "no_such_channel")
            if call_by_sid(session, call_sid) is None:
                raise ConsoleError(f"call {call_sid} is not the line's", "no_such_channel")
            fact = TransferFact(
                key=f"referral:{call_sid}:{destination}",
                kind=Kind.REFERRAL,
                outcome=Outcome.COMPLETED,
                started_at=now,
                ended_at=now,
                linkedid=call_sid,
                navigator_channel=nav.phone_endpoint,
                destination=destination,
                target_exten=dial_number(dest.number_for(settings.territory) or ""),
                target_context=TARGET_CONTEXT,
                caller_uniqueid=call_sid,
                source=Source.TWILIO,
            )
            new = record_facts(session, [fact], now=now)
        said = "recorded" if new else "was already recorded"
        return {"message": f"referral to {destination} {said}", "key": fact.key}

    def _live(self, session: Session, user: str) -> TwilioConference:
        row = conference_of_navigator(session, user, lock=True)
        if row is None:
            raise ConsoleError(f"{user} is not on a call", "no_such_channel")
        return row


def _position(member: Any) -> int:
    return int(member.position or 0)


def _conference(session: Session, caller_sid: str) -> TwilioConference:
    row = conference_by_caller(session, caller_sid, lock=True)
    if row is None:
        raise ConsoleError(f"the conference of {caller_sid} is gone", "no_such_channel")
    return row
