"""``ivr211 user ...``, ``ivr211 dashboard`` under waitress, and ``serve`` supervising the
dashboard and writing the FastAGI heartbeat, through ``main(argv)`` and real processes."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr211.cli import Heartbeat, main
from store import accounts, heartbeats, login_throttle
from store.db import make_engine

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("IVR211_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def config_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "ivr211.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n'
        f"[agi]\nport = {_free_port()}\n"
        f'[dashboard]\nport = {_free_port()}\ninstance_path = "{tmp_path / "instance"}"\n'
        f'generated_secret_path = "{tmp_path / "secret"}"\n',
        encoding="utf-8",
    )
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    capsys.readouterr()
    return path


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: str | None = None,
) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_user_add_list_passwd_disable_unlock(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config_path: Path
) -> None:
    cfg = ("--config", str(config_path))
    code, out, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "Admin",
        "--role",
        "admin",
        "--password-stdin",
        *cfg,
        stdin=PASSWORD + "\n",
    )
    assert (code, out, err) == (0, "user admin created: role admin\n", "")
    code, out, _ = run(capsys, monkeypatch, "user", "list", *cfg)
    assert out == "admin\tadmin\tadmin\tactive\n"
    code, _, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "admin",
        "--role",
        "manager",
        "--password-stdin",
        *cfg,
        stdin=PASSWORD + "\n",
    )
    assert (code, err) == (2, "ivr211: error: user 'admin' already exists\n")
    code, _, err = run(
        capsys, monkeypatch, "user", "passwd", "admin", "--password-stdin", *cfg, stdin="short\n"
    )
    assert code == 2 and "at least 12 characters" in err
    code, out, _ = run(
        capsys,
        monkeypatch,
        "user",
        "passwd",
        "admin",
        "--password-stdin",
        *cfg,
        stdin="another long password\n",
    )
    assert code == 0 and "password of admin changed" in out
    assert run(capsys, monkeypatch, "user", "disable", "admin", *cfg)[:2] == (
        0,
        "user admin disabled\n",
    )
    assert "disabled" in run(capsys, monkeypatch, "user", "list", *cfg)[1]
    assert run(capsys, monkeypatch, "user", "enable", "admin", *cfg)[0] == 0
    assert run(capsys, monkeypatch, "user", "unlock", "admin", *cfg)[:2] == (
        0,
        "admin was not locked\n",
    )
    engine = make_engine(f"sqlite:///{config_path.parent / 'line.db'}")
    try:
        with Session(engine) as session:
            user = accounts.user_by_username(session, "admin")
            assert user is not None and user.active and user.check_password("another long password")
    finally:
        engine.dispose()


def test_user_unlock_lifts_a_name_or_an_address_lock(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config_path: Path
) -> None:
    cfg = ("--config", str(config_path))
    engine = make_engine(f"sqlite:///{config_path.parent / 'line.db'}")
    now = datetime.now(UTC)
    policy = login_throttle.ThrottlePolicy(max_failures=2, address_max_failures=3)
    try:
        with Session(engine) as session, session.begin():
            accounts.create_user(session, "admin", PASSWORD, "admin")
        for name, address in (("admin", "192.0.2.1"), ("admin", "192.0.2.1"), ("x", "192.0.2.1")):
            with Session(engine) as session, session.begin():
                login_throttle.authenticate(session, name, "wrong", address, now, policy)
        code, out, _ = run(capsys, monkeypatch, "user", "list", *cfg)
        assert code == 0 and out.startswith("admin\tadmin\tadmin\tactive, locked until ")
        assert "address 192.0.2.1 locked until " in out
        code, _, err = run(capsys, monkeypatch, "user", "unlock", *cfg)
        assert (code, err) == (2, "ivr211: error: give a user name, or --address ADDRESS\n")
        assert run(capsys, monkeypatch, "user", "unlock", "--address", "192.0.2.1", *cfg)[:2] == (
            0,
            "login lock of address 192.0.2.1 lifted\n",
        )
        assert run(capsys, monkeypatch, "user", "unlock", "ADMIN", *cfg)[:2] == (
            0,
            "login lock of ADMIN lifted\n",
        )
        assert run(capsys, monkeypatch, "user", "list", *cfg)[1] == "admin\tadmin\tadmin\tactive\n"
        with Session(engine) as session:
            assert login_throttle.locks(session, now) == []
    finally:
        engine.dispose()


def test_user_add_navigator_needs_an_existing_navigator(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config_path: Path
) -> None:
    cfg = ("--config", str(config_path))
    code, _, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "alice",
        "--role",
        "navigator",
        "--navigator",
        "nav-a",
        "--password-stdin",
        *cfg,
        stdin=PASSWORD,
    )
    assert code == 2 and "no navigator 'nav-a'" in err
    assert main(["navigator", "add", "nav-a", "--endpoint", "PJSIP/nav-a", *cfg]) == 0
    code, out, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "alice",
        "--role",
        "navigator",
        "--navigator",
        "nav-a",
        "--password-stdin",
        *cfg,
        stdin=PASSWORD,
    )
    assert (code, err) == (0, "") and "navigator nav-a" in out
    code, _, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "bob",
        "--role",
        "manager",
        "--navigator",
        "nav-a",
        "--password-stdin",
        *cfg,
        stdin=PASSWORD,
    )
    assert code == 2 and "--role navigator only" in err


def test_user_add_without_a_terminal_asks_for_password_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config_path: Path
) -> None:
    code, _, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "x",
        "--role",
        "admin",
        "--config",
        str(config_path),
        stdin="",
    )
    assert code == 2 and "--password-stdin" in err


def test_heartbeat_thread_writes_and_stops(config_path: Path) -> None:
    engine = make_engine(f"sqlite:///{config_path.parent / 'line.db'}")
    try:
        beat = Heartbeat(engine, "fastagi", interval_s=3600)
        beat.start()
        beat.stop()
        with Session(engine) as session:
            row = heartbeats.get_heartbeat(session, "fastagi")
            assert row is not None and row.pid == os.getpid()
            first = row.heartbeat_at
        beat.beat_once()
        with Session(engine) as session:
            row = heartbeats.get_heartbeat(session, "fastagi")
            assert row is not None and row.heartbeat_at >= first
    finally:
        engine.dispose()


def _wait_for(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    out, _ = proc.communicate()
    pytest.fail(f"{what} did not happen; output:\n{out.decode(errors='replace')}")


def _get(url: str) -> tuple[int, dict[str, str], str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            return response.status, headers, response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None


def _port(config_path: Path, section: str) -> int:
    import tomllib

    port: int = tomllib.loads(config_path.read_text())[section]["port"]
    return port


@pytest.fixture
def process(config_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ivr211.cli", *argv, "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_dashboard_command_serves_with_waitress_and_stops_on_sigterm(
    config_path: Path, process: Callable[..., subprocess.Popen[bytes]]
) -> None:
    proc = process("dashboard")
    url = f"http://127.0.0.1:{_port(config_path, 'dashboard')}/login"
    _wait_for(lambda: _get(url) is not None, "the dashboard answering", proc)
    answer = _get(url)
    assert answer is not None
    status, headers, body = answer
    assert status == 200 and "Connexion" in body
    assert headers["server"] == "ivr211"
    assert "Secure" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
    assert "Traceback" not in (_get(url.replace("/login", "/nowhere")) or (0, {}, ""))[2]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode(errors="replace")
    assert (config_path.parent / "secret").stat().st_mode & 0o077 == 0


def test_serve_runs_the_dashboard_and_the_fastagi_heartbeat(
    config_path: Path, process: Callable[..., subprocess.Popen[bytes]]
) -> None:
    proc = process("serve", "--no-listener")
    url = f"http://127.0.0.1:{_port(config_path, 'dashboard')}/login"
    _wait_for(lambda: _get(url) is not None, "the supervised dashboard answering", proc)
    engine = make_engine(f"sqlite:///{config_path.parent / 'line.db'}")
    try:

        def heartbeat() -> datetime | None:
            with Session(engine) as session:
                row = heartbeats.get_heartbeat(session, "fastagi")
                return row.heartbeat_at if row else None

        _wait_for(lambda: heartbeat() is not None, "the FastAGI heartbeat", proc)
    finally:
        engine.dispose()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode(errors="replace")
    assert _get(url) is None  # the dashboard child stopped with it
