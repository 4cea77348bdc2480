"""The installed wheel is whole: a package, a migration or the seed left out of
pyproject.toml installs silently and breaks only on a centre's machine.

The wheel is built from this checkout and installed, without its dependencies, into a
fresh virtual environment; the dependencies come from the test environment's
site-packages on PYTHONPATH (where .pth files are not read, so the editable install of
this checkout is not on the path). Every command runs outside the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(base)],
        capture_output=True,
        text=True,
        check=False,
        cwd=base,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = base.glob("ivr211-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    unpacked = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, str(wheel)],
        capture_output=True,
        text=True,
        check=False,
        cwd=base,
    )
    assert unpacked.returncode == 0, unpacked.stderr
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(base),
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
    }
    return python, env


def run(installed: tuple[Path, dict[str, str]], cwd: Path, *argv: str) -> str:
    python, env = installed
    result = subprocess.run(
        [str(python), *argv], capture_output=True, text=True, check=False, cwd=cwd, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_installed_packages_come_from_the_wheel(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    code = (
        "import importlib, sys\n"
        "for name in ('ivr', 'store', 'research', 'agi_scripts', 'listener', 'dashboard',"
        " 'twilio_line', 'ivr211'):\n"
        "    print(name, importlib.import_module(name).__file__)\n"
    )
    out = run(installed, tmp_path, "-c", code)
    python, _ = installed
    for line in out.splitlines():
        name, path = line.split(" ", 1)
        assert str(python.parents[1]) in path, f"{name} imported from {path}"
        assert str(ROOT) not in path


def test_help_and_db_upgrade_run_from_the_installed_wheel(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    assert "usage: ivr211" in run(installed, tmp_path, "-m", "ivr211.cli", "--help")
    config = tmp_path / "ivr211.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n', encoding="utf-8")
    run(installed, tmp_path, "-m", "ivr211.cli", "db", "upgrade", "--config", str(config))
    status = run(installed, tmp_path, "-m", "ivr211.cli", "line", "status", "--config", str(config))
    # The packaged seed was read: the destinations it lists are in the status.
    assert "911" in status
    assert os.path.getsize(tmp_path / "line.db") > 0


def test_the_demonstrations_recordings_are_in_the_wheel(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    code = (
        "from ivr211.demo.fake_pbx import FakeAmi, TRANSCRIPTS\n"
        "from ivr211.demo.live import SCENES, scene_events\n"
        "FakeAmi()  # reads its replies from the recordings\n"
        "print(TRANSCRIPTS, sum(len(scene_events(name)) for name in SCENES))\n"
    )
    out = run(installed, tmp_path, "-c", code)
    python, _ = installed
    folder, events = out.split()
    assert str(python.parents[1]) in folder
    assert int(events) > 100
