"""The link to Asterisk drops, and still every transfer is recorded once (both databases).

The listener hears a scenario's AMI stream up to a cut, loses the next messages (the
link is down), resets its interpreter on reconnect and hears the rest; every fact it
concludes goes through ``record_facts``. Then ``ivr211 reconcile`` reads the call's
CEL rows: the database must hold exactly the agreed records (test_replay.EXPECTED),
none twice, none missing, none with another kind or outcome; a second reconcile adds
nothing. Cut points and gap lengths come from ``random.Random`` with a fixed seed per
scenario, so every run checks the same cuts.

The CEL file is written as the PBX's Master.csv is: cel_custom quotes every column
and writes no header line (``asterisk_conf/cel_custom.conf``; the lab's
``2i-2a1-cel-custom-master.csv``); the fixtures' header line is dropped.
"""

from __future__ import annotations

import csv
import random
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from listener.reconcile import ReconcileReport, reconcile
from store import models as m
from store.db import session_factory
from store.facts import TransferFact
from store.transfers import record_facts

from .test_cel import FIXTURES as CEL_FIXTURES
from .test_cel import LAB_NOANSWER_TIMEOUT_S
from .test_replay import BASE, EXPECTED, TRANSFER_CONTEXT, new_interpreter, resolve, stream

TRANSFERS = [
    "2a1-attended-transfer-ami",
    "2a2-attended-transfer-dtmf",
    "2b1-attended-transfer-noanswer",
    "2b2-attended-transfer-busy",
    "2b3-attended-transfer-cancel",
    "2b4-attended-transfer-target-hangs-up",
    "2b5-attended-transfer-dtmf-abort",
    "2c1-blind-transfer-ami",
    "2c3-blind-transfer-dtmf",
    "2d2-threeway-atxfer-dtmf",
    "2f2-queue-then-warm-transfer",
]
CUTS_PER_SCENARIO = 3
GAP = (5, 200)  # messages lost while the link is down
DAY_GAP = (100, 600)  # in a day of calls the link may stay down through a few of them
WITH_CEL = sorted(p.name.removesuffix(".cel.csv") for p in CEL_FIXTURES.glob("2*.cel.csv"))

Record = tuple[str, str, str | None]  # kind, outcome, destination
Events = list[tuple[datetime, dict[str, str]]]


def seed_of(name: str) -> int:
    """A fixed seed per scenario (``hash()`` of a str changes from run to run)."""
    return zlib.crc32(name.encode())


