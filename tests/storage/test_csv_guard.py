"""Every CSV the project writes neutralises a cell a spreadsheet would run as a formula,
and nothing writes CSV without ``store.csvfile``."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard.audit import csv_rows
from store import csvfile
from store import reports as r
from store.facts import Kind, Outcome, Source, TransferFact
from store.linesettings import SettingsStore
from store.reports.figures import CountRow, OutcomeRow
from store.transfers import record_facts
from store.voicemail import AuditEntry

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ivr", "store", "agi_scripts", "listener", "research", "dashboard", "ivr211", "bench")

#: One hostile text per character a spreadsheet starts a formula with.
HOSTILE = ("=HYPERLINK(1)", "+1+cmd", "-2+3", "@SUM(1)", "\t=1", "\r=1")


def _cells(text: str, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=delimiter))


@pytest.mark.parametrize("value", HOSTILE)
def test_safe_cell_prefixes_an_apostrophe(value: str) -> None:
    assert csvfile.safe_cell(value) == "'" + value
    assert csvfile.safe_cell("Centre de crise") == "Centre de crise"
    assert csvfile.safe_cell(-2) == -2


@pytest.mark.parametrize("value", HOSTILE)
def test_counts_csv(value: str) -> None:
    row = CountRow("crise", value, "Crisis", "partner", 1, 2, 3)
    (_, cells) = _cells(r.counts_csv([row]), ";")
    assert cells[1] == "'" + value


@pytest.mark.parametrize("value", HOSTILE)
def test_outcomes_csv(value: str) -> None:
    row = OutcomeRow(value, "Crise", "Crisis", {"completed": 1})
    (_, cells) = _cells(r.outcomes_csv([row], r.EXCEL_EN), ",")
    assert cells[0] == "'" + value


@pytest.mark.parametrize("value", HOSTILE)
def test_audit_csv(value: str) -> None:
    entry = AuditEntry(
        at=datetime(2026, 11, 25, tzinfo=UTC),
        user=value,
        role="admin",
        action="list",
        object="voice_messages",
        detail=value,
    )
    (_, cells) = _cells(csv_rows([entry]), ",")
    assert cells[1] == cells[5] == "'" + value


def test_records_csv(store: SettingsStore, migrated_engine: Engine) -> None:
    at = datetime(2026, 6, 15, 14, 30, tzinfo=UTC)
    facts = [
        TransferFact(
            key=f"guard:{n}",
            kind=Kind.ATTENDED,
            outcome=Outcome.COMPLETED,
            started_at=at + timedelta(minutes=n),
            ended_at=at + timedelta(minutes=n, seconds=30),
            linkedid=f"1764351234.{n}",
            navigator_channel="PJSIP/unknown-00000001",
            destination="911",
            target_exten="911",
            target_context="transfer",
            answer_delay_s=1.0,
            caller_uniqueid=f"1764351234.{n}",
            caller_number="4185550123",
            language="fr",
            path=value,
            source=Source.AMI,
        )
        for n, value in enumerate(HOSTILE)
    ]
    with Session(migrated_engine) as session:
        assert record_facts(session, facts) == len(HOSTILE)
        session.commit()
        text = "".join(r.records_csv(session, r.Period.fiscal(2026)))
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert sorted(row["parcours"] for row in rows) == sorted("'" + value for value in HOSTILE)


def test_no_csv_is_written_except_through_store_csvfile() -> None:
    writing = re.compile(r"\bcsv\s*\.\s*(writer|DictWriter)\b|\bfrom\s+csv\s+import\b[^\n]*Writer")
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "store" / "csvfile.py" and writing.search(path.read_text("utf-8"))
    ]
    assert offenders == []
