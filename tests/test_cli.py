"""The ``ivr211`` command line, run through ``main(argv)`` and as a real subprocess."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr211.cli import build_parser, main
from store.db import head_revision

WEDNESDAY_10H = "2025-06-04T10:00"
WEDNESDAY_20H = "2025-06-04T20:00"
SAINT_JEAN_20H = "2025-06-24T20:00"  # Fête nationale: holiday hours end at 19:00


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("IVR211_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "ivr211.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n', encoding="utf-8")
    return path


@pytest.fixture
def ready(config_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["db", "upgrade", "--config", str(config_path)]) == 0
    capsys.readouterr()
    return config_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def status(capsys: pytest.CaptureFixture[str], config: Path, at: str) -> dict[str, str]:
    code, out, err = run(capsys, "line", "status", "--at", at, "--config", str(config))
    assert code == 0, err
    return dict(line.split(": ", 1) for line in out.splitlines())


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list:
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += _command_paths(sub, (*prefix, name))
    return paths


COMMANDS = _command_paths(build_parser())


def test_every_command_is_listed() -> None:
    assert {" ".join(p) for p in COMMANDS} >= {
        "db upgrade",
        "db current",
        "serve",
        "simulate",
        "line status",
        "line override",
        "line closure add",
        "line closure list",
        "line closure remove",
        "settings show",
        "config check",
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "root")
def test_help_on_every_command(capsys: pytest.CaptureFixture[str], path: tuple[str, ...]) -> None:
    code, out, _ = run(capsys, *path, "--help")
    assert code == 0
    assert out.startswith(f"usage: {' '.join(('ivr211', *path))}")
    if path:
        assert "--config" in out


def test_db_upgrade_on_a_fresh_sqlite_file(
    capsys: pytest.CaptureFixture[str], config_path: Path, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "db", "upgrade", "--config", str(config_path))
    assert code == 0
    head = head_revision()
    assert f"schema: migrated from (empty) to {head}" in out
    assert "line settings: seeded from" in out and "(version 1)" in out
    assert (tmp_path / "line.db").is_file()
    code, out, _ = run(capsys, "db", "upgrade", "--config", str(config_path))
    assert code == 0
    assert f"schema: already at {head}" in out
    assert "already present (version 1)" in out
    code, out, _ = run(capsys, "db", "current", "--config", str(config_path))
    assert (code, f"revision: {head} (head)" in out) == (0, True)


def test_default_database_is_under_var_of_the_working_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = run(capsys, "db", "upgrade")
    assert code == 0
    assert (tmp_path / "var" / "store.db").is_file()


def test_line_status(capsys: pytest.CaptureFixture[str], ready: Path) -> None:
    opened = status(capsys, ready, WEDNESDAY_10H)
    assert (opened["state"], opened["reason"]) == ("open", "hours")
    assert opened["until"].startswith("2025-06-04 19:00")
    closed = status(capsys, ready, WEDNESDAY_20H)
    assert (closed["state"], closed["reason"]) == ("closed", "after_hours")
    assert closed["until"].startswith("2025-06-05 08:00")
    holiday = status(capsys, ready, SAINT_JEAN_20H)
    assert (holiday["state"], holiday["reason"]) == ("closed", "holiday")
    assert "holiday" in holiday


def test_line_status_lists_numbers_to_fill_in_and_to_verify(
    capsys: pytest.CaptureFixture[str], ready: Path
) -> None:
    shown = status(capsys, ready, WEDNESDAY_10H)
    both = "capitale-nationale, chaudiere-appalaches"
    for key in ("crise", "menus-travaux", "appels-amitie", "paniers-noel"):
        assert shown[f"to fill in ({key})"] == both
        assert f"to verify ({key})" not in shown
    assert shown["to verify (911)"] == "capitale-nationale 911, chaudiere-appalaches 911"
    assert shown["to verify (cps)"].startswith("capitale-nationale 18662773553")
    assert "to fill in (911)" not in shown


def test_override_set_and_clear_show_in_status(
    capsys: pytest.CaptureFixture[str], ready: Path
) -> None:
    code, out, _ = run(
        capsys, "line", "override", "closed", "--reason", "panne", "--config", str(ready)
    )
    assert code == 0 and "forced closed" in out
    forced = status(capsys, ready, "2099-06-03T10:00")
    assert (forced["state"], forced["reason"], forced["detail"]) == (
        "closed",
        "override_closed",
        "panne",
    )
    code, out, _ = run(capsys, "line", "override", "clear", "--config", str(ready))
    assert code == 0 and "override cleared" in out
    back = status(capsys, ready, "2099-06-03T10:00")
    assert (back["state"], back["reason"]) == ("open", "hours")


def test_override_closed_exceptionally(capsys: pytest.CaptureFixture[str], ready: Path) -> None:
    code, out, _ = run(
        capsys, "line", "override", "closed", "--exceptional", "--reason", "tempête",
        "--config", str(ready),
    )  # fmt: skip
    assert code == 0 and "forced closed (exceptional closure)" in out
    forced = status(capsys, ready, "2099-06-03T10:00")
    assert (forced["state"], forced["reason"], forced["detail"]) == ("closed", "closure", "tempête")
    code, _, err = run(capsys, "line", "override", "open", "--exceptional", "--config", str(ready))
    assert code == 2 and "--exceptional applies to closed only" in err


def test_override_open_until(capsys: pytest.CaptureFixture[str], ready: Path) -> None:
    code, _, err = run(
        capsys,
        "line",
        "override",
        "open",
        "--until",
        "2099-06-03T23:00",
        "--config",
        str(ready),
    )
    assert code == 0, err
    late = status(capsys, ready, "2099-06-03T21:00")
    assert (late["state"], late["reason"]) == ("open", "override_open")
    assert late["until"].startswith("2099-06-03 23:00")


def test_closure_add_list_remove(capsys: pytest.CaptureFixture[str], ready: Path) -> None:
    code, out, err = run(
        capsys,
        "line",
        "closure",
        "add",
        "--start",
        "2099-06-03T09:00",
        "--end",
        "2099-06-03T12:00",
        "--reason",
        "réunion d'équipe",
        "--by",
        "marie",
        "--config",
        str(ready),
    )
    assert code == 0, err
    assert out.startswith("closure 1 added")
    during = status(capsys, ready, "2099-06-03T10:00")
    assert (during["state"], during["reason"]) == ("closed", "closure")
    code, out, _ = run(capsys, "line", "closure", "list", "--config", str(ready))
    assert code == 0
    assert out.split("\t")[0] == "1" and "réunion d'équipe" in out and "marie" in out
    code, out, _ = run(capsys, "line", "closure", "remove", "1", "--config", str(ready))
    assert code == 0
    assert status(capsys, ready, "2099-06-03T10:00")["state"] == "open"
    code, _, err = run(capsys, "line", "closure", "remove", "1", "--config", str(ready))
    assert code == 2 and err == "ivr211: error: no closure with id 1\n"


def test_settings_show(capsys: pytest.CaptureFixture[str], ready: Path) -> None:
    code, out, _ = run(capsys, "settings", "show", "--config", str(ready))
    assert code == 0
    assert "mon: 08:00-19:00" in out and "holiday: 08:00-19:00" in out
    assert "18662773553" in out and "numbers_to_verify:" in out
    assert "numbers_to_fill:" in out and "- crise capitale-nationale" in out


def test_config_check_masks_the_database_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "pg.toml"
    path.write_text('[database]\nurl = "postgresql://ivr:hunter2@db/ivr"\n', encoding="utf-8")
    code, out, _ = run(capsys, "config", "check", "--config", str(path))
    assert code == 0
    assert "hunter2" not in out
    assert "postgresql+psycopg://ivr:***@db/ivr" in out
    assert "IVR211_AMI_SECRET: MISSING" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["line", "status", "--at", "yesterday"], "--at: not an ISO 8601 time"),
        (["line", "override", "closed", "--until", "2000-01-01T00:00"], "already past"),
        (["line", "override", "clear", "--reason", "x"], "apply to open/closed"),
        (
            [
                "line",
                "closure",
                "add",
                "--start",
                "2099-01-02",
                "--end",
                "2099-01-01",
                "--reason",
                "x",
            ],
            "must end after",
        ),
        (["line", "override", "sideways"], "invalid choice"),
        (["line", "status", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], ready: Path, argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv, "--config", str(ready))
    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert "Traceback" not in err


def test_commands_refuse_a_database_that_is_not_there(
    capsys: pytest.CaptureFixture[str], config_path: Path
) -> None:
    for argv in (["serve"], ["line", "status"], ["settings", "show"]):
        code, _, err = run(capsys, *argv, "--config", str(config_path))
        assert code == 2
        assert err.startswith("ivr211: error: database file ") and "db upgrade" in err


def test_serve_refuses_an_unmigrated_database(
    capsys: pytest.CaptureFixture[str], config_path: Path, tmp_path: Path
) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "line.db").close()
    code, _, err = run(capsys, "serve", "--config", str(config_path))
    assert code == 2
    assert "is not migrated: run `ivr211 db upgrade` first" in err


def test_bad_config_in_a_subprocess_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[agi]\nprot = 4573\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "ivr211.cli", "line", "status", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert result.stderr == f"ivr211: error: {path}: agi.prot: unknown key\n"
    assert result.stdout == ""


def test_config_from_environment_in_a_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "env.toml"
    path.write_text("[agi]\nport = 4600\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "ivr211.cli", "config", "check"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "IVR211_CONFIG": str(path), "IVR211_AGI__HOST": "::1"},
    )
    assert result.returncode == 0, result.stderr
    assert f"# configuration: {path}" in result.stdout
    assert "port = 4600" in result.stdout and 'host = "::1"' in result.stdout


def test_listen_without_an_ami_secret_says_why_and_leaves_it_in_the_status(
    ready: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "listen", "--config", str(ready))
    assert code == 2
    assert "IVR211_AMI_SECRET is not set" in err
    code, out, _ = run(capsys, "listener", "status", "--config", str(ready))
    assert code == 1
    assert "state: stopped" in out
    assert "not started: AMI secret" in out


def test_navigator_accounts_are_added_listed_and_unique(
    ready: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "navigator", "add", "alice", "--endpoint", "PJSIP/nav-alice", "--config", str(ready)
    )
    assert (code, out.strip()) == (
        0,
        "navigator alice: phone PJSIP/nav-alice, queue member PJSIP/nav-alice",
    )
    code, _, err = run(
        capsys, "navigator", "add", "bob", "--endpoint", "PJSIP/nav-alice", "--config", str(ready)
    )
    assert code == 2
    assert "PJSIP/nav-alice already belongs to navigator 'alice'" in err
    code, out, _ = run(capsys, "navigator", "list", "--config", str(ready))
    assert out.splitlines() == ["alice\tPJSIP/nav-alice\tPJSIP/nav-alice"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on (this test process)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("section", ["agi", "dashboard"])
def test_serve_on_a_port_in_use_says_which_port_and_who_holds_it(
    ready: Path, tmp_path: Path, taken_port: int, section: str
) -> None:
    import os
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    ports = {"agi": free, "dashboard": free}
    ports[section] = taken_port
    config = tmp_path / "ports.toml"
    config.write_text(
        ready.read_text(encoding="utf-8")
        + f"[agi]\nport = {ports['agi']}\n[dashboard]\nport = {ports['dashboard']}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "ivr211.cli", "serve", "--no-listener", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    what = "FastAGI server" if section == "agi" else "dashboard"
    assert line.startswith(f"ivr211: error: {what}: port {taken_port} on 127.0.0.1 ")
    assert f"already in use by process {os.getpid()} (" in line
    assert f"[{section}] port (IVR211_{section.upper()}__PORT)" in line


def test_a_port_held_by_an_unknown_process_still_names_the_setting() -> None:
    import errno

    from ivr211.ports import bind_error_message

    message = bind_error_message(
        OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
        "10.9.9.9",
        4573,
        what="FastAGI server",
        setting="[agi] port",
    )
    assert message == (
        "FastAGI server: cannot listen on 10.9.9.9 port 4573: "
        "Cannot assign requested address; check [agi] port"
    )
