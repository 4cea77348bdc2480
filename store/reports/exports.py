"""CSV exports of the report pages and of the period's records, for a spreadsheet to
open without an import wizard. Never the caller's number. Written by ``store.csvfile``
(no cell runs as a formula)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import csvfile
from store import models as m
from store.linesettings import line_zone
from store.reports.basis import ATTEMPT_OUTCOMES, Period, R, in_period
from store.reports.figures import CountRow, OutcomeRow


@dataclass(frozen=True)
class CsvFormat:
    """What a spreadsheet opens without an import wizard.

    Excel opens a double-clicked .csv with the Windows list separator and decimal
    symbol of the user's regional settings: French (Canada) uses ";" and ",", English
    (Canada) "," and ".". The UTF-8 byte order mark makes Excel read the file as UTF-8
    (without it, "Santé" comes out as "SantÃ©"). A "sep=;" first line would also pick
    the separator, but Excel then ignores the BOM, so it is not used. Dates are ISO
    8601, which Excel reads in every locale.
    """

    separator: str
    decimal: str


EXCEL_FR = CsvFormat(separator=";", decimal=",")
EXCEL_EN = CsvFormat(separator=",", decimal=".")
BOM = "\ufeff"

COUNT_COLUMNS: tuple[str, ...] = (
    "destination",
    "libelle",
    "type",
    "avec_bascule",
    "sans_bascule",
    "tentatives_de_bascule",
)

#: The outcomes export: one column per outcome (``ATTEMPT_OUTCOMES``, same order).
OUTCOME_COLUMN_NAMES: Mapping[str, str] = {
    "completed": "completee",
    "abandoned": "abandonnee",
    "busy": "occupe",
    "not_answered": "sans_reponse",
    "failed": "echouee",
    "caller_hung_up": "appelant_a_raccroche",
}
OUTCOME_COLUMNS: tuple[str, ...] = (
    "destination",
    "libelle",
    *(OUTCOME_COLUMN_NAMES[outcome] for outcome in ATTEMPT_OUTCOMES),
    "total",
)

#: The columns of the records export. ``caller_number`` is never among them (personal
#: information, DOMAIN.md), nor the caller's channel id.
RECORD_COLUMNS: tuple[str, ...] = (
    "id",
    "date_locale",
    "heure_locale",
    "debut_local",
    "fin_locale",
    "exercice",
    "type",
    "resultat",
    "destination",
    "navigateur",
    "delai_reponse_s",
    "langue",
    "parcours",
    "interprete",
    "source",
    "linkedid",
)

_EXPORTED = (
    R.id,
    R.local_date,
    R.local_hour,
    R.started_at,
    R.ended_at,
    R.fiscal_year,
    R.kind,
    R.outcome,
    R.destination,
    m.Navigator.username,
    R.answer_delay_s,
    R.language,
    R.path,
    R.interpreter,
    R.source,
    R.linkedid,
)


def _writer(out: io.StringIO, fmt: CsvFormat) -> csvfile.SafeWriter:
    return csvfile.writer(out, delimiter=fmt.separator)


def _number(value: float | None, fmt: CsvFormat) -> str:
    return "" if value is None else f"{value:.3f}".replace(".", fmt.decimal)


def counts_csv(rows: Iterable[CountRow], fmt: CsvFormat = EXCEL_FR) -> str:
    out = io.StringIO()
    out.write(BOM)
    writer = _writer(out, fmt)
    writer.writerow(COUNT_COLUMNS)
    for row in rows:
        writer.writerow(
            [row.destination or "", row.label_fr, row.kind, row.avec, row.sans, row.attempts]
        )
    return out.getvalue()


def outcomes_csv(rows: Iterable[OutcomeRow], fmt: CsvFormat = EXCEL_FR) -> str:
    """Transfer attempts per destination and outcome (the outcomes page's table)."""
    out = io.StringIO()
    out.write(BOM)
    writer = _writer(out, fmt)
    writer.writerow(OUTCOME_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.destination or "",
                row.label_fr,
                *(row.outcomes.get(outcome, 0) for outcome in ATTEMPT_OUTCOMES),
                row.total,
            ]
        )
    return out.getvalue()


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    return value.astimezone(zone).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def records_csv(
    session: Session, period: Period, fmt: CsvFormat = EXCEL_FR, *, batch: int = 2000
) -> Iterator[str]:
    """The period's records, oldest first, in chunks of text to stream to the browser."""
    zone = line_zone(session)
    query = (
        select(*_EXPORTED)
        .outerjoin(m.Navigator, m.Navigator.id == R.navigator_id)
        .where(in_period(period))
        .order_by(R.local_date, R.started_at, R.id)
        .execution_options(yield_per=batch)
    )
    out = io.StringIO()
    out.write(BOM)
    writer = _writer(out, fmt)
    writer.writerow(RECORD_COLUMNS)
    for count, row in enumerate(session.execute(query), start=1):
        r: Any = row
        writer.writerow(
            [
                r.id,
                r.local_date.isoformat(),
                r.local_hour,
                _local(r.started_at, zone),
                _local(r.ended_at, zone),
                r.fiscal_year,
                r.kind,
                r.outcome,
                r.destination or "",
                r.username or "",
                _number(r.answer_delay_s, fmt),
                r.language or "",
                r.path or "",
                "oui" if r.interpreter else "non",
                r.source,
                r.linkedid,
            ]
        )
        if count % batch == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
