"""The managers' reports: aggregates of the transfer records, never the records' personal data.

Every figure is aggregated in the database (GROUP BY on the plain ``local_date``,
``local_hour`` and ``fiscal_year`` columns the writer fills in the line's time zone),
so a year of a million records comes back as a few dozen rows.

What counts (DOMAIN.md, "Warm transfer" and "The annual report"):

* "avec bascule" is a transfer *done*: kind attended, blind or three-way with outcome
  ``completed``. An abandoned, busy, unanswered or failed attempt is not a transfer and
  is not counted there, nor is one where the caller hung up during the consultation
  (``caller_hung_up``): the outcomes table shows every attempt, one column per outcome.
* An answer delay counts only when the service itself answered: a consultation
  answered by our own "transfer failed" prompt has none (``listener.outcome``), and a
  busy or unanswered attempt never counts, even if an older record carries a delay.
* "sans bascule" is a referral without transfer (kind ``referral``, outcome
  ``completed``, which is how the console records one).
* Each destination counts in its ``report_group`` (destinations table): 988 with the
  suicide-prevention line unless the centre gives it a group of its own, 811 once.
  Destinations of kind ``partner`` are reported apart, as direct transfers per programme.

Numbers are formatted for fr_CA by Babel (CLDR): the thousands separator is a no-break
space (U+00A0 for fr_CA; U+202F is France's).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from store import models as m
from store.linesettings import line_zone
from store.transfers import FISCAL_YEAR_START_MONTH, fiscal_year

R = m.TransferRecord

BASCULE_KINDS: tuple[str, ...] = ("attended", "blind", "threeway")
REFERRAL_KIND = "referral"
COMPLETED = "completed"
ATTEMPT_OUTCOMES: tuple[str, ...] = m.TRANSFER_OUTCOMES
#: Outcomes that say the service never answered, whatever delay a record carries.
UNANSWERED_OUTCOMES: tuple[str, ...] = ("busy", "not_answered")

#: The annual report's lines, in DOMAIN.md's order, with their printed labels. A group
#: not listed here (say "988" once a centre separates it) is printed after these, with
#: the French label of its destination. Pass another mapping to change the layout.
DEFAULT_REPORT_GROUPS: Mapping[str, str] = {
    "911": "911",
    "crise": "Centre de crise",
    "cps": "Centre de prévention du suicide",
    "811": "811",
    "sosvc": "SOS violence conjugale",
}

ANNUAL_AVEC = "Services d'urgence (avec bascule)*"
ANNUAL_SANS = "Services d'urgence (sans bascule)*"
ANNUAL_FOOTNOTE = (
    "*La « bascule » téléphonique désigne le transfert d'un appel vers un service\n"
    "d'urgence (par exemple, le 911), effectué par les navigateurs ou navigatrices pour\n"
    "assurer une prise en charge rapide et efficace."
)
PARTNERS_TITLE = "Programmes partenaires (transferts directs)"
UNKNOWN_DESTINATION_FR = "Hors répertoire"
UNKNOWN_DESTINATION_EN = "Not in the directory"
REPORT_LOCALE = "fr_CA"


class ReportError(Exception):
    """A report cannot be produced as asked."""


class PeriodError(ReportError, ValueError):
    """The period asked for is not a valid one; the message says why, for the form."""


# ---- periods ---------------------------------------------------------------------------

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


def _in_period(period: Period) -> ColumnElement[bool]:
    """Always the ``local_date`` range; a whole fiscal year adds ``fiscal_year = ?`` so the
    planner may also take the index that leads with it."""
    dates = and_(R.local_date >= period.start, R.local_date <= period.end)
    year = period.fiscal_year
    return dates if year is None else and_(R.fiscal_year == year, dates)


_is_bascule = R.kind.in_(BASCULE_KINDS)
_done = R.outcome == COMPLETED
_avec = case((and_(_is_bascule, _done), 1), else_=0)
_sans = case((and_(R.kind == REFERRAL_KIND, _done), 1), else_=0)


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


def _labels(key: str | None, directory: Mapping[str, DestinationInfo]) -> tuple[str, str]:
    if key is None:
        return UNKNOWN_DESTINATION_FR, UNKNOWN_DESTINATION_EN
    info = directory.get(key)
    return (info.label_fr, info.label_en) if info else (key, key)


def _order(key: str | None, directory: Mapping[str, DestinationInfo]) -> tuple[int, int, str]:
    info = directory.get(key) if key is not None else None
    if info is not None:
        return (0, info.sort_order, info.key)
    return (1, 0, key or "")


# ---- counts by destination x kind ------------------------------------------------------


@dataclass(frozen=True)
class CountRow:
    destination: str | None
    label_fr: str
    label_en: str
    kind: str  # "emergency" / "partner" / "unknown"
    avec: int  # transfers done
    sans: int  # referrals without transfer
    attempts: int  # every transfer attempt, whatever its outcome

    @property
    def total(self) -> int:
        return self.avec + self.sans


def counts(session: Session, period: Period) -> list[CountRow]:
    """Per destination: transfers done, referrals, and transfer attempts."""
    directory = destinations(session)
    query = (
        select(
            R.destination,
            func.sum(_avec),
            func.sum(_sans),
            func.sum(case((_is_bascule, 1), else_=0)),
        )
        .where(_in_period(period))
        .group_by(R.destination)
    )
    rows = []
    for key, avec, sans, attempts in session.execute(query):
        label_fr, label_en = _labels(key, directory)
        info = directory.get(key) if key is not None else None
        rows.append(
            CountRow(
                destination=key,
                label_fr=label_fr,
                label_en=label_en,
                kind=info.kind if info else "unknown",
                avec=int(avec or 0),
                sans=int(sans or 0),
                attempts=int(attempts or 0),
            )
        )
    rows.sort(key=lambda r: _order(r.destination, directory))
    return rows


# ---- the annual report section ---------------------------------------------------------


@dataclass(frozen=True)
class AnnualLine:
    group: str
    label: str
    count: int


@dataclass(frozen=True)
class AnnualSection:
    period: Period
    avec: tuple[AnnualLine, ...]
    sans: tuple[AnnualLine, ...]
    partners: tuple[AnnualLine, ...]

    @property
    def total_avec(self) -> int:
        return sum(line.count for line in self.avec)

    @property
    def total_sans(self) -> int:
        return sum(line.count for line in self.sans)

    @property
    def total_partners(self) -> int:
        return sum(line.count for line in self.partners)


def format_count(value: int) -> str:
    """1234 -> "1 234" with fr_CA's no-break space, as Babel formats it."""
    return format_decimal(value, locale=REPORT_LOCALE)


