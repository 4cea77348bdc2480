"""``ivr211 simulate`` against the real FastAGI server: every route, by scripted keys."""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
from datetime import datetime

import pytest
from agi_fakes import CLOSED_NOW, OPEN_NOW, running_server

from agi_scripts import simulate


def sim_args(port: int, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    return parser.parse_args(["--host", "127.0.0.1", "--port", str(port), *extra])


def simulate_against_server(now: datetime, *extra: str) -> int:
    async def scenario() -> int:
        async with running_server(now=now) as opts:
            return await asyncio.to_thread(simulate.run, sim_args(opts.port, *extra))

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("now", "keys", "route", "path"),
    [
        (OPEN_NOW, "1,1", "queue", "open/lang:fr/main:1"),
        (OPEN_NOW, "2,2", "research", "open/lang:en/main:2"),
        (OPEN_NOW, "3", "queue", "open/lang:other"),
        (CLOSED_NOW, "1", "transfer", "closed:after_hours/menu:1/transfer:811"),
        (CLOSED_NOW, "3", "research", "closed:after_hours/menu:3/research"),
        (CLOSED_NOW, "", "closed", None),
    ],
)
def test_scripted_keys_reach_every_route(
    now: datetime, keys: str, route: str, path: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = simulate_against_server(now, "--keys", keys, "--caller", "4185550100")
    out = capsys.readouterr().out
    assert code == 0
    assert f"route: {route}" in out
    assert "IVR_FLOW_DONE = 1" in out
    if path is not None:
        assert f"__IVR_PATH = {path}\n" in out
    assert "▶ 211/greeting [fr] Bonjour, vous êtes bien au 2-1-1" in out


def test_hanging_up_exits_1_with_route_hangup(capsys: pytest.CaptureFixture[str]) -> None:
    code = simulate_against_server(OPEN_NOW, "--keys", "h")
    out = capsys.readouterr().out
    assert code == 1
    assert "route: hangup" in out
    assert "__IVR_PATH = open/hangup" in out
    assert "IVR_FLOW_DONE = 1" not in out


def test_queue_exit_entry_in_english(capsys: pytest.CaptureFixture[str]) -> None:
    code = simulate_against_server(
        OPEN_NOW, "--keys", "1", "--entry", "queue-exit", "--language", "en"
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "▶ 211/queue-unavailable [en]" in out
    assert "route: transfer" in out


def test_interactive_keys_are_read_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n2\n\n1\n"))
    code = simulate_against_server(OPEN_NOW)
    out = capsys.readouterr().out
    assert code == 0
    assert "one key please" in out
    assert "__IVR_PATH = open/lang:en/main:1" in out


def test_unreachable_server_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = simulate.run(sim_args(port, "--keys", "1"))
    assert code == 2
    assert f"cannot reach the FastAGI server at 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("keys", "callback", "tail"),
    [
        ("3,4185550199#,1", "4185550199", "callback:entered/callback:confirmed"),
        ("3,14185550199,1", "4185550199", "callback:entered/callback:confirmed"),
        ("3,418#,t,*", "", "callback:invalid/callback:timeout/callback:skipped/callback:none"),
        ("3,t,t,t", "", "callback:timeout/callback:none"),
    ],
)
def test_withheld_caller_answers_get_data(
    keys: str, callback: str, tail: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = simulate_against_server(CLOSED_NOW, "--keys", keys)
    out = capsys.readouterr().out
    assert code == 0
    assert "route: research" in out
    assert f"  IVR_CALLBACK = {callback}\n" in out
    assert f"{tail}\n" in out
    assert "▶ 211/callback-request [fr]" in out
    if callback:
        assert "▶ (digits, fr) 4 1 8 5 5 5 0 1 9 9" in out


def test_withheld_anonymous_presents_what_sip_trunks_send() -> None:
    header = simulate.build_header(
        "127.0.0.1", 4573, caller=None, language="fr", withheld="anonymous"
    )
    assert "agi_callerid: anonymous" in header
    assert "agi_calleridname: Anonymous" in header
    assert simulate.voicemail_callerid(None, "anonymous") == '"Anonymous" <anonymous>'
    unknown = simulate.build_header("127.0.0.1", 4573, caller=None, language="fr")
    assert "agi_callerid: unknown" in unknown and "agi_callingpres: 67" in unknown  # 5a
    hidden = simulate.build_header(
        "127.0.0.1", 4573, caller="4185550199", language="fr", withheld="hidden"
    )
    assert "agi_callerid: 4185550199" in hidden and "agi_callingpres: 32" in hidden


@pytest.mark.parametrize(
    ("extra", "callerid"),
    [
        (("--withheld", "anonymous"), '"Anonymous" <anonymous>'),
        (("--caller", "4185550100", "--withheld", "hidden"), '"Simulation" <4185550100>'),
        ((), "Unknown"),
    ],
)
def test_a_withheld_caller_is_asked_for_a_callback_number(
    extra: tuple[str, ...], callerid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    left: list[tuple[dict[str, str], str]] = []

    async def scenario() -> int:
        async with running_server(now=CLOSED_NOW) as opts:
            args = sim_args(opts.port, "--keys", "3,4185550199#,1", *extra)
            return await asyncio.to_thread(
                simulate.run, args, lambda v, c: left.append((dict(v), c))
            )

    code = asyncio.run(scenario())
    out = capsys.readouterr().out
    assert code == 0
    assert "▶ 211/callback-request [fr]" in out
    assert "  IVR_CALLBACK = 4185550199\n" in out
    assert [c for _, c in left] == [callerid]


@pytest.mark.parametrize(
    "extra",
    [("--withheld", "hidden"), ("--withheld", "anonymous", "--caller", "4185550100")],
)
def test_withheld_forms_that_contradict_caller_are_refused(
    extra: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate.run(sim_args(1, "--keys", "1", *extra)) == 2
    assert "--withheld" in capsys.readouterr().err
