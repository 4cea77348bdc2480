"""Classic AGI: ``python -m agi_scripts.classic incoming`` over pipes, with SIGHUP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from agi_fakes import HUNG_UP_DURING_PROMPT, OPEN_NOW, PLAYED, FakeAsterisk, header_for

import ivr211.agi as ivr211_agi
from agi_scripts.classic import DEFAULT_SETTINGS, load_callable
from store.linesettings import SettingsStore

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


async def run_classic(
    keys: list[str],
    hangup_at_stream: int | None = None,
    reply_on_hangup: list[bytes] = HUNG_UP_DURING_PROMPT,
    dead_after: bool = True,
) -> tuple[FakeAsterisk, int, bytes]:
    """Play Asterisk's part on the script's stdin/stdout; SIGHUP during the nth
    STREAM FILE, answered with ``reply_on_hangup`` (by default the recorded
    ``200 result=-1 endpos=16160``); ``dead_after``: media commands then get 511."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agi_scripts.classic",
        "incoming",
        "--settings",
        "agi_fakes:line_settings",
        "--now",
        OPEN_NOW.isoformat(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    fake = FakeAsterisk(0, keys=keys)
    fake.language = "en"
    streams = 0
    try:
        async with asyncio.timeout(30):
            proc.stdin.writelines(header_for())
            await proc.stdin.drain()
            while line := await proc.stdout.readline():
                command = line.decode().rstrip("\n")
                fake.commands.append(command)
                if command.startswith("STREAM FILE"):
                    streams += 1
                    if streams == hangup_at_stream:
                        proc.send_signal(signal.SIGHUP)
                        fake.hung_up = dead_after
                        proc.stdin.writelines(reply_on_hangup)
                        await proc.stdin.drain()
                        continue
                proc.stdin.writelines(fake.default_reply(command))
                await proc.stdin.drain()
            stderr = await proc.stderr.read()
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        proc.stdin.close()
    return fake, code, stderr


def test_classic_script_runs_the_flow_over_pipes() -> None:
    fake, code, stderr = asyncio.run(run_classic(["1", "1"]))
    assert code == 0, stderr.decode()
    assert fake.commands[:2] == ["ANSWER", 'SET VARIABLE IVR_FLOW_DONE ""']
    assert fake.variables["IVR_ROUTE"] == "queue"
    assert fake.variables["__IVR_PATH"] == "open/lang:fr/main:1"
    assert fake.commands[-1] == "SET VARIABLE IVR_FLOW_DONE 1"


def test_sighup_marks_the_channel_hung_up() -> None:
    # the emergency notice, the greeting, then SIGHUP during the language menu
    fake, code, stderr = asyncio.run(run_classic(["t", "1", "1"], hangup_at_stream=3))
    assert code == 1, stderr.decode()
    assert fake.count("STREAM FILE") == 3
    assert fake.variables["IVR_ROUTE"] == "hangup"
    assert fake.variables["__IVR_PATH"] == "open/hangup"
    assert "SET VARIABLE IVR_FLOW_DONE 1" not in fake.commands
    assert fake.commands[-1] == "SET VARIABLE IVR_ROUTE hangup"


def test_sighup_alone_is_enough_to_end_the_flow() -> None:
    """The prompt answers as if played to the end and the channel still answers every
    command: only SIGHUP says the caller left. The signal is handled at the latest one
    command later."""
    fake, code, stderr = asyncio.run(
        run_classic(["t", "1", "1"], hangup_at_stream=2, reply_on_hangup=PLAYED, dead_after=False)
    )
    assert code == 1, stderr.decode()
    second = [i for i, c in enumerate(fake.commands) if c.startswith("STREAM FILE")][1]
    after = fake.commands[second + 1 :]
    assert after[-2:] == ["SET VARIABLE __IVR_PATH open/hangup", "SET VARIABLE IVR_ROUTE hangup"]
    assert len(after) <= 3
    assert "SET VARIABLE IVR_FLOW_DONE 1" not in fake.commands


def test_without_settings_it_reads_the_database_of_the_ivr211_configuration(
    store: SettingsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented dialplan call passes no --settings: the default names ivr211's
    source, loaded by name like any other."""
    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    monkeypatch.setenv("IVR211_DATABASE__URL", store.engine.url.render_as_string(False))
    ivr211_agi._store.cache_clear()
    try:
        settings = load_callable(DEFAULT_SETTINGS)()
        ivr211_agi._store().engine.dispose()
    finally:
        ivr211_agi._store.cache_clear()
    assert DEFAULT_SETTINGS == "ivr211.agi:line_settings"
    assert settings.version == store.load().version