def _group_lines(
    totals: Mapping[str, int],
    directory: Mapping[str, DestinationInfo],
    kind: str,
    layout: Mapping[str, str],
) -> tuple[AnnualLine, ...]:
    members: dict[str, list[DestinationInfo]] = {}
    for info in directory.values():
        if info.kind == kind:
            members.setdefault(info.report_group, []).append(info)

    def label(group: str) -> str:
        if group in layout:
            return layout[group]
        own = directory.get(group)
        if own is not None and own.report_group == group:
            return own.label_fr
        return min(members[group], key=lambda i: (i.sort_order, i.key)).label_fr

    def position(group: str) -> tuple[int, int, str]:
        if group in layout:
            return (0, list(layout).index(group), group)
        return (1, min(i.sort_order for i in members[group]), group)

    groups = sorted((g for g in members if totals.get(g, 0) > 0), key=position)
    return tuple(AnnualLine(g, label(g), totals[g]) for g in groups)


def annual_section(
    session: Session, period: Period, *, layout: Mapping[str, str] = DEFAULT_REPORT_GROUPS
) -> AnnualSection:
    """The figures of the annual report's "SERVICE D'URGENCE" section and of the partners."""
    directory = destinations(session)
    avec: dict[str, int] = {}
    sans: dict[str, int] = {}
    for row in counts(session, period):
        info = directory.get(row.destination) if row.destination is not None else None
        if info is None:
            continue
        avec[info.report_group] = avec.get(info.report_group, 0) + row.avec
        sans[info.report_group] = sans.get(info.report_group, 0) + row.sans
    return AnnualSection(
        period=period,
        avec=_group_lines(avec, directory, "emergency", layout),
        sans=_group_lines(sans, directory, "emergency", layout),
        partners=_group_lines(avec, directory, "partner", {}),
    )


def _block(title: str, total: int, lines: Sequence[AnnualLine]) -> list[str]:
    return [f"{title} : {format_count(total)}"] + [
        f"  {format_count(line.count)} {line.label}" for line in lines
    ]


def annual_text(section: AnnualSection) -> str:
    """The section exactly as DOMAIN.md lays it out, ready to paste (ends with a newline)."""
    lines = [
        *_block(ANNUAL_AVEC, section.total_avec, section.avec),
        *_block(ANNUAL_SANS, section.total_sans, section.sans),
        ANNUAL_FOOTNOTE,
    ]
    return "\n".join(lines) + "\n"


def partners_text(section: AnnualSection) -> str:
    """The partner programmes, apart: direct transfers per programme."""
    return "\n".join(_block(PARTNERS_TITLE, section.total_partners, section.partners)) + "\n"


# ---- trends ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketCount:
    """Transfers done and referrals in one month (``key`` = (year, month)) or hour."""

    key: Any
    avec: int
    sans: int


def monthly(session: Session, period: Period) -> list[BucketCount]:
    """Every month of the period, zeros included. The database groups by day (at most
    366 rows a year); the days fold into months here, portably."""
    query = (
        select(R.local_date, func.sum(_avec), func.sum(_sans))
        .where(_in_period(period), _done)
        .group_by(R.local_date)
    )
    totals = {month: [0, 0] for month in period.months()}
    for day, avec, sans in session.execute(query):
        bucket = totals.get((day.year, day.month))
        if bucket is not None:
            bucket[0] += int(avec or 0)
            bucket[1] += int(sans or 0)
    return [BucketCount(month, a, s) for month, (a, s) in totals.items()]


