"""The navigators on Twilio: a caller taken from the queue into a conference, the
bascule in it (attended, blind, three-way, abandoned), and the transfer records written
from Twilio's conference and participant callbacks, once per service leg.

The console's commands go through the command table and ``TwilioConsole``, which speaks
to the stand-in for Twilio's REST API (``conference_rest``) with the twilio library; the
callbacks reach the blueprint signed as Twilio signs them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr211.config import DEFAULT_SEED
from store import commands
from store.calls import CallRecord, QueueOutcome
from store.linesettings import seed_if_empty
from store.models import TransferRecord
from store.navigators import add_navigator, set_twilio_address
from store.reports.annual import annual_section, annual_text
from store.reports.basis import Period
from store.transfers import fiscal_year
from tests.twilio_line.conference_rest import FakeTwilio, Member, fake_twilio
from tests.twilio_line.helpers import (
    ACCOUNT,
    LINE_NUMBER,
    OPEN_NOW,
    PUBLIC,
    Line,
    line_settings,
    running_line,
    verbs,
    walk,
)
from twilio_line.console import TwilioConsole

CALLER = "CA" + "c" * 32
NAVIGATOR_LEG = "CA" + "a" * 32
SERVICE_LEG = "CA" + "5" * 32
SECOND_SERVICE = "CA" + "6" * 32
ALICE_PHONE = "+14185550101"


@dataclass
class Desk:
    line: Line
    fake: FakeTwilio
    console: TwilioConsole

    def command(self, kind: str, **args: Any) -> commands.Command:
        with Session(self.line.engine) as session, session.begin():
            command_id = commands.submit(
                session, kind, {"user": "alice", **args}, "dashboard:alice", now=self.now
            )
        assert self.console.run_due() == 1
        with Session(self.line.engine) as session:
            return commands.get(session, command_id)

    @property
    def now(self) -> Any:
        return self.line.now[0].astimezone(OPEN_NOW.tzinfo)

    def later(self, seconds: int) -> str:
        self.line.now[0] = self.line.now[0] + timedelta(seconds=seconds)
        return format_datetime(self.line.now[0])

    def conference(self, event: str, call_sid: str, label: str, seconds: int = 1) -> None:
        params = {
            "AccountSid": ACCOUNT,
            "ConferenceSid": self.fake.conference_sid,
            "FriendlyName": f"ivr211-{CALLER}",
            "StatusCallbackEvent": event,
            "CallSid": call_sid,
            "ParticipantLabel": label,
            "Muted": "false",
            "Hold": "false",
            "Coaching": "false",
            "EndConferenceOnExit": "false",
            "StartConferenceOnEnter": "true",
            "SequenceNumber": "1",
            "Timestamp": self.later(seconds),
        }
        response = self.line.post(f"{PUBLIC}/twilio/conference", params)
        assert response.status_code == 204

    def service(self, status: str, seconds: int, call_sid: str = SERVICE_LEG) -> None:
        params = {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": call_sid,
            "CallStatus": status,
            "Direction": "outbound-api",
            "From": LINE_NUMBER,
            "To": "+18662773553",
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
            "Timestamp": self.later(seconds),
        }
        response = self.line.post(f"{PUBLIC}/twilio/service", params)
        assert response.status_code == 204

    def records(self) -> list[TransferRecord]:
        with Session(self.line.engine) as session:
            return list(session.scalars(select(TransferRecord).order_by(TransferRecord.id)))

    def holds(self) -> list[str]:
        return [form["Hold"][0] for form in self.fake.sent("POST", f"/Participants/{CALLER}.json")]

    def take(self) -> None:
        """The caller walks the menus into the queue, Alice takes the call, Twilio brings
        both into the conference."""
        verb, _response = walk(self.line, ["1", "1"], CALLER)
        assert verb == "Enqueue"
        self.fake.members.append(Member(CALLER, position=1, wait_time=42))
        taken = self.command(commands.TWILIO_TAKE)
        assert taken.status == "ok", taken.result
        join_url = f"{PUBLIC}/twilio/join/{CALLER}"
        (dequeued,) = self.fake.sent("POST", f"/Members/{CALLER}.json")
        assert dequeued["Url"] == [join_url]
        joined = self.line.post(join_url, self.line.call_params(CALLER))
        assert joined.status_code == 200
        (dial, _hangup) = verbs(joined.data)
        (conference,) = list(dial)
        assert conference.text == f"ivr211-{CALLER}"
        assert conference.get("participantLabel") == "caller"
        assert conference.get("startConferenceOnEnter") == "false"
        self.conference("participant-join", NAVIGATOR_LEG, "navigator")
        self.conference("participant-join", CALLER, "caller")


@contextmanager
def desk(tmp_path: Path, *, url: str | None = None) -> Iterator[Desk]:
    settings = line_settings()
    fake = FakeTwilio(
        ACCOUNT, settings.queue_name, participant_sids=[NAVIGATOR_LEG, SERVICE_LEG, SECOND_SERVICE]
    )
    with fake_twilio(fake) as api, running_line(tmp_path, url=url, api_url=api) as line:
        with Session(line.engine) as session, session.begin():
            add_navigator(session, "alice", "Alice Tremblay", "PJSIP/nav-alice")
            set_twilio_address(session, "alice", ALICE_PHONE)
        console = TwilioConsole(
            line.options, line.engine, lambda: line.settings["settings"], lambda: line.now[0]
        )
        yield Desk(line, fake, console)


def test_a_warm_transfer_from_the_first_webhook_to_the_annual_section(
    tmp_path: Path, db_url: str
) -> None:
    with desk(tmp_path, url=db_url) as d:
        d.take()
        (alice,) = d.fake.sent("POST", f"/Conferences/ivr211-{CALLER}/Participants.json")
        assert alice["To"] == [ALICE_PHONE]
        assert alice["From"] == [LINE_NUMBER]
        assert alice["Label"] == ["navigator"]
        assert alice["ConferenceStatusCallback"] == [f"{PUBLIC}/twilio/conference"]

        started = d.command(commands.TWILIO_TRANSFER, destination="cps", mode="attended")
        assert started.status == "ok", started.result
        assert d.holds() == ["true"]
        (service,) = d.fake.sent("POST", f"/Conferences/{d.fake.conference_sid}/Participants.json")
        assert service["To"] == ["+18662773553"]  # the directory's full number, in E.164
        assert service["Label"] == ["service"]
        assert service["StatusCallback"] == [f"{PUBLIC}/twilio/service"]
        d.service("ringing", 1)
        d.service("in-progress", 11)
        assert d.records() == []  # briefing the service: nothing concluded yet

        done = d.command(commands.TWILIO_COMPLETE)
        assert done.status == "ok", done.result
        assert d.holds() == ["true", "false"]
        assert d.fake.sent("DELETE", f"/Participants/{NAVIGATOR_LEG}.json") == [{}]
        d.conference("participant-leave", NAVIGATOR_LEG, "navigator", seconds=20)
        d.conference("participant-leave", NAVIGATOR_LEG, "navigator", seconds=1)  # repeated
        free = d.command(commands.TWILIO_TAKE)  # Alice is free for the next caller
        assert free.result is not None and free.result["code"] == "queue_empty"
        d.service("completed", 300)

        (record,) = d.records()
        assert record.key == f"twilio:{SERVICE_LEG}"
        assert (record.kind, record.outcome) == ("attended", "completed")
        assert record.destination == "cps"
        assert record.linkedid == CALLER
        assert record.answer_delay_s == 12.0
        assert record.navigator_channel == "PJSIP/nav-alice"
        assert record.navigator_id is not None
        assert record.target_exten == "+18662773553"
        assert record.language == "fr"
        assert record.source == "twilio"  # the records export says which back end
        local = record.started_at.astimezone(OPEN_NOW.tzinfo)
        assert (record.local_date, record.local_hour) == (local.date(), local.hour)
        assert record.fiscal_year == fiscal_year(local.date()) == 2025
        # The service hung up after the caller was joined to it: the caller is alone.
        assert d.fake.sent("POST", f"/Calls/{CALLER}.json") == [{"Status": ["completed"]}]

        with Session(d.line.engine) as session, session.begin():
            seed_if_empty(session, DEFAULT_SEED)  # the directory the reports name
        with Session(d.line.engine) as session:
            (call,) = session.scalars(select(CallRecord))
            assert call.queue_outcome == QueueOutcome.ANSWERED
            assert call.wait_s == 42.0
            text = annual_text(annual_section(session, Period.fiscal(2025)))
        assert "Services d'urgence (avec bascule)* : 1" in text
        assert "1 Centre de prévention du suicide" in text


def test_the_navigator_abandons_and_is_back_with_the_caller(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        d.take()
        assert d.command(commands.TWILIO_TRANSFER, destination="cps").status == "ok"
        d.service("in-progress", 8)
        cancelled = d.command(commands.TWILIO_CANCEL)
        assert cancelled.status == "ok", cancelled.result
        assert d.fake.sent("DELETE", f"/Participants/{SERVICE_LEG}.json") == [{}]
        assert d.holds() == ["true", "false"]
        d.service("completed", 2)
        d.service("completed", 1)  # Twilio repeats a callback: still one record
        (record,) = d.records()
        assert (record.kind, record.outcome) == ("attended", "abandoned")
        assert d.fake.sent("POST", f"/Calls/{CALLER}.json") == []  # the caller stays


def test_a_busy_service_is_an_attempt_and_the_caller_comes_off_hold(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        d.take()
        assert d.command(commands.TWILIO_TRANSFER, destination="cps").status == "ok"
        d.service("busy", 3)
        (record,) = d.records()
        assert (record.outcome, record.answer_delay_s) == ("busy", None)
        assert d.holds() == ["true", "false"]
        # The navigator may try again: a second consultation, a second record.
        assert d.command(commands.TWILIO_TRANSFER, destination="cps").status == "ok"
        d.service("no-answer", 45, call_sid=SECOND_SERVICE)
        assert [r.outcome for r in d.records()] == ["busy", "not_answered"]


def test_the_caller_hanging_up_during_the_consultation(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        d.take()
        assert d.command(commands.TWILIO_TRANSFER, destination="cps").status == "ok"
        d.service("in-progress", 5)
        # Known by its CallSid too, should a callback come without ParticipantLabel.
        d.conference("participant-leave", CALLER, "", seconds=30)
        d.service("completed", 60)
        (record,) = d.records()
        assert record.outcome == "caller_hung_up"
        # The caller's status callback ends the conference even if conference-end is lost.
        ended = d.line.post(
            f"{PUBLIC}/twilio/status", d.line.call_params(CALLER, CallStatus="completed")
        )
        assert ended.status_code == 204
        free = d.command(commands.TWILIO_TAKE)
        assert free.result is not None and free.result["code"] == "queue_empty"


def test_blind_and_three_way(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        d.take()
        blind = d.command(commands.TWILIO_TRANSFER, destination="cps", mode="blind")
        assert blind.status == "ok", blind.result
        assert d.holds() == []  # nobody on hold
        assert d.fake.sent("DELETE", f"/Participants/{NAVIGATOR_LEG}.json") == [{}]
        d.conference("participant-leave", NAVIGATOR_LEG, "navigator")
        assert d.fake.sent("POST", f"/Calls/{CALLER}.json") == []  # the service is coming
        d.service("in-progress", 9)
        (record,) = d.records()
        assert (record.kind, record.outcome, record.answer_delay_s) == ("blind", "completed", 10.0)
    with desk(tmp_path / "three") as d:
        d.take()
        three = d.command(commands.TWILIO_TRANSFER, destination="cps", mode="three_way")
        assert three.status == "ok", three.result
        assert d.holds() == []
        assert d.fake.sent("DELETE", f"/Participants/{NAVIGATOR_LEG}.json") == []
        d.service("in-progress", 4)
        (record,) = d.records()
        assert (record.kind, record.outcome) == ("threeway", "completed")


def test_a_short_code_is_not_dialled_and_the_attempt_is_recorded(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        d.take()
        refused = d.command(commands.TWILIO_TRANSFER, destination="811")
        assert refused.status == "error"
        assert refused.result is not None and refused.result["code"] == "no_number"
        assert d.holds() == []
        assert d.fake.sent("POST", f"/Conferences/{d.fake.conference_sid}/Participants.json") == []
        (record,) = d.records()
        assert record.key == f"nonumber:{CALLER}:811"
        assert (record.outcome, record.target_exten) == ("failed", "811")


def test_commands_without_a_call_or_an_address_are_refused(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        nothing = d.command(commands.TWILIO_TRANSFER, destination="cps")
        assert nothing.result is not None and nothing.result["code"] == "no_such_channel"
        empty = d.command(commands.TWILIO_TAKE)
        assert empty.result is not None and empty.result["code"] == "queue_empty"
        with Session(d.line.engine) as session, session.begin():
            set_twilio_address(session, "alice", None)
        no_phone = d.command(commands.TWILIO_TAKE)
        assert no_phone.result is not None and no_phone.result["code"] == "no_twilio_address"
        assert d.fake.sent("POST", "Participants.json") == []


def test_the_runner_leaves_the_listeners_commands_alone(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        with Session(d.line.engine) as session, session.begin():
            ami = commands.submit(session, commands.TRANSFER, {"user": "alice"}, "x", now=d.now)
        assert d.console.run_due() == 0
        with Session(d.line.engine) as session:
            assert commands.get(session, ami).status == commands.PENDING


def test_unsigned_conference_callbacks_are_refused(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        d.take()
        params = {"FriendlyName": f"ivr211-{CALLER}", "StatusCallbackEvent": "conference-end"}
        bad = d.line.post(f"{PUBLIC}/twilio/conference", params, signature="forged")
        assert bad.status_code == 403
        stranger = d.line.post(f"{PUBLIC}/twilio/join/{SERVICE_LEG}", {"CallSid": SERVICE_LEG})
        assert stranger.status_code == 403


def test_the_web_process_runs_the_console_when_twilio_is_enabled(tmp_path: Path) -> None:
    from ivr211.twilio_options import start_twilio_console
    from tests.twilio_line.test_signatures import ENV, config

    with desk(tmp_path) as d:
        off = config(tmp_path)
        assert start_twilio_console(off, d.line.engine, environ=ENV) is None
        on = config(tmp_path, enabled=True, public_url=PUBLIC, account_sid=ACCOUNT)
        console = start_twilio_console(on, d.line.engine, environ=ENV)
        assert console is not None
        try:
            with Session(d.line.engine) as session, session.begin():
                command_id = commands.submit(
                    session, commands.TWILIO_CANCEL, {"user": "alice"}, "dashboard:alice"
                )
            done = commands.wait_result(d.line.engine, command_id, timeout_s=5)
        finally:
            console.stop()
        assert done.status == commands.ERROR
        assert done.result is not None and done.result["code"] == "no_such_channel"


def test_a_referral_without_transfer_is_recorded_once(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        d.take()
        first = d.command(commands.TWILIO_REFERRAL, destination="811", linkedid=CALLER)
        again = d.command(commands.TWILIO_REFERRAL, destination="811", linkedid=CALLER)
        assert first.status == again.status == "ok"
        assert first.result is not None and "recorded" in first.result["message"]
        assert again.result is not None and "already" in again.result["message"]
        (record,) = d.records()
        assert (record.key, record.kind, record.outcome) == (
            f"referral:{CALLER}:811",
            "referral",
            "completed",
        )
        assert record.navigator_channel == "PJSIP/nav-alice"
        assert record.source == "twilio"


def test_a_navigator_who_does_not_answer_sends_the_caller_back_to_the_queue(
    tmp_path: Path,
) -> None:
    with desk(tmp_path) as d:
        d.take()
        (alice,) = d.fake.sent("POST", f"/Conferences/ivr211-{CALLER}/Participants.json")
        assert alice["StatusCallback"] == [f"{PUBLIC}/twilio/service"]
        d.service("no-answer", 45, call_sid=NAVIGATOR_LEG)
        requeue_url = f"{PUBLIC}/twilio/requeue/{CALLER}"
        assert d.fake.sent("POST", f"/Calls/{CALLER}.json") == [
            {"Url": [requeue_url], "Method": ["POST"]}
        ]
        back = d.line.post(requeue_url, d.line.call_params(CALLER))
        assert back.status_code == 200
        (enqueue,) = verbs(back.data)
        assert enqueue.tag == "Enqueue"
        assert enqueue.get("action", "").startswith(f"{PUBLIC}/twilio/after/1/")
        assert d.records() == []
        # Alice is free again and the caller can be taken anew.
        again = d.command(commands.TWILIO_TRANSFER, destination="cps")
        assert again.result is not None and again.result["code"] == "no_such_channel"
        d.fake.members.append(Member(CALLER, position=1, wait_time=90))
        assert d.command(commands.TWILIO_TAKE).status == "ok"
        # Another call's requeue URL is refused.
        other = d.line.post(requeue_url, d.line.call_params(SERVICE_LEG))
        assert other.status_code == 403


def test_a_failed_blind_transfer_sends_the_caller_back_to_the_queue(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        d.take()
        assert d.command(commands.TWILIO_TRANSFER, destination="cps", mode="blind").status == "ok"
        d.conference("participant-leave", NAVIGATOR_LEG, "navigator")
        d.service("busy", 4)
        (record,) = d.records()
        assert (record.kind, record.outcome) == ("blind", "busy")
        assert d.fake.sent("POST", f"/Calls/{CALLER}.json") == [
            {"Url": [f"{PUBLIC}/twilio/requeue/{CALLER}"], "Method": ["POST"]}
        ]
        back = d.line.post(f"{PUBLIC}/twilio/requeue/{CALLER}", d.line.call_params(CALLER))
        assert [v.tag for v in verbs(back.data)] == ["Enqueue"]
