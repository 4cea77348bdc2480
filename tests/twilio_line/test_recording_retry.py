"""A research message whose download or check failed is not lost: it stays on Twilio,
pending in its call's row, and is taken into the inbox again later
(``RecordingTaker.retake``, run by ``ivr211 reconcile --twilio`` and ``ivr211 retention
run``), stored once, and deleted from Twilio only once stored."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr211.cli import main
from ivr211.config import DEFAULT_SEED, Config
from ivr211.retention import run_retention
from store.db import make_engine
from store.linesettings import SettingsStore, seed_if_empty
from store.twilio_calls import call_by_sid, purge_calls
from store.voicemail import VoiceMessage, message_by_msg_id
from tests.twilio_line.helpers import (
    ACCOUNT,
    OPEN_NOW,
    PUBLIC,
    TOKEN,
    Line,
    running_line,
    verbs,
    walk,
)
from tests.twilio_line.rest_server import Recording, RestRecorder, twilio_rest, wav
from twilio_line.recordings import RecordingTaker

SID = "CA" + "9" * 32
REC = "RE" + "8" * 32


def leave_message(line: Line) -> None:
    """A message recorded and kept (the caller hangs up during the review); Twilio's
    recording callback and the call's status callback both come."""
    verb, response = walk(line, ["2", "2"], SID)
    assert verb == "Record"
    action = verbs(response.data)[-1].get("action")
    line.post(str(action), line.call_params(SID, RecordingSid=REC, RecordingDuration="5"))
    params = {**line.call_params(SID), "RecordingSid": REC, "RecordingStatus": "completed"}
    line.post(f"{PUBLIC}/twilio/recording", params)
    line.post(f"{PUBLIC}/twilio/status", line.call_params(SID, CallStatus="completed"))


def state(line: Line) -> dict[str, str]:
    with Session(line.engine) as session:
        row = call_by_sid(session, SID)
        assert row is not None
        return row.recordings()


def messages(line: Line) -> int:
    with Session(line.engine) as session:
        return int(session.scalar(select(func.count()).select_from(VoiceMessage)) or 0)


def taker(line: Line, **changes: Any) -> RecordingTaker:
    return RecordingTaker(replace(line.options, **changes), line.engine, lambda: line.now[0])


def test_a_message_whose_audio_failed_its_check_is_taken_on_the_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rest = RestRecorder(recordings={REC: Recording(REC, SID, b"<html>busy</html>")})
    with twilio_rest(rest) as api, running_line(tmp_path, recordings=True, api_url=api) as line:
        with caplog.at_level(logging.ERROR):
            leave_message(line)
        assert "not a WAV file" in caplog.text
        assert state(line) == {REC: "kept"} and messages(line) == 0
        assert REC in rest.recordings  # Twilio keeps it
        rest.recordings[REC] = Recording(REC, SID, wav())
        report = taker(line).retake()
        assert (report.stored, report.problems) == (1, [])
        assert state(line) == {REC: "taken"} and messages(line) == 1
        assert rest.recordings == {}
        rest.requests.clear()
        again = taker(line).retake()  # nothing left: no request, nothing doubled
        assert (again.stored, again.problems, rest.requests) == (0, [], [])
        assert messages(line) == 1


def test_twilio_down_or_the_disk_full_leaves_the_message_pending(tmp_path: Path) -> None:
    rest = RestRecorder(recordings={REC: Recording(REC, SID, wav())})
    with twilio_rest(rest) as api, running_line(tmp_path, recordings=False, api_url=api) as line:
        leave_message(line)  # no taker: as if the web process's download never ran
        assert state(line) == {REC: "kept"}
        down = taker(line, api_url="http://127.0.0.1:9").retake()
        assert down.stored == 0 and len(down.problems) == 1 and "Twilio" in down.problems[0]
        full = tmp_path / "full"
        full.write_text("not a folder", encoding="utf-8")
        no_room = taker(line, voicemail_storage_dir=full).retake()
        assert no_room.stored == 0 and "not written" in no_room.problems[0]
        assert [m for m, _p, _a in rest.requests if m == "DELETE"] == []
        assert state(line) == {REC: "kept"} and messages(line) == 0 and REC in rest.recordings
        assert taker(line).retake().stored == 1
        assert messages(line) == 1 and rest.recordings == {}


