"""The figures of the report pages: counts per destination, trends by month and hour,
per navigator, outcomes of the attempts and answer times. Each is one aggregate query
over the transfer roll-ups (``store.transfer_rollups``), or with ``raw=True`` over the
same rows computed from the records (the benchmark's baseline, and the tests' check)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from store import models as m
from store import transfer_rollups as tr
from store.reports.basis import (
    ATTEMPT_OUTCOMES,
    BASCULE_KINDS,
    COMPLETED,
    REFERRAL_KIND,
    Period,
    destination_labels,
    destination_order,
    destinations,
    in_period,
)


def _source(session: Session, model: type[m.Base], period: Period, raw: bool) -> Any:
    """The roll-up ``model``'s rows of the period, or with ``raw`` the same rows computed
    from the records: a subquery with the roll-up's columns either way."""
    if raw:
        dialect = session.get_bind().dialect.name
        return tr.aggregate(model, in_period(period), dialect).subquery()
    table: Any = model.__table__
    day = table.c.local_date
    return select(table).where(day >= period.start, day <= period.end).subquery()


def _destination(value: str) -> str | None:
    return None if value == tr.NO_DESTINATION else value


def _records(condition: ColumnElement[bool], src: Any) -> Any:
    """The records of the day roll-up ``src`` meeting ``condition``, summed."""
    return func.sum(case((condition, src.c.records), else_=0))


def _day_counts(src: Any) -> tuple[Any, Any, Any]:
    """Transfers done, referrals and transfer attempts, over the day roll-up ``src``."""
    bascule = src.c.kind.in_(BASCULE_KINDS)
    done = src.c.outcome == COMPLETED
    return (
        _records(and_(bascule, done), src),
        _records(and_(src.c.kind == REFERRAL_KIND, done), src),
        _records(bascule, src),
    )


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


def counts(session: Session, period: Period, *, raw: bool = False) -> list[CountRow]:
    """Per destination: transfers done, referrals, and transfer attempts."""
    directory = destinations(session)
    src = _source(session, tr.TransferDayRollup, period, raw)
    query = select(src.c.destination, *_day_counts(src)).group_by(src.c.destination)
    rows = []
    for stored, avec, sans, attempts in session.execute(query):
        key = _destination(stored)
        label_fr, label_en = destination_labels(key, directory)
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
    rows.sort(key=lambda r: destination_order(r.destination, directory))
    return rows


# ---- trends ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketCount:
    """Transfers done and referrals in one month (``key`` = (year, month)) or hour."""

    key: Any
    avec: int
    sans: int


def monthly(session: Session, period: Period, *, raw: bool = False) -> list[BucketCount]:
    """Every month of the period, zeros included. The database groups by day (at most
    366 rows a year); the days fold into months here, portably."""
    src = _source(session, tr.TransferDayRollup, period, raw)
    avec, sans, _ = _day_counts(src)
    query = (
        select(src.c.local_date, avec, sans)
        .where(src.c.outcome == COMPLETED)
        .group_by(src.c.local_date)
    )
    totals = {month: [0, 0] for month in period.months()}
    for day, avec, sans in session.execute(query):
        bucket = totals.get((day.year, day.month))
        if bucket is not None:
            bucket[0] += int(avec or 0)
            bucket[1] += int(sans or 0)
    return [BucketCount(month, a, s) for month, (a, s) in totals.items()]


def by_hour(session: Session, period: Period, *, raw: bool = False) -> list[BucketCount]:
    """Hours 0-23 of the line's local time, zeros included."""
    src = _source(session, tr.TransferHourRollup, period, raw)
    query = select(src.c.local_hour, func.sum(src.c.transfers), func.sum(src.c.referrals)).group_by(
        src.c.local_hour
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


def by_navigator(session: Session, period: Period, *, raw: bool = False) -> list[NavigatorCount]:
    src = _source(session, tr.TransferNavigatorRollup, period, raw)
    counted = (
        select(
            src.c.navigator_key.label("navigator_id"),
            func.sum(src.c.transfers).label("avec"),
            func.sum(src.c.referrals).label("sans"),
            func.sum(src.c.attempts).label("attempts"),
        )
        .group_by(src.c.navigator_key)
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


def outcomes(session: Session, period: Period, *, raw: bool = False) -> list[OutcomeRow]:
    directory = destinations(session)
    src = _source(session, tr.TransferDayRollup, period, raw)
    query = (
        select(src.c.destination, src.c.outcome, func.sum(src.c.records))
        .where(src.c.kind.in_(BASCULE_KINDS))
        .group_by(src.c.destination, src.c.outcome)
    )
    found: dict[str | None, dict[str, int]] = {}
    for stored, outcome, n in session.execute(query):
        key = _destination(stored)
        found.setdefault(key, dict.fromkeys(ATTEMPT_OUTCOMES, 0))[outcome] = int(n)
    rows = [
        OutcomeRow(key, *destination_labels(key, directory), outcomes=o) for key, o in found.items()
    ]
    rows.sort(key=lambda r: destination_order(r.destination, directory))
    return rows


@dataclass(frozen=True)
class AnswerTime:
    """How long a destination took to answer the consultation call, in whole seconds
    (each delay rounded to the nearest second, a half up, as the pages show them).

    Percentiles are nearest-rank (the value at rank ceil(p * n)), computed by the
    database with window functions over the delays' counts, the same way on SQLite and
    PostgreSQL.
    """

    destination: str | None
    label_fr: str
    label_en: str
    count: int
    median_s: float
    p90_s: float
    max_s: float


def answer_times(session: Session, period: Period, *, raw: bool = False) -> list[AnswerTime]:
    src = _source(session, tr.TransferDelayRollup, period, raw)
    delays = (
        select(
            src.c.destination.label("destination"),
            src.c.seconds.label("delay"),
            func.sum(src.c.records).label("n"),
        )
        .group_by(src.c.destination, src.c.seconds)
        .subquery()
    )
    ranked = select(
        delays.c.destination,
        delays.c.delay,
        # How many answers took this long or less, and how many there were.
        func.sum(delays.c.n)
        .over(partition_by=delays.c.destination, order_by=delays.c.delay)
        .label("upto"),
        func.sum(delays.c.n).over(partition_by=delays.c.destination).label("total"),
    ).subquery()
    total = ranked.c.total

    def at_rank(percent: int) -> Any:
        # Nearest rank: the smallest delay with at least ceil(total * percent / 100)
        # answers at or under it, i.e. upto * 100 >= total * percent (no division).
        return func.min(case((ranked.c.upto * 100 >= total * percent, ranked.c.delay)))

    query = select(
        ranked.c.destination, func.max(total), at_rank(50), at_rank(90), func.max(ranked.c.delay)
    ).group_by(ranked.c.destination)
    directory = destinations(session)
    rows = []
    for stored, count, p50, p90, top in session.execute(query):
        key = _destination(stored)
        rows.append(
            AnswerTime(
                key,
                *destination_labels(key, directory),
                int(count),
                float(p50),
                float(p90),
                float(top),
            )
        )
    rows.sort(key=lambda r: destination_order(r.destination, directory))
    return rows
