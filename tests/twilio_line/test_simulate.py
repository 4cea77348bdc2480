"""``ivr211 simulate --backend twilio``, and the same call on both back ends: every key
sequence the FastAGI simulator's tests use (tests/agi/test_agi_simulate.py) gives the
same route, language, path and callback number through the Twilio webhooks as through
the real FastAGI server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import pytest

from agi_scripts import simulate
from agi_scripts.server import ServerOptions, serve
from ivr.settings import LineSettings
from ivr211.cli import main
from ivr211.twilio_simulation import twilio_call
from store.db import make_engine, upgrade
from tests.twilio_line.helpers import CLOSED_NOW, OPEN_NOW, line_settings, options


@contextlib.asynccontextmanager
async def fastagi(settings: Callable[[], LineSettings], now: datetime) -> AsyncIterator[int]:
    """The real FastAGI server on an ephemeral port (as tests/agi/agi_fakes.py runs it)."""
    opts = ServerOptions(host="127.0.0.1", port=0)
    started = asyncio.Event()
    task = asyncio.create_task(serve(opts, settings, clock=lambda: now, started=started))
    waiter = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()
    try:
        yield opts.port
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def parse(extra: tuple[str, ...], port: int = 1) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    return parser.parse_args(["--host", "127.0.0.1", "--port", str(port), *extra])


_VARIABLE = re.compile(r"^  (\w+) = (.*)$", re.MULTILINE)


def variables(out: str) -> dict[str, str]:
    return dict(_VARIABLE.findall(out))


def on_fastagi(now: datetime, extra: tuple[str, ...]) -> tuple[int, dict[str, str], str]:
    settings = line_settings()

    async def scenario() -> int:
        async with fastagi(lambda: settings, now) as port:
            return await asyncio.to_thread(simulate.run, parse(extra, port))

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = asyncio.run(scenario())
    return code, variables(out.getvalue()), out.getvalue()


def on_twilio(
    tmp_path: Path, now: datetime, extra: tuple[str, ...]
) -> tuple[int, dict[str, str], str]:
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    try:
        upgrade(engine)
        settings = line_settings()
        out = io.StringIO()
        code, _decision = twilio_call(
            options(tmp_path), engine, lambda: settings, lambda: now, parse(extra), out
        )
    finally:
        engine.dispose()
    return code, variables(out.getvalue()), out.getvalue()


#: Every call of tests/agi/test_agi_simulate.py: (now, simulator options).
SEQUENCES = [
    (OPEN_NOW, ("--keys", "1,1", "--caller", "4185550100")),
    (OPEN_NOW, ("--keys", "2,2", "--caller", "4185550100")),
    (OPEN_NOW, ("--keys", "3", "--caller", "4185550100")),
    (CLOSED_NOW, ("--keys", "1", "--caller", "4185550100")),
    (CLOSED_NOW, ("--keys", "3", "--caller", "4185550100")),
    (CLOSED_NOW, ("--keys", "", "--caller", "4185550100")),
    (OPEN_NOW, ("--keys", "h")),
    (OPEN_NOW, ("--keys", "1", "--entry", "queue-exit", "--language", "en")),
    (CLOSED_NOW, ("--keys", "3,4185550199#,1")),
    (CLOSED_NOW, ("--keys", "3,14185550199,1")),
    (CLOSED_NOW, ("--keys", "3,418#,t,*")),
    (CLOSED_NOW, ("--keys", "3,t,t,t")),
    (CLOSED_NOW, ("--keys", "3,4185550199#,1", "--withheld", "anonymous")),
    (CLOSED_NOW, ("--keys", "3,4185550199#,1", "--caller", "4185550100", "--withheld", "hidden")),
]
COMPARED = ("IVR_ROUTE", "__IVR_LANG", "__IVR_PATH", "IVR_DEST", "IVR_CALLBACK", "IVR_QUEUE")


@pytest.mark.parametrize(("now", "extra"), SEQUENCES, ids=[" ".join(e) for _n, e in SEQUENCES])
def test_both_back_ends_take_the_same_route_language_and_path(
    tmp_path: Path, now: datetime, extra: tuple[str, ...]
) -> None:
    agi_code, agi, agi_out = on_fastagi(now, extra)
    tw_code, tw, tw_out = on_twilio(tmp_path, now, extra)
    assert agi.get("IVR_ROUTE") and agi.get("__IVR_PATH"), agi_out
    # After a hang-up the FastAGI adapter writes only the path and the route.
    for name in (n for n in COMPARED if n in agi):
        assert tw.get(name) == agi[name], f"{name}\n--- FastAGI\n{agi_out}\n--- Twilio\n{tw_out}"
    assert tw_code == agi_code


def test_the_twilio_simulation_prints_the_twiml_exchanged(tmp_path: Path) -> None:
    code, found, out = on_twilio(tmp_path, OPEN_NOW, ("--keys", "1,1", "--caller", "4185550100"))
    assert code == 0
    assert "call CA" in out and "from +14185550100" in out
    assert "→ POST https://ligne.example.org/twilio/voice" in out
    assert (
        '← <?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Say language="fr-CA" voice="Polly.Gabrielle-Neural">' in out
    )
    assert "  ▶ say [fr-CA] Si une vie est en danger, raccrochez et composez le 9-1-1." in out
    assert "Digits=1 FinishedOnKey=" in out
    assert "<Enqueue action=" in out
    assert found["IVR_ROUTE"] == "queue"
    assert "flow finished" in out


def test_ivr211_simulate_backend_twilio_runs_on_the_configured_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ivr211.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n'
        f'[line]\nsettings_cache_s = 0\n[voicemail]\nstorage_dir = "{tmp_path / "vm"}"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    capsys.readouterr()
    code = main(["simulate", "--config", str(config), "--backend", "twilio", "--keys", "h"])
    out = capsys.readouterr().out
    assert code == 1
    assert "→ POST https://ivr211.invalid/twilio/voice" in out
    assert "  (caller hangs up)" in out
    assert "route: hangup" in out
    assert "flow did NOT finish" in out
    bad = main(["simulate", "--config", str(config), "--backend", "twilio", "--keys", "x"])
    assert bad == 2
    assert "invalid key 'x'" in capsys.readouterr().err


def test_the_consent_notice_is_heard_before_anything_is_recorded(tmp_path: Path) -> None:
    from ivr.settings import ResearchConsent

    code, _found, out = on_twilio(tmp_path, OPEN_NOW, ("--keys", "1,2", "--caller", "4185550100"))
    assert code == 0
    notice = ResearchConsent().text("fr")
    assert f"▶ say [fr-CA] {notice}" in out
    assert out.index(notice) < out.index("<Record ")
    assert 'maxLength="180"' in out and 'transcribe="false"' in out
