"""The figures of the report pages: counts per destination, trends by month and hour,
per navigator, outcomes of the attempts and answer times. Each is one aggregate query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from store import models as m
from store.reports.basis import (
    ATTEMPT_OUTCOMES,
    UNANSWERED_OUTCOMES,
    Period,
    R,
    avec_count,
    destination_labels,
    destination_order,
    destinations,
    in_period,
    is_bascule,
    is_done,
    sans_count,
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


def counts(session: Session, period: Period) -> list[CountRow]:
    """Per destination: transfers done, referrals, and transfer attempts."""
    directory = destinations(session)
    query = (
        select(
            R.destination,
            func.sum(avec_count),
            func.sum(sans_count),
            func.sum(case((is_bascule, 1), else_=0)),
        )
        .where(in_period(period))
        .group_by(R.destination)
    )
    rows = []
    for key, avec, sans, attempts in session.execute(query):
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


def monthly(session: Session, period: Period) -> list[BucketCount]:
    """Every month of the period, zeros included. The database groups by day (at most
    366 rows a year); the days fold into months here, portably."""
    query = (
        select(R.local_date, func.sum(avec_count), func.sum(sans_count))
        .where(in_period(period), is_done)
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
        select(R.local_hour, func.sum(avec_count), func.sum(sans_count))
        .where(in_period(period), is_done)
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
            func.sum(avec_count).label("avec"),
            func.sum(sans_count).label("sans"),
            func.sum(case((is_bascule, 1), else_=0)).label("attempts"),
        )
        .where(in_period(period))
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
        .where(in_period(period), is_bascule)
        .group_by(R.destination, R.outcome)
    )
    found: dict[str | None, dict[str, int]] = {}
    for key, outcome, n in session.execute(query):
        found.setdefault(key, dict.fromkeys(ATTEMPT_OUTCOMES, 0))[outcome] = int(n)
    rows = [
        OutcomeRow(key, *destination_labels(key, directory), outcomes=o) for key, o in found.items()
    ]
    rows.sort(key=lambda r: destination_order(r.destination, directory))
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
            in_period(period),
            is_bascule,
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
        AnswerTime(
            key, *destination_labels(key, directory), int(count), float(p50), float(p90), float(top)
        )
        for key, count, p50, p90, top in session.execute(query)
    ]
    rows.sort(key=lambda r: destination_order(r.destination, directory))
    return rows
