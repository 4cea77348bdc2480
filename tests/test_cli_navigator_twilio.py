"""``ivr211 navigator twilio``: where the Twilio back end calls a navigator, checked and
listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr211.cli import main


@pytest.fixture
def ready(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "ivr211.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n', encoding="utf-8")
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    capsys.readouterr()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_navigators_twilio_address(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ("--config", str(ready))
    assert (
        run(capsys, "navigator", "add", "alice", "--endpoint", "PJSIP/nav-alice", *config)[0] == 0
    )
    code, out, _ = run(capsys, "navigator", "twilio", "alice", "+14185550101", *config)
    assert (code, out.strip()) == (0, "navigator alice: Twilio calls +14185550101")
    code, out, _ = run(capsys, "navigator", "list", *config)
    assert out.splitlines() == ["alice\tPJSIP/nav-alice\tPJSIP/nav-alice\tTwilio +14185550101"]
    code, _, err = run(capsys, "navigator", "twilio", "alice", "418 555-0101", *config)
    assert code == 2
    assert "neither a phone number in E.164" in err
    code, _, err = run(capsys, "navigator", "twilio", "bob", "sip:bob@example.org", *config)
    assert (code, "no navigator 'bob'" in err) == (2, True)
    code, out, _ = run(capsys, "navigator", "twilio", "alice", "--clear", *config)
    assert (code, out.strip()) == (0, "navigator alice: Twilio calls nowhere (no call on Twilio)")
    assert run(capsys, "navigator", "list", *config)[1].splitlines() == [
        "alice\tPJSIP/nav-alice\tPJSIP/nav-alice"
    ]
