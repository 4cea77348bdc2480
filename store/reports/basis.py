"""What every report figure stands on: the period (local dates of the line), what counts
as a transfer done ("avec bascule"), a referral ("sans bascule") and an attempt, and the
destination directory that names and orders the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from store import models as m
from store.linesettings import line_zone
from store.transfer_rollups import BASCULE_KINDS as BASCULE_KINDS
from store.transfer_rollups import COMPLETED as COMPLETED
from store.transfer_rollups import REFERRAL_KIND as REFERRAL_KIND
from store.transfer_rollups import UNANSWERED_OUTCOMES as UNANSWERED_OUTCOMES
from store.transfers import FISCAL_YEAR_START_MONTH, fiscal_year

R = m.TransferRecord

ATTEMPT_OUTCOMES: tuple[str, ...] = m.TRANSFER_OUTCOMES


UNKNOWN_DESTINATION_FR = "Hors répertoire"
UNKNOWN_DESTINATION_EN = "Not in the directory"


class ReportError(Exception):
    """A report cannot be produced as asked."""


class PeriodError(ReportError, ValueError):
    """The period asked for is not a valid one; the message says why, for the form."""


MAX_PERIOD_DAYS = 366 * 20


@dataclass(frozen=True)
class Period:
    """Local dates of the line, both ends included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodError(
                f"la fin ({self.end.isoformat()}) précède le début ({self.start.isoformat()})"
            )
        if (self.end - self.start).days > MAX_PERIOD_DAYS:
            raise PeriodError("la période dépasse vingt ans")

    @classmethod
    def fiscal(cls, year: int) -> Period:
        """Fiscal year ``year``: April 1 of ``year`` to March 31 of the next."""
        return cls(date(year, FISCAL_YEAR_START_MONTH, 1), date(year + 1, 3, 31))

    @classmethod
    def parse(cls, start: str, end: str) -> Period:
        """From the form's ISO dates ("2026-04-01"), with a message a manager understands."""
        return cls(_parse_date("début", start), _parse_date("fin", end))

    @property
    def fiscal_year(self) -> int | None:
        """The fiscal year this period is exactly, or None."""
        year = fiscal_year(self.start)
        return year if self == Period.fiscal(year) else None

    def months(self) -> list[tuple[int, int]]:
        """Every (year, month) the period touches, in order."""
        out: list[tuple[int, int]] = []
        year, month = self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            out.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def label(self) -> str:
        span = f"du {self.start.isoformat()} au {self.end.isoformat()}"
        year = self.fiscal_year
        if year is not None:
            return f"Exercice {year}-{year + 1} ({span})"
        return span


def _parse_date(name: str, value: str) -> date:
    text = value.strip()
    if not text:
        raise PeriodError(f"la date de {name} est requise (AAAA-MM-JJ)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"date de {name} invalide : {text!r} (attendu AAAA-MM-JJ)") from None


def current_fiscal_year(today: date) -> Period:
    return Period.fiscal(fiscal_year(today))


def fiscal_years(session: Session, today: date) -> list[int]:
    """The fiscal years a manager can pick: from the first recorded one to the current
    one, newest first (``MIN`` on the index that leads with ``fiscal_year``)."""
    current = fiscal_year(today)
    first = session.scalar(select(func.min(R.fiscal_year)))
    start = min(int(first), current) if first is not None else current
    return list(range(current, start - 1, -1))


def today_on_line(session: Session, now: datetime | None = None) -> date:
    """Today's date in the line's time zone (the dates records are grouped by)."""
    moment = now or datetime.now(UTC)
    return moment.astimezone(line_zone(session)).date()


def in_period(period: Period) -> ColumnElement[bool]:
    """Always the ``local_date`` range; a whole fiscal year adds ``fiscal_year = ?`` so the
    planner may also take the index that leads with it."""
    dates = and_(R.local_date >= period.start, R.local_date <= period.end)
    year = period.fiscal_year
    return dates if year is None else and_(R.fiscal_year == year, dates)


# ---- the destination directory ---------------------------------------------------------


@dataclass(frozen=True)
class DestinationInfo:
    key: str
    label_fr: str
    label_en: str
    kind: str  # "emergency" / "partner"
    report_group: str
    sort_order: int


def destinations(session: Session) -> dict[str, DestinationInfo]:
    """Every destination of the directory, active or not (old records still name them)."""
    rows = session.scalars(
        select(m.Destination).order_by(m.Destination.sort_order, m.Destination.key)
    )
    return {
        d.key: DestinationInfo(d.key, d.label_fr, d.label_en, d.kind, d.report_group, d.sort_order)
        for d in rows
    }


def destination_labels(
    key: str | None, directory: Mapping[str, DestinationInfo]
) -> tuple[str, str]:
    if key is None:
        return UNKNOWN_DESTINATION_FR, UNKNOWN_DESTINATION_EN
    info = directory.get(key)
    return (info.label_fr, info.label_en) if info else (key, key)


def destination_order(
    key: str | None, directory: Mapping[str, DestinationInfo]
) -> tuple[int, int, str]:
    info = directory.get(key) if key is not None else None
    if info is not None:
        return (0, info.sort_order, info.key)
    return (1, 0, key or "")
