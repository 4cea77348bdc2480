"""``ivr211 voicemail simulate`` then ``ivr211 voicemail sweep``, through ``main``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr211.cli import main
from ivr211.db import make_engine
from ivr211.voicemail import VoiceMessage


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    for name in list(os.environ):
        if name.startswith("IVR211_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "ivr211.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n'
        f'[voicemail]\nspool_dir = "{tmp_path / "spool"}"\n'
        f'storage_dir = "{tmp_path / "storage"}"\nsettle_s = 0\n',
        encoding="utf-8",
    )
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    return path


def test_simulated_message_is_swept_into_storage(
    config_path: Path, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(config_path)]
    assert main(["voicemail", "simulate", *argv, "--withheld", "--callback", "4185550123"]) == 0
    inbox = tmp_path / "spool" / "recherche" / "1000" / "INBOX"
    assert sorted(p.name for p in inbox.iterdir()) == ["msg0000.txt", "msg0000.wav"]
    capsys.readouterr()

    assert main(["voicemail", "sweep", *argv, "--no-notify"]) == 0

    out = capsys.readouterr().out
    assert "1 ingested" in out
    assert list(inbox.iterdir()) == []
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            (row,) = session.scalars(select(VoiceMessage)).all()
    finally:
        engine.dispose()
    assert (row.mailbox, row.caller_number, row.callback_number) == (
        "1000@recherche",
        None,
        "4185550123",
    )
    assert (tmp_path / "storage" / str(row.audio_path)).is_file()


def test_sweep_exits_1_when_a_message_is_moved_aside(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "spool" / "recherche" / "1000" / "INBOX"
    inbox.mkdir(parents=True)
    (inbox / "msg0000.txt").write_text("not a message file\n", encoding="utf-8")

    assert main(["voicemail", "sweep", "--config", str(config_path), "--no-notify"]) == 1

    assert "moved aside" in capsys.readouterr().out
    assert list(inbox.iterdir()) == []
