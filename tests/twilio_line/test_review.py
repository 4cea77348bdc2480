"""The review of a research message on Twilio (``twilio_line.review``): after the
``<Record>``, the caller keeps the message (1), listens to it (2) or records it again (3),
as app_voicemail's review offers on Asterisk and as the prompt before the beep promises.
A recording is taken into the inbox only once kept; one recorded again is deleted from
Twilio and never taken."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.prompts import CATALOGUE
from store.calls import CallRecord
from store.twilio_calls import call_by_sid
from store.voicemail import message_by_msg_id
from tests.twilio_line.helpers import (
    ACCOUNT,
    PUBLIC,
    TOKEN,
    Line,
    running_line,
    says,
    verbs,
    walk,
)
from tests.twilio_line.rest_server import Recording, RestRecorder, twilio_rest, wav

SID = "CA" + "7" * 32
FIRST = "RE" + "1" * 32
SECOND = "RE" + "2" * 32
AUTH = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()


def path(recording_sid: str, ext: str) -> str:
    return f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}.{ext}"


def record(line: Line, recording_sid: str, action: str | None = None) -> tuple[str, str]:
    """The ``<Record>``'s action for ``recording_sid``: the review menu's action URL and
    what it says."""
    if action is None:
        verb, response = walk(line, ["2", "2"], SID)
        assert verb == "Record"
        action = verbs(response.data)[-1].get("action")
    assert action is not None
    menu = line.post(
        action, line.call_params(SID, RecordingSid=recording_sid, RecordingDuration="7")
    )
    assert menu.status_code == 200
    (gather, again) = verbs(menu.data)
    assert gather.tag == "Gather" and gather.get("numDigits") == "1"
    assert again.tag == "Redirect" and again.text == gather.get("action")
    return str(gather.get("action")), says(menu.data)[0][1]


def callback(line: Line, recording_sid: str) -> int:
    params = {
        **line.call_params(SID),
        "RecordingSid": recording_sid,
        "RecordingStatus": "completed",
        "RecordingDuration": "7",
    }
    return line.post(f"{PUBLIC}/twilio/recording", params).status_code


def hang_up(line: Line) -> None:
    ended = line.post(f"{PUBLIC}/twilio/status", line.call_params(SID, CallStatus="completed"))
    assert ended.status_code == 204


def stored(line: Line, recording_sid: str) -> bool:
    with Session(line.engine) as session:
        return message_by_msg_id(session, recording_sid) is not None


def test_the_menu_offers_what_the_prompt_before_the_beep_promises(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        _action, spoken = record(line, FIRST)
        assert spoken == CATALOGUE["research-review"]["en"]
        promise = CATALOGUE["research-record"]["en"]
        assert "listen to your message, record it again or confirm it" in promise
        for words in ("confirm your message, press 1", "listen to it, press 2", "again, press 3"):
            assert words in spoken
    assert "faites le 1" in CATALOGUE["research-review"]["fr"]


def test_a_kept_message_is_taken_only_once_the_caller_keeps_it(tmp_path: Path) -> None:
    rest = RestRecorder(recordings={FIRST: Recording(FIRST, SID, wav())})
    with (
        twilio_rest(rest) as api,
        running_line(tmp_path, recordings=True, api_url=api) as line,
    ):
        action, _spoken = record(line, FIRST)
        # Twilio's recording callback comes while the caller reviews: nothing is taken.
        assert callback(line, FIRST) == 204
        assert rest.requests == [] and not stored(line, FIRST)
        kept = line.post(action, line.call_params(SID, Digits="1"))
        assert [v.tag for v in verbs(kept.data)] == ["Say", "Hangup"]
        assert says(kept.data)[0][1] == CATALOGUE["research-thanks"]["en"]
        hang_up(line)  # the status callback takes what the caller kept
        assert [(m, p) for m, p, _a in rest.requests] == [
            ("GET", path(FIRST, "json")),
            ("GET", path(FIRST, "wav")),
            ("DELETE", path(FIRST, "json")),
        ]
        assert stored(line, FIRST) and rest.recordings == {}
        assert line.new_messages and len(line.new_messages) == 1


def test_the_caller_listens_to_the_message_through_a_signed_playback_url(tmp_path: Path) -> None:
    audio = wav(0.5)
    rest = RestRecorder(recordings={FIRST: Recording(FIRST, SID, audio)})
    with (
        twilio_rest(rest) as api,
        running_line(tmp_path, recordings=True, api_url=api) as line,
    ):
        action, _spoken = record(line, FIRST)
        listen = line.post(action, line.call_params(SID, Digits="2"))
        doc = verbs(listen.data)
        assert [v.tag for v in doc] == ["Play", "Gather", "Redirect"]
        url = str(doc[0].text)
        assert url.startswith(f"{PUBLIC}/twilio/review-audio/{SID}/{FIRST}/")
        assert doc[1].get("action") != action  # a new round of the menu
        playback = urlsplit(url).path
        # Twilio fetches <Play> URLs unsigned: the URL's token is the guard.
        heard = line.client.get(playback)
        assert heard.status_code == 200 and heard.mimetype == "audio/wav"
        assert heard.data == audio
        assert [(m, p, a) for m, p, a in rest.requests] == [("GET", path(FIRST, "wav"), AUTH)]
        forged = playback[: -len(".wav") - 1] + ("0" if playback[-5] != "0" else "1") + ".wav"
        assert line.client.get(forged).status_code == 403
        # The old menu is answered no more (a replay); the new one keeps the message.
        assert line.post(action, line.call_params(SID, Digits="1")).status_code == 403
        line.post(str(doc[1].get("action")), line.call_params(SID, Digits="1"))
        # Once kept, the message is no longer played to anyone.
        assert line.client.get(playback).status_code == 404


def test_a_message_recorded_again_is_deleted_from_twilio_and_never_taken(tmp_path: Path) -> None:
    rest = RestRecorder(
        recordings={FIRST: Recording(FIRST, SID, wav(0.2)), SECOND: Recording(SECOND, SID, wav())}
    )
    with (
        twilio_rest(rest) as api,
        running_line(tmp_path, recordings=True, api_url=api) as line,
    ):
        action, _spoken = record(line, FIRST)
        again = line.post(action, line.call_params(SID, Digits="3"))
        doc = verbs(again.data)
        assert [v.tag for v in doc] == ["Say", "Record"]
        assert says(again.data)[0][1] == CATALOGUE["research-record"]["en"]
        assert callback(line, FIRST) == 204  # the first one's callback: deleted, not taken
        second, _spoken = record(line, SECOND, doc[-1].get("action"))
        assert callback(line, SECOND) == 204
        line.post(second, line.call_params(SID, Digits="1"))
        hang_up(line)
        assert not stored(line, FIRST) and stored(line, SECOND)
        assert ("DELETE", path(FIRST, "json")) in [(m, p) for m, p, _a in rest.requests]
        assert ("GET", path(FIRST, "wav")) not in [(m, p) for m, p, _a in rest.requests]
        assert rest.recordings == {}
        with Session(line.engine) as session:
            row = call_by_sid(session, SID)
            assert row is not None
            assert row.recordings() == {FIRST: "gone", SECOND: "taken"}


def test_a_caller_who_hangs_up_during_the_review_keeps_the_message(tmp_path: Path) -> None:
    rest = RestRecorder(recordings={FIRST: Recording(FIRST, SID, wav())})
    with (
        twilio_rest(rest) as api,
        running_line(tmp_path, recordings=True, api_url=api) as line,
    ):
        record(line, FIRST)
        assert callback(line, FIRST) == 204
        hang_up(line)
        assert stored(line, FIRST)
        assert rest.recordings == {}
        with Session(line.engine) as session:
            call = session.scalars(select(CallRecord).where(CallRecord.linkedid == SID)).one()
            assert call.research_message


def test_three_menus_without_an_answer_keep_the_message(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        action, _spoken = record(line, FIRST)
        for _ in range(2):
            silent = line.post(action, line.call_params(SID, Digits=""))
            (gather, _again) = verbs(silent.data)
            assert gather.tag == "Gather"
            action = str(gather.get("action"))
        kept = line.post(action, line.call_params(SID, Digits=""))
        assert says(kept.data)[0][1] == CATALOGUE["research-thanks"]["en"]
        with Session(line.engine) as session:
            row = call_by_sid(session, SID)
            assert row is not None and row.recordings() == {FIRST: "kept"}
