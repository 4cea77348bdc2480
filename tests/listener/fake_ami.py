"""The fake Asterisk AMI server of the listener's tests: ``ivr211.demo.fake_pbx`` (the
demonstration runs the same one), with :func:`raw` reading the test fixtures
(``tests/fixtures/ami``, copies of the lab's ``transcripts/raw``)."""

from __future__ import annotations

from pathlib import Path

from ivr211.demo.fake_pbx import (
    BANNER,
    EOM,
    TRANSCRIPT_2R,
    FakeAmi,
    Recorded,
    blocks,
    parse_block,
    recorded_2r,
    recorded_actions,
    recorded_reply,
    with_action_id,
)
from ivr211.demo.fake_pbx import raw as _raw
from listener.transcripts import Chunk

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"

__all__ = [
    "BANNER",
    "EOM",
    "FIXTURES",
    "TRANSCRIPT_2R",
    "FakeAmi",
    "Recorded",
    "blocks",
    "parse_block",
    "raw",
    "recorded_2r",
    "recorded_actions",
    "recorded_reply",
    "with_action_id",
]


def raw(name: str) -> list[Chunk]:
    """The chunks of ``tests/fixtures/ami/<name>.raw``."""
    return _raw(name, FIXTURES)
