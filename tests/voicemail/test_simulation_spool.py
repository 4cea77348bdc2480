"""``ivr211 simulate --leave-message`` leaves its message in the project's data folder
unless a real spool is configured: it never creates ``/var/spool/asterisk/...``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ivr211.cli.simulation import LOCAL_SPOOL, _spool_writer, simulation_spool
from ivr211.config import VoicemailConfig, load_config

ASTERISK_SPOOL = VoicemailConfig.model_fields["spool_dir"].default


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("IVR211_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_without_asterisk_the_message_goes_under_var(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if ASTERISK_SPOOL.exists():
        pytest.skip(f"{ASTERISK_SPOOL} exists here: it is a real spool")
    config = load_config(None, environ={})
    assert simulation_spool(config) == LOCAL_SPOOL

    _spool_writer(config)({"IVR_LANG": "en"}, "4185550123")

    inbox = tmp_path / "var" / "spool" / "voicemail" / "recherche" / "1000" / "INBOX"
    assert sorted(p.name for p in inbox.iterdir()) == ["msg0000.txt", "msg0000.wav"]
    assert "callerid=4185550123" in (inbox / "msg0000.txt").read_text(encoding="utf-8")
    assert not ASTERISK_SPOOL.exists()
    out = capsys.readouterr().out
    assert "message left: var/spool/voicemail/recherche/1000/INBOX/msg0000.txt" in out
    assert f"no Asterisk spool at {ASTERISK_SPOOL}" in out


def test_the_sample_configuration_without_asterisk_also_uses_var(tmp_path: Path) -> None:
    if ASTERISK_SPOOL.exists():
        pytest.skip(f"{ASTERISK_SPOOL} exists here: it is a real spool")
    sample = Path(__file__).resolve().parents[2] / "config" / "ivr211.sample.toml"
    config = load_config(sample, environ={})
    assert config.voicemail.spool_dir == ASTERISK_SPOOL  # named explicitly in the sample
    assert simulation_spool(config) == LOCAL_SPOOL


def test_a_spool_that_exists_or_is_chosen_is_used(tmp_path: Path) -> None:
    existing = tmp_path / "asterisk-spool"
    existing.mkdir()
    config = load_config(None, environ={"IVR211_VOICEMAIL__SPOOL_DIR": str(existing)})
    assert simulation_spool(config) == existing

    chosen = tmp_path / "not-yet"
    config = load_config(None, environ={"IVR211_VOICEMAIL__SPOOL_DIR": str(chosen)})
    assert simulation_spool(config) == chosen
    _spool_writer(config)({}, "4185550123")
    assert (chosen / "recherche" / "1000" / "INBOX" / "msg0000.txt").is_file()
    assert not (tmp_path / "var").exists()
