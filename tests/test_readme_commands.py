"""The README's dashboard commands work as written: each ``.venv/bin/ivr211`` line of the
"The dashboard" section runs, in order, on a fresh database (the password asked twice at
a terminal, or read from the file a ``< file`` redirection names), and the environment
variable the section names turns plain HTTP on."""

from __future__ import annotations

import getpass
import io
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr211.cli import main
from ivr211.config import load_config
from store import accounts, login_throttle
from store.db import make_engine
from store.navigators import navigator_by_username

README = Path(__file__).resolve().parents[1] / "README.md"
PASSWORD = "un mot de passe assez long"
PROGRAM = ".venv/bin/ivr211"
NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)


def dashboard_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### The dashboard")
    return text[start : text.index("\n## ", start)]


def readme_commands() -> list[list[str]]:
    """Every ``.venv/bin/ivr211 ...`` line of the section's shell blocks, split as the
    shell would, comments left out."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", dashboard_section(), flags=re.DOTALL):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == PROGRAM:
                commands.append(words[1:])
    return commands


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_readme_names_the_navigator_first_and_password_stdin() -> None:
    commands = readme_commands()
    firsts = [" ".join(c[:2]) for c in commands]
    assert firsts.index("navigator add") < max(
        i for i, c in enumerate(commands) if "--navigator" in c
    )
    assert any("--password-stdin" in c for c in commands)


def test_the_readme_dashboard_commands_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "ivr211.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n', encoding="utf-8")
    monkeypatch.setenv("IVR211_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0
    asked: list[str] = []

    def ask(prompt: str = "") -> str:
        asked.append(prompt)
        return PASSWORD

    monkeypatch.setattr(getpass, "getpass", ask)
    ran = []
    for words in readme_commands():
        stdin: io.StringIO = Terminal("")
        if "<" in words:
            at = words.index("<")
            source = tmp_path / words[at + 1]
            source.write_text(PASSWORD + "\n", encoding="utf-8")
            stdin = io.StringIO(source.read_text(encoding="utf-8"))
            words = words[:at] + words[at + 2 :]
        monkeypatch.setattr(sys, "stdin", stdin)
        code = main(words)
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), (words, out)
        ran.append(words[:3])
    assert ran == [
        ["user", "add", "admin"],
        ["navigator", "add", "alice"],
        ["user", "add", "alice"],
        ["user", "add", "bob"],
        ["user", "add", "carole"],
        ["user", "roles", "bob"],
    ]
    assert len(asked) == 6  # twice for admin, alice and carole; bob's from the file
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    try:
        with Session(engine) as session, session.begin():
            nav = navigator_by_username(session, "alice")
            alice = accounts.user_by_username(session, "alice")
            assert nav is not None and alice is not None
            assert alice.navigator_id == nav.id and nav.phone_endpoint == "PJSIP/nav-alice"
            for name, roles in (("carole", {"manager", "admin"}), ("bob", {"manager", "admin"})):
                user = accounts.user_by_username(session, name)
                assert user is not None and user.roles == roles
            for name in ("admin", "alice", "bob", "carole"):
                login = login_throttle.authenticate(session, name, PASSWORD, "127.0.0.1", NOW)
                assert login.user is not None and login.user.username == name
    finally:
        engine.dispose()


def test_the_environment_variable_the_readme_names_allows_plain_http() -> None:
    (name,) = set(re.findall(r"`(IVR211_DASHBOARD__ALLOW_PLAIN_HTTP)=true`", dashboard_section()))
    assert load_config(None, {}).dashboard.allow_plain_http is False
    assert load_config(None, {name: "true"}).dashboard.allow_plain_http is True