def by_hour(session: Session, period: Period) -> list[BucketCount]:
    """Hours 0-23 of the line's local time, zeros included."""
    query = (
        select(R.local_hour, func.sum(_avec), func.sum(_sans))
        .where(_in_period(period), _done)
        .group_by(R.local_hour)
    )
    found = {hour: (int(a or 0), int(s or 0)) for hour, a, s in session.execute(query)}
    return [BucketCount(hour, *found.get(hour, (0, 0))) for hour in range(24)]


# ---- per navigator ---------------------------------------------------------------------


@dataclass(frozen=True)
class NavigatorCount:
    navigator_id: int | None
    username: str | None  # None: no navigator account matched the phone
    display_name: str
    avec: int
    sans: int
    attempts: int


def by_navigator(session: Session, period: Period) -> list[NavigatorCount]:
    # Grouped on an expression, not the bare column: on the bare column SQLite walks the
    # whole (navigator_id, local_date) index, every year, to skip a sort of six rows.
    navigator = func.coalesce(R.navigator_id, 0)
    counted = (
        select(
            navigator.label("navigator_id"),
            func.sum(_avec).label("avec"),
            func.sum(_sans).label("sans"),
            func.sum(case((_is_bascule, 1), else_=0)).label("attempts"),
        )
        .where(_in_period(period))
        .group_by(navigator)
        .subquery()
    )
    query = select(
        counted.c.navigator_id,
        m.Navigator.username,
        m.Navigator.display_name,
        counted.c.avec,
        counted.c.sans,
        counted.c.attempts,
    ).outerjoin(m.Navigator, m.Navigator.id == counted.c.navigator_id)
    rows = [
        NavigatorCount(
            navigator_id=nav_id or None,
            username=username,
            display_name=display or "",
            avec=int(avec or 0),
            sans=int(sans or 0),
            attempts=int(attempts or 0),
        )
        for nav_id, username, display, avec, sans, attempts in session.execute(query)
    ]
    rows.sort(key=lambda r: (r.username is None, (r.display_name or "").casefold()))
    return rows


# ---- outcomes and answer times ---------------------------------------------------------


@dataclass(frozen=True)
class OutcomeRow:
    """Transfer attempts (attended, blind, three-way) to one destination, by outcome."""

    destination: str | None
    label_fr: str
    label_en: str
    outcomes: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


def outcomes(session: Session, period: Period) -> list[OutcomeRow]:
    directory = destinations(session)
    query = (
        select(R.destination, R.outcome, func.count())
        .where(_in_period(period), _is_bascule)
        .group_by(R.destination, R.outcome)
    )
    found: dict[str | None, dict[str, int]] = {}
    for key, outcome, n in session.execute(query):
        found.setdefault(key, dict.fromkeys(ATTEMPT_OUTCOMES, 0))[outcome] = int(n)
    rows = [OutcomeRow(key, *_labels(key, directory), outcomes=o) for key, o in found.items()]
    rows.sort(key=lambda r: _order(r.destination, directory))
    return rows


@dataclass(frozen=True)
class AnswerTime:
    """How long a destination took to answer the consultation call, in seconds.

    Percentiles are nearest-rank (the value at rank ceil(p * n)), computed by the
    database with window functions, the same way on SQLite and PostgreSQL.
    """

    destination: str | None
    label_fr: str
    label_en: str
    count: int
    median_s: float
    p90_s: float
    max_s: float


def answer_times(session: Session, period: Period) -> list[AnswerTime]:
    delay = R.answer_delay_s
    ranked = (
        select(
            R.destination.label("destination"),
            delay.label("delay"),
            func.row_number().over(partition_by=R.destination, order_by=delay).label("rank"),
            func.count().over(partition_by=R.destination).label("n"),
        )
        .where(
            _in_period(period),
            _is_bascule,
            delay.is_not(None),
            R.outcome.not_in(UNANSWERED_OUTCOMES),
        )
        .subquery()
    )
    n = ranked.c.n

    def at_rank(percent: int) -> Any:
        return func.max(case((ranked.c.rank == (n * percent + 99) // 100, ranked.c.delay)))

    query = select(
        ranked.c.destination, func.max(n), at_rank(50), at_rank(90), func.max(ranked.c.delay)
    ).group_by(ranked.c.destination)
    directory = destinations(session)
    rows = [
        AnswerTime(key, *_labels(key, directory), int(count), float(p50), float(p90), float(top))
        for key, count, p50, p90, top in session.execute(query)
    ]
    rows.sort(key=lambda r: _order(r.destination, directory))
    return rows


# ---- CSV exports -----------------------------------------------------------------------


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


def _writer(out: io.StringIO, fmt: CsvFormat) -> Any:
    return csv.writer(out, delimiter=fmt.separator, lineterminator="\r\n")


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
        .where(_in_period(period))
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
