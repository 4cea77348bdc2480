"""`ivr211 reconcile` against a real database (SQLite and PostgreSQL).

The CEL file is the recorded scenarios one after the other, as Master.csv holds calls
one after another (their eventtimes increase from 2a1 to 2f2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from ivr211.cli import main
from listener.cel import facts_from_rows, read_rows
from listener.reconcile import (
    ReconcileError,
    ReconcileReport,
    noanswer_timeout_from_features,
    reconcile,
)
from store import models as m
from store.db import make_engine, session_factory, upgrade
from store.facts import Source
from store.linesettings import SettingsStore, seed_if_empty
from store.transfers import existing_keys, record_facts

from .test_cel import EXPECTED, FIXTURES, LAB_NOANSWER_TIMEOUT_S, resolve

SCENARIOS = sorted(EXPECTED)
ALL_KEYS = {key for rows in EXPECTED.values() for key, *_ in rows}
SEED = Path(__file__).resolve().parents[2] / "store" / "defaults" / "line-settings.toml"


def master_csv(path: Path, scenarios: list[str] = SCENARIOS, *, header: bool = True) -> Path:
    """The scenarios' rows in one file, with the fixtures' header line first (or none)."""
    out: list[str] = []
    for number, scenario in enumerate(scenarios):
        lines = (FIXTURES / f"{scenario}.cel.csv").read_text(encoding="utf-8").splitlines(True)
        out.extend(lines if number == 0 and header else lines[1:])
    path.write_text("".join(out), encoding="utf-8")
    return path


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def stored(sessions: sessionmaker[Session]) -> dict[str, m.TransferRecord]:
    with sessions() as session:
        return {r.key: r for r in session.scalars(select(m.TransferRecord))}


def run_reconcile(
    path: Path, sessions: sessionmaker[Session], since: datetime | None = None
) -> ReconcileReport:
    return reconcile(
        path, sessions, resolve, since, tz=UTC, noanswer_timeout_s=LAB_NOANSWER_TIMEOUT_S
    )


def test_inserts_exactly_the_missing_facts_and_a_second_run_nothing(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = master_csv(tmp_path / "Master.csv")
    with (FIXTURES / "2a1-attended-transfer-ami.cel.csv").open() as fh:
        (live,) = facts_from_rows(read_rows(fh, UTC), resolve, noanswer_timeout_s=6)
    heard = [dataclasses.replace(live, source=Source.AMI)]
    with sessions() as session, session.begin():
        assert record_facts(session, heard) == 1

    first = run_reconcile(path, sessions)
    assert (first.facts, first.inserted, first.already) == (len(ALL_KEYS), len(ALL_KEYS) - 1, 1)
    assert (first.bad_lines, first.partial_last_line) == (0, False)
    records = stored(sessions)
    assert set(records) == ALL_KEYS
    assert records["atxfer:1795878444.42"].source == Source.AMI.value
    assert {r.source for k, r in records.items() if k != "atxfer:1795878444.42"} == {"cel"}
    outcomes = {k: (r.kind, r.outcome, r.destination) for k, r in records.items()}
    expected = {
        key: (kind.value, outcome.value, dest)
        for rows in EXPECTED.values()
        for key, kind, outcome, dest, *_ in rows
    }
    assert outcomes == expected

    second = run_reconcile(path, sessions)
    assert (second.facts, second.inserted) == (len(ALL_KEYS), 0)
    assert set(stored(sessions)) == ALL_KEYS


def test_a_half_written_last_line_is_left_for_the_next_run(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    blind = (FIXTURES / "2c1-blind-transfer-ami.cel.csv").read_text(encoding="utf-8")
    busy = (FIXTURES / "2b2-attended-transfer-busy.cel.csv").read_text(encoding="utf-8")
    busy_lines = busy.splitlines(keepends=True)[1:]
    half = len(busy_lines[-1]) // 2
    path = tmp_path / "Master.csv"
    path.write_text(blind + "".join(busy_lines[:-1]) + busy_lines[-1][:half], encoding="utf-8")

    report = run_reconcile(path, sessions)
    assert report.partial_last_line is True
    assert report.bad_lines == 0
    assert report.rows == blind.count("\n") - 1 + len(busy_lines) - 1
    assert set(stored(sessions)) == {
        "blind:c1-78443-caller:db7dff5f-3770-461d-848e-f308e021a5b2",
        "atxfer:1795878487.64",
    }

    with path.open("a", encoding="utf-8") as fh:
        fh.write(busy_lines[-1][half:])
    again = run_reconcile(path, sessions)
    assert (again.partial_last_line, again.bad_lines, again.inserted) == (False, 0, 0)
    assert again.rows == report.rows + 1


def test_a_quoted_cel_custom_file_without_header(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = tmp_path / "Master.csv"
    path.write_bytes((FIXTURES / "2i-2a1-cel-custom-master.csv").read_bytes())
    report = run_reconcile(path, sessions)
    assert (report.rows, report.facts, report.inserted) == (69, 1, 1)
    assert set(stored(sessions)) == {"atxfer:1795878444.42"}


def test_since_keeps_later_facts_and_enters_the_file_past_its_start(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = master_csv(tmp_path / "Master.csv")
    assert path.stat().st_size > 2 * 64 * 1024
    since = datetime(2026, 11, 28, 15, 9, 0, tzinfo=UTC)
    report = reconcile(
        path,
        sessions,
        resolve,
        since,
        tz=UTC,
        noanswer_timeout_s=LAB_NOANSWER_TIMEOUT_S,
        lookback=since - since,
    )
    assert report.start_offset > 0
    recorded_later = {  # 2026-12-04: 2k, 2l1, 2l2, 2n, 2q
        key
        for scenario, rows in EXPECTED.items()
        if scenario.startswith(("2k-", "2l1-", "2l2-", "2n-", "2q-"))
        for key, *_ in rows
    }
    assert len(recorded_later) == 5
    assert set(stored(sessions)) == {
        "blind:c3-78443-caller:b906d8f4-cc33-471a-835e-9603baa253e8",
        "atxfer:1795878576.118",
        "atxfer:1795878664.142",
        *recorded_later,
    }


def test_errors_are_reconcile_errors(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ReconcileError, match="cannot read"):
        run_reconcile(tmp_path / "missing.csv", sessions)
    with pytest.raises(ReconcileError, match="no time zone"):
        run_reconcile(master_csv(tmp_path / "x.csv"), sessions, datetime(2026, 1, 1))


def test_noanswer_timeout_is_read_from_features_conf(tmp_path: Path) -> None:
    conf = tmp_path / "features.conf"
    conf.write_text(
        "[general]\ntransferdigittimeout => 3\natxfernoanswertimeout => 6\n"
        "[featuremap]\natxfer => *2\n",
        encoding="utf-8",
    )
    assert noanswer_timeout_from_features(conf) == 6.0
    ours = Path(__file__).resolve().parents[2] / "asterisk_conf" / "features.conf"
    assert noanswer_timeout_from_features(ours) == 30.0
    assert noanswer_timeout_from_features(tmp_path / "none.conf") is None


def test_the_command_records_the_file_and_says_so(
    tmp_path: Path,
    db_url: str,
    engine: Engine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SettingsStore(engine).change() as session:
        seed_if_empty(session, SEED)
    path = master_csv(
        tmp_path / "Master.csv", ["2a1-attended-transfer-ami", "2c3-blind-transfer-dtmf"]
    )
    argv = [
        "reconcile",
        "--cel",
        str(path),
        "--tz",
        "UTC",
        "--transfer-context",
        "emergency-services",
        "--features",
        str(tmp_path / "absent.conf"),
        "--since",
        "2026-11-28T10:00:00",
    ]
    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    monkeypatch.setenv("IVR211_DATABASE__URL", db_url)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 transfer facts, 2 recorded now, 0 already recorded" in out
    with session_factory(engine)() as session:
        assert existing_keys(session, ALL_KEYS) == {
            "atxfer:1795878444.42",
            "blind:c3-78443-caller:b906d8f4-cc33-471a-835e-9603baa253e8",
        }
        destinations = set(session.scalars(select(m.TransferRecord.destination)))
    assert destinations == {"911", "811"}

    assert main([*argv, "--tz", "Mars/Olympus"]) == 2
    assert "unknown time zone" in capsys.readouterr().err


def test_a_line_cut_by_a_crash_costs_only_a_few_rows(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    # Derived from 2c1: the first BRIDGE_ENTER row is cut inside its quoted extra, as
    # if Asterisk died while writing it and appended the next rows after restart.
    lines = (FIXTURES / "2c1-blind-transfer-ami.cel.csv").read_text().splitlines(True)
    at = next(i for i, line in enumerate(lines) if line.startswith("BRIDGE_ENTER"))
    lines[at] = lines[at][: lines[at].index('"{') + 2]
    assert lines[at].count('"') % 2 == 1
    path = tmp_path / "Master.csv"
    path.write_text("".join(lines), encoding="utf-8")
    report = run_reconcile(path, sessions)
    assert report.bad_lines == 1
    # the cut row, its successor on the same physical line, and at most two more
    assert report.rows >= len(lines) - 1 - 4
    assert set(stored(sessions)) == {"blind:c1-78443-caller:db7dff5f-3770-461d-848e-f308e021a5b2"}