def cel_custom_lines(scenario: str) -> list[str]:
    """The scenario's CEL rows as cel_custom writes them: every column quoted, no header."""
    with (CEL_FIXTURES / f"{scenario}.cel.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "eventtype"  # the fixtures' header line
    out: list[str] = []
    for row in rows[1:]:
        line = ",".join('"' + field.replace('"', '""') + '"' for field in row)
        out.append(line + "\n")
    return out


def master_csv(path: Path, scenarios: Iterable[str]) -> Path:
    path.write_text(
        "".join(line for scenario in scenarios for line in cel_custom_lines(scenario)),
        encoding="utf-8",
    )
    return path


def expected_records(scenarios: Iterable[str]) -> dict[str, Record]:
    return {
        e.key: (e.kind.value, e.outcome.value, e.destination)
        for scenario in scenarios
        for e in EXPECTED[scenario]
    }


def listen(events: Events, cut: int, gap: int) -> list[TransferFact]:
    """What the listener concludes when the link drops after ``cut`` messages and the
    next ``gap`` are lost."""
    interpreter = new_interpreter()
    facts: list[TransferFact] = []
    for received_at, message in events[:cut]:
        facts.extend(interpreter.feed(message, received_at))
    facts.extend(interpreter.reset())
    for received_at, message in events[cut + gap :]:
        facts.extend(interpreter.feed(message, received_at))
    return facts


def write(sessions: sessionmaker[Session], facts: list[TransferFact]) -> int:
    with sessions() as session, session.begin():
        return record_facts(session, facts)


def stored(sessions: sessionmaker[Session]) -> dict[str, Record]:
    with sessions() as session:
        rows = list(session.scalars(select(m.TransferRecord)))
    records = {r.key: (r.kind, r.outcome, r.destination) for r in rows}
    assert len(records) == len(rows)
    return records


def run_reconcile(path: Path, sessions: sessionmaker[Session]) -> ReconcileReport:
    return reconcile(
        path,
        sessions,
        resolve,
        None,
        tz=UTC,  # the lab's Asterisk wrote eventtime in UTC
        noanswer_timeout_s=LAB_NOANSWER_TIMEOUT_S,
        transfer_contexts={TRANSFER_CONTEXT},
    )


@pytest.fixture
def sessions(migrated_engine: Engine) -> sessionmaker[Session]:
    return session_factory(migrated_engine)


def forget_everything(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        session.execute(delete(m.TransferRecord))


def test_master_csv_is_what_cel_custom_writes() -> None:
    """The lab kept one Master.csv exactly as cel_custom wrote it (the 2a1 call)."""
    written = "".join(cel_custom_lines("2a1-attended-transfer-ami"))
    assert written == (CEL_FIXTURES / "2i-2a1-cel-custom-master.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize("scenario", TRANSFERS)
def test_a_gap_in_the_stream_is_made_up_by_reconcile(
    scenario: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    events = stream(scenario)
    master = master_csv(tmp_path / "Master.csv", [scenario])
    expected = expected_records([scenario])
    assert expected
    rng = random.Random(seed_of(scenario))
    for _ in range(CUTS_PER_SCENARIO):
        cut = rng.randrange(len(events))
        gap = min(rng.randint(*GAP), len(events) - cut)
        where = f"{scenario}: cut after {cut} of {len(events)} messages, {gap} lost"
        forget_everything(sessions)
        heard = listen(events, cut, gap)
        write(sessions, heard)

        first = run_reconcile(master, sessions)
        assert stored(sessions) == expected, where
        assert first.inserted == len(expected.keys() - {f.key for f in heard}), where
        second = run_reconcile(master, sessions)
        assert (second.facts, second.inserted) == (len(expected), 0), where
        assert stored(sessions) == expected, where


def test_a_scenario_heard_twice_is_recorded_once(sessions: sessionmaker[Session]) -> None:
    """The same stream delivered twice (a replayed spool, a duplicated feed)."""
    for scenario in EXPECTED:
        interpreter = new_interpreter()
        events = stream(scenario)
        for delivery in (1, 2):
            facts = [f for at, message in events for f in interpreter.feed(message, at)]
            assert [f.key for f in facts] == [e.key for e in EXPECTED[scenario]]
            new = write(sessions, facts)
            assert new == (len(facts) if delivery == 1 else 0), scenario
    assert stored(sessions) == expected_records(EXPECTED)


def test_a_gap_in_a_day_of_calls_is_made_up_by_reconcile(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Every recorded stream one after the other, the link down in the middle; then
    every CEL file in one Master.csv."""
    day: Events = []
    at = BASE
    for scenario in EXPECTED:
        events = stream(scenario)
        offset = at - BASE
        day.extend((received_at + offset, message) for received_at, message in events)
        at = day[-1][0] + timedelta(seconds=1)
    rng = random.Random(seed_of("day"))
    cut = rng.randrange(len(day) // 3, 2 * len(day) // 3)
    gap = rng.randint(*DAY_GAP)
    heard = listen(day, cut, gap)
    write(sessions, heard)
    expected = expected_records(EXPECTED)
    missed = expected.keys() - {f.key for f in heard}
    assert missed, "the gap must cost the listener a transfer for this test to mean anything"

    master = master_csv(tmp_path / "Master.csv", WITH_CEL)
    first = run_reconcile(master, sessions)
    assert stored(sessions) == expected
    assert first.inserted == len(missed)
    assert (first.bad_lines, first.partial_last_line) == (0, False)
    second = run_reconcile(master, sessions)
    assert (second.facts, second.inserted) == (len(expected), 0)
    assert stored(sessions) == expected


def test_the_reconcile_command_counts_only_the_configured_transfer_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ivr211 reconcile` passes the transfer context on, as the listener does: an
    abandoned consultation dialed into another context is no bascule of ours."""
    from ivr211.cli import main

    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    config = tmp_path / "ivr211.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n', encoding="utf-8")
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    cel = master_csv(tmp_path / "Master.csv", ["2b1-attended-transfer-noanswer"])
    common = ["--config", str(config), "--cel", str(cel), "--noanswer-timeout", "6"]
    capsys.readouterr()
    assert main(["reconcile", *common, "--transfer-context", "partners"]) == 0
    assert "0 transfer facts" in capsys.readouterr().out
    assert main(["reconcile", *common, "--transfer-context", TRANSFER_CONTEXT]) == 0
    assert "1 transfer facts, 1 recorded now" in capsys.readouterr().out
