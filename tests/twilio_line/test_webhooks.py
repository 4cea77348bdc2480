"""The call flow over Twilio's voice webhooks: TwiML in, the caller's events out, the
call's state in the database between two requests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from ivr.dialplan import Route
from store.twilio_calls import call_by_sid
from tests.twilio_line.helpers import (
    CLOSED_NOW,
    OPEN_NOW,
    PUBLIC,
    Line,
    running_line,
    says,
    verbs,
)

SID = "CA" + "a" * 32


def test_an_incoming_call_hears_the_emergency_notice_then_the_greeting(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        first = line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID, CallStatus="ringing"))
        assert first.status_code == 200
        assert first.mimetype == "text/xml"
        (say, redirect) = verbs(first.data)
        assert say.tag == "Say" and say.get("language") == "fr-CA"
        assert say.text == "Si une vie est en danger, raccrochez et composez le 9-1-1."
        assert redirect.tag == "Redirect"
        assert redirect.text == f"{PUBLIC}/twilio/step/1/0"

        menu = line.post(redirect.text, line.call_params(SID))
        (gather, again) = verbs(menu.data)
        assert gather.tag == "Gather"
        assert gather.get("numDigits") == "1"
        assert gather.get("finishOnKey") == ""
        assert gather.get("timeout") == "5"
        assert gather.get("action") == f"{PUBLIC}/twilio/step/1/1"
        assert gather.get("actionOnEmptyResult") == "true"
        assert again.tag == "Redirect" and again.text == f"{PUBLIC}/twilio/step/1/1"
        texts = says(menu.data)
        assert texts[0][1].startswith("Bonjour, vous êtes bien au 2-1-1")
        assert ("en-US", "For service in English, press 2. For another language, press 3.") in texts


def walk(line: Line, keys: list[str]) -> tuple[str, TestResponse]:
    """Answer each Gather with the next key ("" = silence), follow each Redirect; return
    the verb the call ends on and the last document."""
    response = line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID))
    queue = list(keys)
    for _ in range(40):
        assert response.status_code == 200, response.data
        doc = verbs(response.data)
        last = doc[-1]
        gather = next((v for v in doc if v.tag == "Gather"), None)
        if gather is not None:
            key = queue.pop(0) if queue else ""
            digits, ended, _ = key.partition("#")
            params = line.call_params(SID, Digits=digits, FinishedOnKey="#" if ended else "")
            response = line.post(gather.get("action"), params)
        elif last.tag == "Redirect":
            response = line.post(last.text, line.call_params(SID))
        else:
            return doc[0].tag if doc[0].tag != "Say" else last.tag, response
    raise AssertionError("the call never ended")


@pytest.mark.parametrize(
    ("now", "keys", "route", "path", "verb"),
    [
        (OPEN_NOW, ["1", "1"], Route.QUEUE, "open/lang:fr/main:1", "Enqueue"),
        (OPEN_NOW, ["2", "2"], Route.RESEARCH, "open/lang:en/main:2", "Record"),
        (OPEN_NOW, ["3"], Route.QUEUE, "open/lang:other", "Enqueue"),
        (CLOSED_NOW, ["2"], Route.TRANSFER, "closed:after_hours/menu:2/transfer:cps", "Dial"),
        (CLOSED_NOW, ["3"], Route.RESEARCH, "closed:after_hours/menu:3/research", "Record"),
    ],
)
def test_every_route_ends_in_its_twiml_and_the_decision_is_kept(
    tmp_path: Path, now: datetime, keys: list[str], route: Route, path: str, verb: str
) -> None:
    with running_line(tmp_path, now=now) as line:
        ended, _response = walk(line, keys)
        assert ended == verb
        ((sid, decision),) = line.decisions
        assert sid == SID
        assert decision.route is route
        assert decision.path_text == path
        with Session(line.engine) as session:
            row = call_by_sid(session, SID)
            assert row is not None
            data = row.decision_data()
            assert data is not None and data["path"] == path.split("/")


def test_a_transfer_dials_the_full_number_and_an_english_queue_waits(tmp_path: Path) -> None:
    with running_line(tmp_path, now=CLOSED_NOW) as line:
        _verb, response = walk(line, ["2"])
        dial = next(v for v in verbs(response.data) if v.tag == "Dial")
        assert dial.text == "+18662773553"
        assert dial.get("timeout") == "45"
        assert dial.get("action", "").startswith(f"{PUBLIC}/twilio/after/1/")
        failed = line.post(dial.get("action"), line.call_params(SID, DialCallStatus="no-answer"))
        doc = verbs(failed.data)
        assert [v.tag for v in doc] == ["Say", "Enqueue"]
        assert doc[0].text == "Désolé, le transfert n'a pas pu être fait."
        assert doc[1].text == "navigateurs"


def test_the_research_box_records_without_transcription(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        _verb, response = walk(line, ["2", "2"])
        doc = verbs(response.data)
        record = doc[-1]
        assert record.tag == "Record"
        assert record.get("maxLength") == "180"
        assert record.get("transcribe") == "false"
        assert record.get("playBeep") == "true"
        assert record.get("recordingStatusCallback") == f"{PUBLIC}/twilio/recording"
        assert [v.tag for v in doc] == ["Record"]
        review = line.post(
            record.get("action"),
            line.call_params(SID, RecordingSid="RE" + "1" * 32, RecordingDuration="12"),
        )
        (menu, _again) = verbs(review.data)
        assert menu.tag == "Gather"
        done = line.post(menu.get("action"), line.call_params(SID, Digits="1"))
        assert says(done.data) == [
            (
                "en-US",
                "Thank you, your message was passed on to the CHU de Québec research team."
                " Goodbye.",
            )
        ]
        assert verbs(done.data)[-1].tag == "Hangup"


def test_a_withheld_caller_types_a_callback_number(tmp_path: Path) -> None:
    with running_line(tmp_path, now=CLOSED_NOW) as line:
        response = line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID, caller="+266696687"))
        for key in ("", "3"):
            doc = verbs(response.data)
            target = next((v.get("action") for v in doc if v.tag == "Gather"), doc[-1].text)
            response = line.post(target, line.call_params(SID, Digits=key, FinishedOnKey=""))
        # the research intro and consent notice play whole, then the number is asked for
        doc = verbs(response.data)
        assert doc[-1].tag == "Redirect"
        response = line.post(doc[-1].text, line.call_params(SID))
        doc = verbs(response.data)
        gather = doc[0]
        assert gather.tag == "Gather"
        assert gather.get("numDigits") == "11"
        assert gather.get("finishOnKey") == "#"
        entered = line.post(
            gather.get("action"),
            line.call_params(SID, Digits="4185550199", FinishedOnKey="#"),
        )
        assert ("fr-CA", "4, 1, 8, 5, 5, 5, 0, 1, 9, 9") in says(entered.data)
        redirect = verbs(entered.data)[-1]
        confirm = line.post(redirect.text, line.call_params(SID))
        gather = verbs(confirm.data)[0]
        final = line.post(gather.get("action"), line.call_params(SID, Digits="1"))
        record_doc = verbs(final.data)
        assert record_doc[-1].tag == "Redirect"
        final = line.post(record_doc[-1].text, line.call_params(SID))
        assert verbs(final.data)[-1].tag == "Record"
        (_sid, decision) = line.decisions[-1]
        assert decision.callback == "4185550199"
        assert decision.path_text.endswith("callback:withheld/callback:entered/callback:confirmed")


def test_a_hang_up_before_the_decision_ends_the_path_in_hangup(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID))
        ended = line.post(f"{PUBLIC}/twilio/status", line.call_params(SID, CallStatus="completed"))
        assert ended.status_code == 204
        ((_sid, decision),) = line.decisions
        assert decision.route is Route.HANGUP
        assert decision.path_text == "open/hangup"
        again = line.post(f"{PUBLIC}/twilio/status", line.call_params(SID, CallStatus="completed"))
        assert again.status_code == 204
        assert len(line.decisions) == 1


def test_the_state_survives_a_new_web_process(tmp_path: Path) -> None:
    """Two apps on one database: the second serves the step the first answered."""
    with running_line(tmp_path) as first:
        doc = verbs(first.post(f"{PUBLIC}/twilio/voice", first.call_params(SID)).data)
        step_url = doc[-1].text
    with running_line(tmp_path) as second:
        menu = second.post(step_url, second.call_params(SID))
        assert menu.status_code == 200
        assert verbs(menu.data)[0].tag == "Gather"


def test_a_settings_change_mid_call_replays_the_current_menu(tmp_path: Path) -> None:
    from dataclasses import replace

    with running_line(tmp_path) as line:
        doc = verbs(line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID)).data)
        menu = verbs(line.post(doc[-1].text, line.call_params(SID)).data)
        action = menu[0].get("action")
        # The line is forced closed between the menu and the key: the key answered the
        # open-line menu, which the replay no longer reaches.
        from ivr.settings import Override

        settings = line.settings["settings"]
        line.settings["settings"] = replace(
            settings, schedule=replace(settings.schedule, override=Override("closed"))
        )
        again = line.post(action, line.call_params(SID, Digits="1"))
        assert again.status_code == 200
        assert verbs(again.data)[-1].tag == "Redirect"  # the notice again, nothing decided
        assert line.decisions == []


def test_a_missing_prompt_file_is_said_and_a_present_one_played(tmp_path: Path) -> None:
    folder = tmp_path / "sounds" / "fr" / "211"
    folder.mkdir(parents=True)
    (folder / "emergency-notice.wav").write_bytes(b"RIFF----WAVEfmt ")
    with running_line(tmp_path) as line:
        doc = verbs(line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID)).data)
        assert doc[0].tag == "Play"
        assert doc[0].text == f"{PUBLIC}/twilio/prompts/fr/emergency-notice.wav"
        with line.client.get("/twilio/prompts/fr/emergency-notice.wav") as audio:
            assert audio.status_code == 200
            assert audio.data == b"RIFF----WAVEfmt "
            assert audio.mimetype == "audio/wav"
        for path in (
            "/twilio/prompts/fr/greeting.wav",
            "/twilio/prompts/de/emergency-notice.wav",
            "/twilio/prompts/fr/..%2F211%2Femergency-notice.wav",
        ):
            assert line.client.get(path).status_code == 404, path


def test_a_whole_call_on_both_databases(tmp_path: Path, db_url: str) -> None:
    """The call's row on SQLite and PostgreSQL: created once, locked per request, its
    decision and its call record written."""
    with running_line(tmp_path, url=db_url) as line:
        ended, _response = walk(line, ["2", "1"])
        assert ended == "Enqueue"
        again = line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID))
        assert again.status_code == 403  # the first request replayed mid-call
        ((_sid, decision),) = line.decisions
        assert decision.path_text == "open/lang:en/main:1"
        with Session(line.engine) as session:
            row = call_by_sid(session, SID)
            assert row is not None and row.passes == 1
            assert row.event_list() == [
                {"e": "done"},  # the emergency notice
                {"e": "key", "d": "2"},  # English
                {"e": "key", "d": "1"},  # a navigator
                {"e": "done"},  # "we are connecting you"
            ]


def test_a_broken_database_answers_500_so_twilio_plays_the_fallback_url(tmp_path: Path) -> None:
    """Twilio turns to the number's fallback URL when the voice URL fails: an error is
    a 500, never a TwiML document that would leave the caller in silence."""
    from sqlalchemy import text

    with running_line(tmp_path) as line:
        line.client.application.config["PROPAGATE_EXCEPTIONS"] = False
        with line.engine.begin() as conn:
            conn.execute(text("DROP TABLE twilio_calls"))
        response = line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID))
        assert response.status_code == 500
        assert b"<Response" not in response.data


def test_earlier_keys_are_never_applied_to_a_menu_the_caller_did_not_hear(
    tmp_path: Path,
) -> None:
    """French chosen on the open line, then the line forced closed before the caller's
    next key: replayed on the closed line, that first "1" would pick 811 in the
    closed-hours menu. The fingerprint of the pass's actions differs, so the pass starts
    again instead, on the closed line."""
    from dataclasses import replace

    from ivr.settings import Override

    with running_line(tmp_path) as line:
        doc = verbs(line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID)).data)
        menu = verbs(line.post(doc[-1].text, line.call_params(SID)).data)
        main = verbs(line.post(menu[0].get("action"), line.call_params(SID, Digits="1")).data)
        assert main[0].tag == "Gather" and main[0].get("action") == f"{PUBLIC}/twilio/step/1/2"
        settings = line.settings["settings"]
        line.settings["settings"] = replace(
            settings, schedule=replace(settings.schedule, override=Override("closed"))
        )
        again = line.post(main[0].get("action"), line.call_params(SID, Digits="1"))
        doc = verbs(again.data)
        assert doc[-1].text == f"{PUBLIC}/twilio/step/1/0"  # the notice, the pass anew
        closed = line.post(doc[-1].text, line.call_params(SID))
        assert says(closed.data)[1][1] == "Nous sommes présentement fermés."
        assert line.decisions == []
        with Session(line.engine) as session:
            row = call_by_sid(session, SID)
            assert row is not None and row.event_list() == [{"e": "done"}]
