"""The systemd units in deploy/: each is valid for systemd, runs a real ivr211 command,
restarts, runs as its own user under ProtectSystem=strict and names what it writes."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
INSTALLED = "/opt/ivr211/venv/bin/ivr211"
SERVICES = sorted(DEPLOY.glob("*.service"))
UNITS = sorted([*SERVICES, *DEPLOY.glob("*.timer")])
IVR211 = Path(sys.executable).with_name("ivr211")

#: The one command of each service (docs/operations.md describes each).
COMMANDS = {
    "ivr211-agi.service": ["serve", "--no-listener", "--no-dashboard"],
    "ivr211-listener.service": ["listen"],
    "ivr211-dashboard.service": ["dashboard"],
    "ivr211-retention.service": ["retention", "run"],
}


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_every_service_is_listed() -> None:
    assert sorted(path.name for path in SERVICES) == sorted(COMMANDS)


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_service_runs_its_command_as_its_user_and_restarts(path: Path) -> None:
    service = _unit(path)["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == INSTALLED and argv[1:] == COMMANDS[path.name]
    assert service.get("Restart") in ("always", "on-failure")
    assert service.get("User", "root") not in ("root", "asterisk", "")
    assert service.get("ProtectSystem") == "strict"
    assert service.get("NoNewPrivileges") == "yes"
    writes = service.get("StateDirectory") is not None
    assert (service.get("ReadWritePaths") is not None) == writes, "names what it writes"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_service_command_is_one_the_cli_knows(path: Path) -> None:
    argv = [str(IVR211), *COMMANDS[path.name], "--help"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_timer_starts_the_retention_run() -> None:
    timer = _unit(DEPLOY / "ivr211-retention.timer")["Timer"]
    assert timer.get("OnCalendar") and timer.get("Persistent") == "true"
    assert (DEPLOY / "ivr211-retention.service").exists()


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package systemd, "
    "tools/install-system-deps.sh installs it)",
)
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point it at this checkout's ivr211.
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace(INSTALLED, str(IVR211))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    # An unknown key or a bad value is only a warning: any output is a failure.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
