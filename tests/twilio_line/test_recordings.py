"""The research box on Twilio: the recording callback downloads the message with the
account's credentials (the twilio library's REST client, against a local stand-in for
api.twilio.com), stores it in the research inbox, checks it, and only then deletes it
from Twilio."""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from store.voicemail import message_by_msg_id
from tests.twilio_line.helpers import (
    ACCOUNT,
    CLOSED_NOW,
    OPEN_NOW,
    PUBLIC,
    TOKEN,
    Line,
    running_line,
    walk,
)
from tests.twilio_line.rest_server import Recording, RestRecorder, twilio_rest, wav

SID = "CA" + "c" * 32
REC = "RE" + "d" * 32
AUTH = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
PREFIX = f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{REC}"


def callback(line: Line, **changes: str) -> dict[str, str]:
    params = {
        "CallStatus": "completed",
        "RecordingSid": REC,
        "RecordingUrl": f"https://api.twilio.com{PREFIX}",
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }
    return {**line.call_params(SID), **params, **changes}


def hang_up(line: Line) -> None:
    """The call's status callback: the call is over before the recording callback (no
    review: a caller who hangs up keeps the message)."""
    ended = line.post(f"{PUBLIC}/twilio/status", line.call_params(SID, CallStatus="completed"))
    assert ended.status_code == 204


def test_a_withheld_callers_message_reaches_the_inbox_then_leaves_twilio(tmp_path: Path) -> None:
    audio = wav(1.5)
    rest = RestRecorder(recordings={REC: Recording(REC, SID, audio)})
    with (
        twilio_rest(rest) as api,
        running_line(tmp_path, now=CLOSED_NOW, recordings=True, api_url=api) as line,
    ):
        verb, _ = walk(line, ["3", "4185550199#", "1"], SID, caller="+266696687")
        assert verb == "Record"
        hang_up(line)
        taken = line.post(f"{PUBLIC}/twilio/recording", callback(line))
        assert taken.status_code == 204
        assert [(m, p) for m, p, _a in rest.requests] == [
            ("GET", f"{PREFIX}.json"),
            ("GET", f"{PREFIX}.wav"),
            ("DELETE", f"{PREFIX}.json"),
        ]
        assert {a for _m, _p, a in rest.requests} == {AUTH}
        assert rest.recordings == {}
        with Session(line.engine) as session:
            message = message_by_msg_id(session, REC)
            assert message is not None
            assert message.caller_number is None
            assert message.callback_number == "4185550199"
            assert message.language == "fr"
            assert message.duration_s == 12
            assert message.mailbox == "1000@recherche"
            assert message.audio_path == f"2025/06/{REC}.wav"
            stored = tmp_path / "voicemail" / "2025" / "06" / f"{REC}.wav"
            assert stored.read_bytes() == audio
            assert message.checksum == hashlib.sha256(audio).hexdigest()
            assert message.size == len(audio)
            assert line.new_messages == [message.id]


def test_a_repeated_callback_only_deletes_what_is_already_in_the_inbox(tmp_path: Path) -> None:
    rest = RestRecorder(recordings={REC: Recording(REC, SID, wav())})
    with (
        twilio_rest(rest) as api,
        running_line(tmp_path, now=OPEN_NOW, recordings=True, api_url=api) as line,
    ):
        walk(line, ["2", "2"], SID)
        hang_up(line)
        assert line.post(f"{PUBLIC}/twilio/recording", callback(line)).status_code == 204
        rest.recordings[REC] = Recording(REC, SID, wav())  # Twilio still has it
        rest.requests.clear()
        assert line.post(f"{PUBLIC}/twilio/recording", callback(line)).status_code == 204
        assert [m for m, _p, _a in rest.requests] == ["DELETE"]
        with Session(line.engine) as session:
            message = message_by_msg_id(session, REC)
            assert message is not None and message.language == "en"
            assert message.caller_number == "+14185550100"
        assert len(line.new_messages) == 1


def test_audio_that_is_not_a_wav_file_is_kept_on_twilio_and_not_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rest = RestRecorder(recordings={REC: Recording(REC, SID, b"<html>not audio</html>")})
    with twilio_rest(rest) as api, running_line(tmp_path, recordings=True, api_url=api) as line:
        walk(line, ["2", "2"], SID)
        hang_up(line)
        with caplog.at_level(logging.ERROR, logger="twilio_line.webhooks"):
            failed = line.post(f"{PUBLIC}/twilio/recording", callback(line))
        assert failed.status_code == 500
        assert "not a WAV file" in caplog.text
        assert [m for m, _p, _a in rest.requests] == ["GET", "GET"]
        assert REC in rest.recordings
        with Session(line.engine) as session:
            assert message_by_msg_id(session, REC) is None
        assert not list((tmp_path / "voicemail").rglob("*.wav"))


@pytest.mark.parametrize(
    ("keys", "changes", "why"),
    [
        (["1", "1"], {}, "not a call of the research box"),  # the queue, not the box
        (["2", "2"], {"AccountSid": "AC" + "9" * 32}, "another account"),
        (["2", "2"], {"RecordingSid": "RE../../etc"}, "not a recording of a call"),
        (["2", "2"], {"RecordingStatus": "absent"}, "recording absent"),
    ],
)
def test_a_recording_that_is_not_the_research_boxs_is_left_alone(
    tmp_path: Path,
    keys: list[str],
    changes: dict[str, str],
    why: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rest = RestRecorder(recordings={REC: Recording(REC, SID, wav())})
    with twilio_rest(rest) as api, running_line(tmp_path, recordings=True, api_url=api) as line:
        walk(line, keys, SID)
        hang_up(line)
        with caplog.at_level(logging.WARNING, logger="twilio_line.recordings"):
            response = line.post(f"{PUBLIC}/twilio/recording", callback(line, **changes))
        assert response.status_code == 204
        assert why in caplog.text
        assert rest.requests == []
        assert REC in rest.recordings


def test_a_recording_of_another_call_is_refused(tmp_path: Path) -> None:
    rest = RestRecorder(recordings={REC: Recording(REC, "CA" + "e" * 32, wav())})
    with twilio_rest(rest) as api, running_line(tmp_path, recordings=True, api_url=api) as line:
        walk(line, ["2", "2"], SID)
        hang_up(line)
        assert line.post(f"{PUBLIC}/twilio/recording", callback(line)).status_code == 500
        assert [m for m, _p, _a in rest.requests] == ["GET"]
        assert REC in rest.recordings