def test_a_message_stored_but_not_deleted_is_only_deleted_on_the_retry(tmp_path: Path) -> None:
    rest = RestRecorder(recordings={REC: Recording(REC, SID, wav())})
    with twilio_rest(rest) as api, running_line(tmp_path, recordings=True, api_url=api) as line:
        leave_message(line)
        assert messages(line) == 1
        with Session(line.engine) as session, session.begin():
            row = call_by_sid(session, SID, lock=True)
            assert row is not None
            row.set_recording(REC, "kept")  # as if the DELETE had failed
        rest.recordings[REC] = Recording(REC, SID, wav())
        rest.requests.clear()
        assert taker(line).retake().problems == []
        assert [m for m, _p, _a in rest.requests] == ["DELETE"]
        assert messages(line) == 1 and state(line) == {REC: "taken"}


def test_a_call_with_a_pending_message_outlives_its_state_period(tmp_path: Path) -> None:
    rest = RestRecorder(recordings={REC: Recording(REC, SID, wav())})
    with twilio_rest(rest) as api, running_line(tmp_path, recordings=False, api_url=api) as line:
        leave_message(line)
        later = OPEN_NOW.astimezone(UTC) + timedelta(days=3)
        with Session(line.engine) as session:
            assert purge_calls(session, later, later, dry_run=False) == 0
        assert taker(line).retake().stored == 1
        with Session(line.engine) as session:
            assert purge_calls(session, later, later, dry_run=False) == 1
            message = message_by_msg_id(session, REC)
            assert message is not None and message.caller_number == "+14185550100"


def test_reconcile_twilio_takes_the_pending_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    (tmp_path / "token").write_text(TOKEN, encoding="utf-8")
    rest = RestRecorder(recordings={REC: Recording(REC, SID, wav())})
    with twilio_rest(rest) as api:
        with running_line(tmp_path, recordings=False, api_url=api) as line:
            leave_message(line)
            with SettingsStore(line.engine).change() as session:  # as `ivr211 db upgrade`
                seed_if_empty(session, DEFAULT_SEED)
        config = tmp_path / "ivr211.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n'
            f'[voicemail]\nstorage_dir = "{tmp_path / "vm"}"\n'
            f'[twilio]\naccount_sid = "{ACCOUNT}"\napi_url = "{api}"\n'
            f'auth_token_file = "{tmp_path / "token"}"\n',
            encoding="utf-8",
        )
        since = datetime(2025, 6, 11, 8, 0).isoformat(timespec="minutes")
        assert main(["reconcile", "--twilio", "--config", str(config), "--since", since]) == 0
    out = capsys.readouterr().out
    assert "Twilio recordings: 1 research messages taken into the inbox" in out
    assert rest.recordings == {}
    assert (tmp_path / "vm" / "2025" / "06" / f"{REC}.wav").read_bytes() == wav()


def test_the_retention_run_takes_the_pending_messages_before_it_purges(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN, encoding="utf-8")
    rest = RestRecorder(recordings={REC: Recording(REC, SID, wav())})
    with twilio_rest(rest) as api:
        with running_line(tmp_path, recordings=False, api_url=api) as line:
            leave_message(line)
            with SettingsStore(line.engine).change() as session:
                seed_if_empty(session, DEFAULT_SEED)
        config = Config.model_validate(
            {
                "database": {"url": f"sqlite:///{tmp_path / 'line.db'}"},
                "voicemail": {"storage_dir": str(tmp_path / "vm")},
                "twilio": {
                    "enabled": True,
                    "public_url": PUBLIC,
                    "account_sid": ACCOUNT,
                    "auth_token_file": str(tmp_path / "token"),
                    "api_url": api,
                },
            }
        )
        engine = make_engine(config.database.url)
        try:
            now = OPEN_NOW.astimezone(UTC) + timedelta(days=3)
            report = run_retention(engine, config, now)
            assert report.twilio_messages == 1
            assert "Twilio: took 1 research messages into the inbox" in report.lines()
            assert report.twilio_calls == 1  # taken, the call's state may go
            with Session(engine) as session:
                assert message_by_msg_id(session, REC) is not None
        finally:
            engine.dispose()
    assert rest.recordings == {}


def test_a_message_twilio_no_longer_has_is_reported_lost_and_no_longer_pending(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rest = RestRecorder(recordings={REC: Recording(REC, SID, wav())})
    with twilio_rest(rest) as api, running_line(tmp_path, recordings=False, api_url=api) as line:
        leave_message(line)
        rest.recordings.clear()  # deleted on Twilio (its retention period, by hand...)
        with caplog.at_level(logging.ERROR, logger="twilio_line.recordings"):
            report = taker(line).retake()
        assert (report.stored, report.problems) == (0, [])
        assert "lost: Twilio no longer has it" in caplog.text
        assert state(line) == {REC: "gone"} and messages(line) == 0
        later = OPEN_NOW.astimezone(UTC) + timedelta(days=3)
        with Session(line.engine) as session:
            assert purge_calls(session, later, later, dry_run=False) == 1
