"""``ivr211 voicemail simulate`` then ``ivr211 voicemail sweep``, through ``main``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr211.cli import main
from store.db import make_engine
from store.voicemail import VoiceMessage


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


def test_a_message_left_through_simulate_reaches_the_inbox_with_its_audio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's "done when": a call placed with `ivr211 simulate --leave-message`
    that ends on the research route leaves a message in the spool, and the sweep
    records it with its audio."""
    import asyncio
    import contextlib
    import threading
    from datetime import UTC, datetime

    from agi_scripts.server import ServerOptions, serve
    from ivr211.cli import main
    from store.db import make_engine
    from store.linesettings import SettingsStore
    from store.voicemail import VoiceMessage

    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    config = tmp_path / "ivr211.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n'
        f'[voicemail]\nspool_dir = "{tmp_path / "spool"}"\nstorage_dir = "{tmp_path / "store"}"\n'
        "settle_s = 0\n",
        encoding="utf-8",
    )
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    store = SettingsStore(engine)
    options = ServerOptions(port=0)
    loop = asyncio.new_event_loop()
    started = asyncio.Event()
    # a Wednesday at 10:00 in Québec: the line is open
    clock = lambda: datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # noqa: E731
    task = loop.create_task(serve(options, store.load, clock=clock, started=started))

    def run_server() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run_server, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(started.wait(), loop).result(10)
        capsys.readouterr()
        code = main(
            [
                "simulate",
                "--config",
                str(config),
                "--port",
                str(options.port),
                "--caller",
                "4185550123",
                "--keys",
                "2,2",
                "--leave-message",
            ]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        assert "route: research" in out
        assert "message left:" in out
        assert main(["voicemail", "sweep", "--no-notify", "--config", str(config)]) == 0
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
        loop.close()
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        (message,) = session.scalars(select(VoiceMessage)).all()
        assert message.caller_number == "4185550123"
        assert message.language == "en"
        assert (tmp_path / "store" / message.audio_path).is_file()
    engine.dispose()
