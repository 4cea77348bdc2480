"""``ivr211 reconcile --twilio --since``: the call records of calls whose webhooks or
callbacks were missed, rebuilt from Twilio's Calls resource (the twilio library's REST
client against a local stand-in for api.twilio.com)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr211.cli import main
from ivr211.config import DEFAULT_SEED
from store.calls import CallRecord
from store.linesettings import SettingsStore, seed_if_empty
from tests.twilio_line.helpers import ACCOUNT, OPEN_NOW, PUBLIC, TOKEN, running_line, walk
from tests.twilio_line.rest_server import CallLog, RestRecorder, twilio_rest

DECIDED = "CA" + "1" * 32  # its flow decided; the status callback was lost
HUNG_UP = "CA" + "2" * 32  # hung up in the menu; the status callback was lost
FALLBACK = "CA" + "3" * 32  # the web process never answered
LEG = "CA" + "4" * 32  # a <Dial> leg of DECIDED
OLD = "CA" + "5" * 32  # before --since


def test_missed_calls_are_rebuilt_from_the_calls_resource(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    (tmp_path / "token").write_text(TOKEN, encoding="utf-8")
    with running_line(tmp_path) as line:
        walk(line, ["1", "1"], DECIDED)  # ends in the queue
        line.post(f"{PUBLIC}/twilio/voice", line.call_params(HUNG_UP, "Anonymous"))
        with SettingsStore(line.engine).change() as session:  # as `ivr211 db upgrade` does
            seed_if_empty(session, DEFAULT_SEED)
    rest = RestRecorder(
        calls={
            sid: CallLog(sid, ended, from_=caller, parent=parent)
            for sid, ended, caller, parent in (
                (DECIDED, "Wed, 11 Jun 2025 14:09:00 +0000", "+14185550100", None),
                (HUNG_UP, "Wed, 11 Jun 2025 14:01:00 +0000", "Anonymous", None),
                (FALLBACK, "Wed, 11 Jun 2025 14:05:00 +0000", "+266696687", None),
                (LEG, "Wed, 11 Jun 2025 14:08:00 +0000", "+14185550211", DECIDED),
                (OLD, "Mon, 09 Jun 2025 14:05:00 +0000", "+14185550123", None),
            )
        }
    )
    with twilio_rest(rest) as api:
        config = tmp_path / "ivr211.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n'
            f'[twilio]\naccount_sid = "{ACCOUNT}"\napi_url = "{api}"\n'
            f'auth_token_file = "{tmp_path / "token"}"\n',
            encoding="utf-8",
        )
        args = ["reconcile", "--twilio", "--config", str(config)]
        assert main([*args, "--since", "2025-06-11T08:00"]) == 0
        assert capsys.readouterr().out.strip().splitlines() == [
            "Twilio: 3 calls listed, 3 call records written (1 answered by the fallback URL)",
            "Twilio recordings: 0 research messages taken into the inbox, 0 recorded again"
            " deleted, 0 still in review, 0 failed",
        ]
        assert main([*args, "--since", "2025-06-11T08:00"]) == 0  # again: nothing doubles
        assert main(args) == 2
        assert "needs --since" in capsys.readouterr().err
    from store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    try:
        with Session(engine) as session:
            rows = {r.linkedid: r for r in session.scalars(select(CallRecord))}
    finally:
        engine.dispose()
    assert set(rows) == {DECIDED, HUNG_UP, FALLBACK}
    decided = rows[DECIDED]
    assert (decided.route, decided.language, decided.path) == (
        "queue",
        "fr",
        "open/lang:fr/main:1",
    )
    assert decided.ended_at == datetime(2025, 6, 11, 14, 9, tzinfo=UTC)
    assert decided.arrived_at == OPEN_NOW.astimezone(UTC)
    hung_up = rows[HUNG_UP]
    assert (hung_up.route, hung_up.language, hung_up.path) == ("hangup", "none", "open/hangup")
    assert hung_up.caller_number is None  # "Anonymous"
    fallback = rows[FALLBACK]
    assert fallback.route == "fallback"
    assert fallback.caller_number is None  # +266696687, ANONYMOUS on a keypad
    assert fallback.arrived_at == datetime(2025, 6, 11, 14, 4, tzinfo=UTC)
    assert fallback.local_date.isoformat() == "2025-06-11"
