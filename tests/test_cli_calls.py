"""``ivr211 calls rebuild-rollups``: puts right a roll-up changed behind the writer's back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr211.cli import main
from store import rollups
from store.calls import CallFact, CallSource, QueueOutcome, record_calls
from store.db import make_engine


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    path = tmp_path / "ivr211.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n', encoding="utf-8")
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    return path


def test_rebuild_rollups_finds_and_mends_a_stale_rollup(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    at = datetime(2026, 6, 3, 14, 0, tzinfo=UTC)
    with Session(engine) as session:
        record_calls(
            session,
            [CallFact("1.1", at, CallSource.AMI, queue_outcome=QueueOutcome.ANSWERED, wait_s=9.0)],
        )
        session.execute(update(rollups.CallHourRollup).values(answered=5))  # by hand
        session.commit()
    capsys.readouterr()
    assert main(["calls", "rebuild-rollups", "--check", "--config", str(config_path)]) == 1
    out = capsys.readouterr().out
    assert "out of date: call_hour_rollups" in out
    assert main(["calls", "rebuild-rollups", "--config", str(config_path)]) == 0
    assert "changed: call_hour_rollups" in capsys.readouterr().out
    assert main(["calls", "rebuild-rollups", "--check", "--config", str(config_path)]) == 0
    assert "roll-ups: up to date" in capsys.readouterr().out
    with Session(engine) as session:
        assert session.scalar(select(rollups.CallHourRollup.answered)) == 1
    engine.dispose()
