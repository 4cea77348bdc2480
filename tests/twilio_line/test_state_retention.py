"""A Twilio call's state (the caller's number, the callback number typed) is deleted by
the retention job once the call ended more than ``[twilio] state_days`` ago; a call
whose end was never heard of goes the same way once nothing happened for as long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr211.config import DEFAULT_SEED, Config
from ivr211.retention import run_retention
from store.db import make_engine, upgrade
from store.linesettings import SettingsStore, seed_if_empty
from store.twilio_calls import TwilioCall, add_call
from store.twilio_conferences import TwilioConference, add_conference
from store.voicemail import AuditEntry

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_the_state_of_ended_and_forgotten_calls_is_deleted(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    try:
        upgrade(engine)
        with SettingsStore(engine).change() as session:
            seed_if_empty(session, DEFAULT_SEED)
        with Session(engine) as session, session.begin():
            for sid, age_h, ended in (
                ("CAold", 30, True),  # ended 30 h ago
                ("CAyoung", 2, True),  # ended 2 h ago
                ("CAlost", 50, False),  # no status callback, nothing for 50 h
                ("CAlive", 0, False),  # a call in progress
            ):
                at = NOW - timedelta(hours=age_h)
                row = add_call(
                    session, call_sid=sid, at=at, caller_number="+14185550100", dialed_number=None
                )
                if ended:
                    row.ended_at = at
                add_conference(
                    session,
                    caller_sid=sid,
                    navigator_user="alice",
                    navigator_endpoint="PJSIP/nav-alice",
                    line_number="+14185550211",
                    at=at,
                )
        config = Config.model_validate(
            {
                "database": {"url": f"sqlite:///{tmp_path / 'line.db'}"},
                "voicemail": {"storage_dir": str(tmp_path / "vm")},
            }
        )
        dry = run_retention(engine, config, NOW, dry_run=True)
        assert dry.twilio_calls == 2
        assert "Twilio calls: would purge the state of 2" in dry.lines()
        report = run_retention(engine, config, NOW)
        assert report.twilio_calls == 2
        with Session(engine) as session:
            left = set(session.scalars(select(TwilioCall.call_sid)))
            assert left == {"CAyoung", "CAlive"}
            taken = set(session.scalars(select(TwilioConference.caller_sid)))
            assert taken == {"CAyoung", "CAlive"}
            (entry,) = session.scalars(
                select(AuditEntry).where(AuditEntry.object == "twilio_calls")
            )
            assert (entry.user, entry.action) == ("system", "purge")
            assert entry.detail.startswith("2 Twilio calls' state deleted")
        assert run_retention(engine, config, NOW).twilio_calls == 0
    finally:
        engine.dispose()


def test_a_callers_export_includes_the_twilio_call_state_held(tmp_path: Path) -> None:
    import json

    from store.privacy import caller_data

    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            add_call(session, call_sid="CAshown", at=NOW, caller_number="+14185550123",
                     dialed_number="+14185550211")  # fmt: skip
            withheld = add_call(session, call_sid="CAwithheld", at=NOW, caller_number=None,
                                dialed_number="+14185550211")  # fmt: skip
            withheld.decision = json.dumps({"route": "research", "callback": "4185550123"})
            add_call(session, call_sid="CAother", at=NOW, caller_number="+15145550000",
                     dialed_number="+14185550211")  # fmt: skip
        with Session(engine) as session, session.begin():
            data = caller_data(session, "418 555-0123", user="dpo", role="admin", now=NOW)
            assert len(data["twilio_calls"]) == 2
            assert all("call_sid" not in row for row in data["twilio_calls"])
            (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "export"))
            assert entry.detail == "0 messages, 0 transfer records, 0 calls, 2 Twilio calls"
    finally:
        engine.dispose()
