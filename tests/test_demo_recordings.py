"""The demonstration answers from copies of the recordings the tests replay: the copies
stay byte for byte what the tests' fixtures hold (a fixture corrected or re-recorded is
copied to both, or this fails)."""

from __future__ import annotations

from pathlib import Path

from ivr211.demo.fake_pbx import TRANSCRIPTS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ami"


def test_the_demos_recordings_are_the_test_fixtures() -> None:
    copies = sorted(TRANSCRIPTS.glob("*.raw"))
    assert copies
    fixtures = {p.name: p for p in FIXTURES.rglob("*.raw")}
    differing = [
        p.name
        for p in copies
        if p.name not in fixtures or fixtures[p.name].read_bytes() != p.read_bytes()
    ]
    assert differing == []
