"""The retention job deletes what Twilio keeps: call logs past the caller numbers'
period, recordings past the research messages' period (the twilio library's REST client
against a local stand-in for api.twilio.com)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr211.config import DEFAULT_SEED, Config
from ivr211.retention import run_retention
from store.db import make_engine, upgrade
from store.linesettings import SettingsStore, seed_if_empty
from store.voicemail import AuditEntry
from tests.twilio_line.helpers import ACCOUNT, PUBLIC, TOKEN
from tests.twilio_line.rest_server import CallLog, Recording, RestRecorder, twilio_rest, wav

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
AUTH = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()


def config(tmp_path: Path, api: str) -> Config:
    return Config.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'line.db'}"},
            "voicemail": {"storage_dir": str(tmp_path / "vm")},
            "retention": {"transfer_numbers_days": 365},
            "twilio": {
                "enabled": True,
                "public_url": PUBLIC,
                "account_sid": ACCOUNT,
                "auth_token_file": str(tmp_path / "token"),
                "api_url": api,
            },
        }
    )


def test_old_call_logs_and_recordings_are_deleted_from_twilio(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n", encoding="utf-8")
    rest = RestRecorder(
        calls={
            sid: CallLog(sid, ended, status)
            for sid, ended, status in (
                ("CA" + "1" * 32, "Mon, 02 Dec 2024 15:00:00 +0000", "completed"),
                ("CA" + "2" * 32, "Tue, 03 Dec 2024 15:00:00 +0000", "no-answer"),
                ("CA" + "3" * 32, "Wed, 04 Dec 2024 15:00:00 +0000", "completed"),
                ("CA" + "4" * 32, "Fri, 04 Dec 2026 15:00:00 +0000", "completed"),
            )
        },
        recordings={
            "RE" + "1" * 32: Recording("RE" + "1" * 32, "CA" + "1" * 32, wav()),
            "RE" + "2" * 32: Recording("RE" + "2" * 32, "CA" + "4" * 32, wav()),
        },
        created={
            "RE" + "1" * 32: "Tue, 03 Dec 2024 15:00:00 +0000",  # past 365 days
            "RE" + "2" * 32: "Fri, 04 Dec 2026 15:00:00 +0000",
        },
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    try:
        upgrade(engine)
        with SettingsStore(engine).change() as session:
            seed_if_empty(session, DEFAULT_SEED)
        with twilio_rest(rest) as api:
            cfg = config(tmp_path, api)
            dry = run_retention(engine, cfg, NOW, dry_run=True)
            assert (dry.twilio_call_logs, dry.twilio_recordings) == (3, 1)
            assert "Twilio: would purge 3 call logs" in dry.lines()
            assert len(rest.calls) == 4 and len(rest.recordings) == 2
            report = run_retention(engine, cfg, NOW)
        assert report.problems == []
        assert (report.twilio_call_logs, report.twilio_recordings) == (3, 1)
        assert set(rest.calls) == {"CA" + "4" * 32}
        assert set(rest.recordings) == {"RE" + "2" * 32}
        deletes = [(path, auth) for method, path, auth in rest.requests if method == "DELETE"]
        assert len(deletes) == 4 and {auth for _p, auth in deletes} == {AUTH}
        listed = [p for m, p, _a in rest.requests if m == "GET" and "Calls.json" in p]
        assert any("Page=1" in p for p in listed)  # the second page was read
        with Session(engine) as session:
            (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.object == "twilio"))
            assert entry.action == "purge"
            assert entry.detail.startswith("Twilio: 3 call logs ended before 2025-12-05")
    finally:
        engine.dispose()


def test_twilio_unreachable_is_a_problem_of_the_run(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN, encoding="utf-8")
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    try:
        upgrade(engine)
        with SettingsStore(engine).change() as session:
            seed_if_empty(session, DEFAULT_SEED)
        report = run_retention(engine, config(tmp_path, "http://127.0.0.1:9"), NOW)
        assert report.twilio_call_logs == 0
        assert report.problems and report.problems[0].startswith("Twilio: ")
    finally:
        engine.dispose()
