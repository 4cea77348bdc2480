"""``ivr211 twilio fallback``: the static TwiML of the number's fallback URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr211.cli import main
from ivr211.config import Config
from tests.twilio_line.helpers import says, verbs


def write_config(tmp_path: Path, twilio: str) -> Path:
    path = tmp_path / "ivr211.toml"
    path.write_text(f"[twilio]\n{twilio}", encoding="utf-8")
    return path


def test_the_fallback_rings_the_navigators_then_gives_the_emergency_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    config = write_config(
        tmp_path, 'fallback_numbers = ["+14185550101", "+14185550102"]\nfallback_ring_s = 25\n'
    )
    assert main(["twilio", "fallback", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    doc = verbs(out)
    assert [v.tag for v in doc] == ["Say", "Say", "Dial", "Say", "Say", "Hangup"]
    assert [n.text for n in doc[2]] == ["+14185550101", "+14185550102"]
    assert doc[2].get("timeout") == "25"
    spoken = says(out)
    assert spoken[0] == (
        "fr-CA",
        "Ici le 2-1-1. En cas de danger, raccrochez et composez le 9-1-1.",
    )
    assert spoken[1] == ("en-US", "This is 2-1-1. If you are in danger, hang up and dial 9-1-1.")
    assert spoken[2][0] == "fr-CA" and spoken[2][1].startswith(
        "En cas d'urgence, composez le 9-1-1."
    )
    assert spoken[3][0] == "en-US" and spoken[3][1].startswith("In an emergency, dial 9-1-1.")
    assert "http" not in out.replace("http://www.w3.org", "")  # nothing on the web process
    # Each language is spoken by a voice that speaks it (the [twilio] defaults).
    assert [v.get("voice") for v in doc if v.tag == "Say"] == [
        "Polly.Gabrielle-Neural",
        "Polly.Joanna-Neural",
    ] * 2


def test_without_phones_it_warns_and_written_to_a_new_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    config = write_config(tmp_path, "")
    target = tmp_path / "fallback.xml"
    assert main(["twilio", "fallback", "--config", str(config), "--output", str(target)]) == 0
    captured = capsys.readouterr()
    assert "rings nobody" in captured.err
    assert [v.tag for v in verbs(target.read_text(encoding="utf-8"))] == [
        "Say",
        "Say",
        "Say",
        "Say",
        "Hangup",
    ]
    assert main(["twilio", "fallback", "--config", str(config), "--output", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_fallback_numbers_must_be_e164() -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        Config.model_validate({"twilio": {"fallback_numbers": ["418 555-0101"]}})
    assert Config.model_validate(
        {"twilio": {"fallback_numbers": "+14185550101, +14185550102"}}
    ).twilio.fallback_numbers == ("+14185550101", "+14185550102")
