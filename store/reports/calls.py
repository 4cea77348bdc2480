"""The call reports: what happened to every caller, from the daily roll-ups
(``store.rollups``), or with ``raw=True`` from the same sums taken over the call records
themselves (the benchmark and the tests compare both).

What counts (said the same way on the report pages):

* received: every call record of the period (arrival in the line's local dates);
* closed: the line was closed when the call arrived (after hours, holiday, exceptional
  closure, closed by override); what those callers chose is their route and destination;
* offered: sent to the queue; blocked: the queue refused them at once (``full`` at its
  maximum length, ``joinempty`` with no navigator logged in). Calls blocked before the
  PBX (busy trunks) are the carrier's figure: the line never sees them;
* entered: waited in the queue (answered, abandoned, timeout, closing, leaveempty);
* short abandons: abandoned after waiting less than ``short_abandon_s`` whole seconds,
  counted apart and left out of the abandon rate and the service level;
* service level at T seconds: answered within T s over entered calls less short abandons;
* waits are of answered calls, in whole seconds rounded up (Asterisk counts whole
  seconds); percentiles are nearest-rank; the longest wait is of any caller who waited;
* handle time: talk time (``talk_s`` of answered calls) plus after-call work (the
  navigators' ``after_call_work`` intervals of the period);
* navigator time: logged-in intervals, of which paused ones; occupancy is handle time
  over logged-in time less paused time.

A call is dated by its arrival; navigator activity by the local hour each part of an
interval falls in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, union_all
from sqlalchemy.orm import Session

from store import models as m
from store import rollups as ru
from store.calls import CallRecord, NavigatorActivity
from store.linesettings import line_zone
from store.reports.basis import Period, ReportError
from store.reports.figures import by_navigator
from store.transfer_rollups import TransferNavigatorRollup

#: Calls per language, the annual report's LANGUES block: labels in its order.
LANGUAGE_LABELS_FR: Mapping[str, str] = {
    "fr": "Français",
    "en": "Anglais",
    "interpreter": "Autres",
}
LANGUES_TITLE = "LANGUES"
LANGUES_FOOTNOTE = (
    "*Part des appels répondus par les navigateurs ou navigatrices, selon la langue\n"
    "choisie par l'appelant au menu ; « Autres » : appels servis avec un interprète."
)


@dataclass(frozen=True)
class Thresholds:
    """The figures a centre may set (``[reports]``): whole seconds, so the roll-ups'
    whole-second waits give them exactly."""

    short_abandon_s: int = 5
    service_levels_s: tuple[int, ...] = (30, 60)
    #: Staffing: the share of calls to answer within ``service_levels_s[0]``.
    service_level_target: float = 0.8

    def __post_init__(self) -> None:
        if self.short_abandon_s < 0:
            raise ReportError("short_abandon_s must be 0 or more")
        if not self.service_levels_s or any(t < 0 for t in self.service_levels_s):
            raise ReportError("service_levels_s must list one or more thresholds >= 0")
        if not 0 < self.service_level_target < 1:
            raise ReportError("service_level_target must be between 0 and 1")


DEFAULT_THRESHOLDS = Thresholds()


# ---- sources: the roll-ups, or the same sums over the raw rows --------------------------


def _calls_in(period: Period) -> ColumnElement[bool]:
    dates = and_(CallRecord.local_date >= period.start, CallRecord.local_date <= period.end)
    year = period.fiscal_year
    return dates if year is None else and_(CallRecord.fiscal_year == year, dates)


def _split(period: Period) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The period as its whole months (first and last, as month starts) and the days
    around them: ``(None, [(start, end)])`` when it holds no whole month."""
    first = ru.month_of(period.start)
    if first < period.start:
        first = ru.month_end(first) + timedelta(days=1)
    last = ru.month_of(period.end)
    if ru.month_end(last) > period.end:
        last = ru.month_of(last - timedelta(days=1))
    if first > last:
        return None, [(period.start, period.end)]
    days = []
    if period.start < first:
        days.append((period.start, first - timedelta(days=1)))
    if ru.month_end(last) < period.end:
        days.append((ru.month_end(last) + timedelta(days=1), period.end))
    return (first, last), days


def _rollup(model: type[m.Base], period: Period, *, daily_only: bool = False) -> Any:
    """Rows of the daily roll-up ``model`` for the period, the whole months from its
    monthly sums: one subquery with the daily roll-up's columns."""
    names = [column.key for column in model.__table__.columns]
    daily: Any = model.__table__
    months, days = (None, [(period.start, period.end)]) if daily_only else _split(period)
    parts: list[Any] = [
        select(*(daily.c[n] for n in names)).where(
            daily.c.local_date >= start, daily.c.local_date <= end
        )
        for start, end in days
    ]
    if months is not None:
        monthly: Any = ru.MONTHLY[model].__table__
        parts.append(
            select(*(monthly.c[n] for n in names)).where(
                monthly.c.local_date >= months[0], monthly.c.local_date <= months[1]
            )
        )
    if len(parts) == 1:
        return parts[0].subquery()
    combined: Any = union_all(*parts)
    return combined.subquery()


def _source(
    session: Session, model: type[m.Base], period: Period, raw: bool, *, daily_only: bool = False
) -> Any:
    """Rows of ``model`` for the period, as a subquery with the roll-up's columns."""
    if raw:
        dialect = session.get_bind().dialect.name
        return ru.call_aggregate(model.__tablename__, dialect, _calls_in(period)).subquery()
    return _rollup(model, period, daily_only=daily_only)


ActivityKey = tuple[int, str, int]  # navigator key, state, local hour


def _activity(session: Session, period: Period, raw: bool) -> dict[ActivityKey, float]:
    """Seconds per (navigator key, state, local hour) over the period."""
    if not raw:
        A = _rollup(ru.ActivityRollup, period)
        query = select(
            A.c.navigator_key, A.c.state, A.c.local_hour, func.sum(A.c.seconds)
        ).group_by(A.c.navigator_key, A.c.state, A.c.local_hour)
        return {(n, s, h): float(v or 0.0) for n, s, h, v in session.execute(query)}
    zone = line_zone(session)
    first = datetime.combine(period.start, time(), zone).astimezone(UTC)
    after = datetime.combine(period.end + timedelta(days=1), time(), zone).astimezone(UTC)
    N = NavigatorActivity
    rows = session.execute(
        select(N.navigator_id, N.state, N.started_at, N.ended_at).where(
            N.started_at < after, N.ended_at > first
        )
    )
    out: dict[ActivityKey, float] = {}
    for navigator_id, state, started_at, ended_at in rows:
        for day, hour, seconds in ru.activity_pieces(started_at, ended_at, zone):
            if period.start <= day <= period.end:
                key = (navigator_id or 0, state, hour)
                out[key] = out.get(key, 0.0) + seconds
    return out


def _state_seconds(activity: Mapping[ActivityKey, float], state: str) -> float:
    return sum(v for (_, s, _), v in activity.items() if s == state)


# ---- the summary -----------------------------------------------------------------------


def nearest_rank(histogram: Sequence[tuple[int, int]], percent: int) -> int | None:
    """The value at rank ceil(percent/100 * n) of a sorted (value, count) histogram."""
    total = sum(n for _, n in histogram)
    if total == 0:
        return None
    rank = max(1, -(-total * percent // 100))
    seen = 0
    for value, n in histogram:
        seen += n
        if seen >= rank:
            return value
    return histogram[-1][0]


@dataclass(frozen=True)
class CallSummary:
    period: Period
    thresholds: Thresholds
    received: int
    closed: int
    fallback: int
    research: int
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    timeout: int
    closing: int
    leaveempty: int
    blocked_full: int
    blocked_joinempty: int
    #: answered within each of ``thresholds.service_levels_s`` (same order)
    answered_within: tuple[int, ...]
    wait_answered_s: float
    median_wait_s: int | None
    p90_wait_s: int | None
    longest_wait_s: float | None
    talk_s: float
    after_call_work_s: float

    @property
    def blocked(self) -> int:
        return self.blocked_full + self.blocked_joinempty

    @property
    def entered(self) -> int:
        return self.answered + self.abandoned + self.timeout + self.closing + self.leaveempty

    @property
    def counted(self) -> int:
        """Entered calls less short abandons: the base of the rates."""
        return self.entered - self.short_abandoned

    @property
    def service_levels(self) -> tuple[float | None, ...]:
        base = self.counted
        return tuple(n / base if base else None for n in self.answered_within)

    @property
    def abandon_rate(self) -> float | None:
        base = self.counted
        return (self.abandoned - self.short_abandoned) / base if base else None

    @property
    def average_speed_of_answer_s(self) -> float | None:
        return self.wait_answered_s / self.answered if self.answered else None

    @property
    def handle_s(self) -> float:
        return self.talk_s + self.after_call_work_s

    @property
    def average_handle_s(self) -> float | None:
        return self.handle_s / self.answered if self.answered else None


def _wait_histograms(
    session: Session, period: Period, raw: bool
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    src = _source(session, ru.CallWaitRollup, period, raw)
    query = select(src.c.outcome, src.c.seconds, func.sum(src.c.calls)).group_by(
        src.c.outcome, src.c.seconds
    )
    answered: list[tuple[int, int]] = []
    abandoned: list[tuple[int, int]] = []
    for outcome, seconds, n in session.execute(query):
        (answered if outcome == ru.ANSWERED else abandoned).append((int(seconds), int(n)))
    return sorted(answered), sorted(abandoned)


_HOUR_SUMS = (
    "received",
    "closed",
    "fallback",
    "research",
    "offered",
    "answered",
    "abandoned",
    "timeout",
    "closing",
    "leaveempty",
    "joinempty",
    "full",
    "wait_answered_s",
    "talk_s",
)


def call_summary(
    session: Session,
    period: Period,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    raw: bool = False,
) -> CallSummary:
    src = _source(session, ru.CallHourRollup, period, raw)
    query = select(
        *(func.coalesce(func.sum(src.c[name]), 0) for name in _HOUR_SUMS),
        func.max(src.c.wait_max_s),
    )
    row = session.execute(query).one()
    sums = dict(zip(_HOUR_SUMS, row[:-1], strict=True))
    answered_waits, abandoned_waits = _wait_histograms(session, period, raw)
    activity = _activity(session, period, raw)
    return CallSummary(
        period=period,
        thresholds=thresholds,
        received=int(sums["received"]),
        closed=int(sums["closed"]),
        fallback=int(sums["fallback"]),
        research=int(sums["research"]),
        offered=int(sums["offered"]),
        answered=int(sums["answered"]),
        abandoned=int(sums["abandoned"]),
        short_abandoned=sum(n for s, n in abandoned_waits if s < thresholds.short_abandon_s),
        timeout=int(sums["timeout"]),
        closing=int(sums["closing"]),
        leaveempty=int(sums["leaveempty"]),
        blocked_full=int(sums["full"]),
        blocked_joinempty=int(sums["joinempty"]),
        answered_within=tuple(
            sum(n for s, n in answered_waits if s <= limit) for limit in thresholds.service_levels_s
        ),
        wait_answered_s=float(sums["wait_answered_s"]),
        median_wait_s=nearest_rank(answered_waits, 50),
        p90_wait_s=nearest_rank(answered_waits, 90),
        longest_wait_s=None if row[-1] is None else float(row[-1]),
        talk_s=float(sums["talk_s"]),
        after_call_work_s=_state_seconds(activity, "after_call_work"),
    )


# ---- by day, month, hour x weekday, language -------------------------------------------


@dataclass(frozen=True)
class CallCount:
    """Calls in one bucket: ``key`` is a date, a (year, month), a (weekday, hour) with
    0 = Monday, or a language."""

    key: Any
    received: int
    offered: int
    answered: int
    abandoned: int
    blocked: int
    closed: int


_COUNT_SUMS = ("received", "offered", "answered", "abandoned", "blocked", "closed")


def _counts(
    session: Session, period: Period, raw: bool, *keys: str, daily_only: bool = False
) -> dict[Any, list[int]]:
    src = _source(session, ru.CallHourRollup, period, raw, daily_only=daily_only)
    columns = [src.c[k] for k in keys]
    query = select(
        *columns,
        func.sum(src.c.received),
        func.sum(src.c.offered),
        func.sum(src.c.answered),
        func.sum(src.c.abandoned),
        func.sum(src.c.full + src.c.joinempty),
        func.sum(src.c.closed),
    ).group_by(*columns)
    out: dict[Any, list[int]] = {}
    for row in session.execute(query):
        key = row[0] if len(keys) == 1 else tuple(row[: len(keys)])
        out[key] = [int(v or 0) for v in row[len(keys) :]]
    return out


def _zero() -> list[int]:
    return [0] * len(_COUNT_SUMS)


def calls_by_day(session: Session, period: Period, *, raw: bool = False) -> list[CallCount]:
    """Every day of the period, zeros included."""
    found = _counts(session, period, raw, "local_date", daily_only=True)
    found = {
        (d if isinstance(d, date) else date.fromisoformat(str(d))): v for d, v in found.items()
    }
    days = (period.end - period.start).days + 1
    out = []
    for offset in range(days):
        day = period.start + timedelta(days=offset)
        out.append(CallCount(day, *found.get(day, _zero())))
    return out


def calls_by_month(session: Session, period: Period, *, raw: bool = False) -> list[CallCount]:
    """Every month the period touches, zeros included: whole months from the monthly
    roll-ups (their rows are dated by the month's first day), the days around them from
    the daily ones, folded into months here."""
    totals = {month: _zero() for month in period.months()}
    for day, values in _counts(session, period, raw, "local_date").items():
        when = day if isinstance(day, date) else date.fromisoformat(str(day))
        bucket = totals[(when.year, when.month)]
        for i, value in enumerate(values):
            bucket[i] += value
    return [CallCount(month, *values) for month, values in totals.items()]


def calls_by_weekday_hour(
    session: Session, period: Period, *, raw: bool = False
) -> list[CallCount]:
    """The heat map: 7 x 24 cells, Monday 0 h first."""
    found = _counts(session, period, raw, "local_weekday", "local_hour")
    return [
        CallCount((day, hour), *found.get((day, hour), _zero()))
        for day in range(7)
        for hour in range(24)
    ]


def calls_by_language(session: Session, period: Period, *, raw: bool = False) -> list[CallCount]:
    """Per language chosen ("none": no choice made; "": no source knew), in that order."""
    found = _counts(session, period, raw, "language")
    order = ["fr", "en", "interpreter", "none", ""]
    keys = [k for k in order if k in found] + sorted(k for k in found if k not in order)
    return [CallCount(k, *found[k]) for k in keys]


# ---- menu choices, closed line ---------------------------------------------------------


@dataclass(frozen=True)
class PathCount:
    line_state: str
    path: str
    route: str
    route_destination: str
    exit_route: str
    calls: int


def _paths(
    session: Session, period: Period, raw: bool, keys: Sequence[str], closed_only: bool
) -> list[tuple[Any, ...]]:
    src = _source(session, ru.CallPathRollup, period, raw)
    columns = [src.c[k] for k in keys]
    query = select(*columns, func.sum(src.c.calls)).group_by(*columns)
    if closed_only:
        query = query.where(src.c.line_state.in_(ru.CLOSED_STATES))
    rows = [(*row[:-1], int(row[-1])) for row in session.execute(query)]
    rows.sort(key=lambda r: (-r[-1], *r[:-1]))
    return rows


def menu_choices(session: Session, period: Period, *, raw: bool = False) -> list[tuple[str, int]]:
    """Calls per path through the menu ("" when no source knew it), most frequent first."""
    return [(p, n) for p, n in _paths(session, period, raw, ("path",), False)]


def closed_choices(
    session: Session, period: Period, *, raw: bool = False
) -> list[tuple[str, str, str, int]]:
    """Calls while closed: (line state, route, destination, calls), most frequent first."""
    keys = ("line_state", "route", "route_destination")
    return [(s, r, d, n) for s, r, d, n in _paths(session, period, raw, keys, True)]


def routes(session: Session, period: Period, *, raw: bool = False) -> list[tuple[str, str, int]]:
    """Calls per final route and queue-exit route, most frequent first."""
    return [(r, e, n) for r, e, n in _paths(session, period, raw, ("route", "exit_route"), False)]


# ---- per navigator ---------------------------------------------------------------------


@dataclass(frozen=True)
class NavigatorFigures:
    navigator_id: int | None
    username: str | None
    display_name: str
    answered: int
    talk_s: float
    after_call_work_s: float
    logged_in_s: float
    paused_s: float
    transfers: int  # transfers done ("avec bascule")
    referrals: int  # referrals without transfer ("sans bascule")

    @property
    def handle_s(self) -> float:
        return self.talk_s + self.after_call_work_s

    @property
    def occupancy(self) -> float | None:
        available = self.logged_in_s - self.paused_s
        return self.handle_s / available if available > 0 else None


def _transfers(session: Session, period: Period, raw: bool) -> dict[int, tuple[int, int]]:
    """Transfers done and referrals per navigator key (0: none): the transfer reports'
    own query with ``raw``, else the roll-up."""
    if raw:
        return {
            row.navigator_id or 0: (row.avec, row.sans) for row in by_navigator(session, period)
        }
    T = TransferNavigatorRollup
    query = (
        select(T.navigator_key, func.sum(T.transfers), func.sum(T.referrals))
        .where(T.local_date >= period.start, T.local_date <= period.end)
        .group_by(T.navigator_key)
    )
    return {int(k): (int(a or 0), int(b or 0)) for k, a, b in session.execute(query)}


def navigator_figures(
    session: Session, period: Period, *, raw: bool = False
) -> list[NavigatorFigures]:
    src = _source(session, ru.CallNavigatorRollup, period, raw)
    calls = {
        int(key): (int(n or 0), float(t or 0.0))
        for key, n, t in session.execute(
            select(src.c.navigator_key, func.sum(src.c.answered), func.sum(src.c.talk_s)).group_by(
                src.c.navigator_key
            )
        )
    }
    time_in: dict[int, dict[str, float]] = {}
    for (key, state, _), seconds in _activity(session, period, raw).items():
        per = time_in.setdefault(key, {})
        per[state] = per.get(state, 0.0) + seconds
    transfers = _transfers(session, period, raw)
    navigators = {
        n.id: n for n in session.scalars(select(m.Navigator).order_by(m.Navigator.username))
    }
    # A navigator deleted since: their figures go with the unknown ones (key 0).
    answered: dict[int, int] = {}
    talk: dict[int, float] = {}
    states: dict[int, dict[str, float]] = {}
    avec: dict[int, int] = {}
    sans: dict[int, int] = {}

    def fold(key: int) -> int:
        return key if key in navigators else 0

    for key, (n, t) in calls.items():
        answered[fold(key)] = answered.get(fold(key), 0) + n
        talk[fold(key)] = talk.get(fold(key), 0.0) + t
    for key, per in time_in.items():
        into = states.setdefault(fold(key), {})
        for state, seconds in per.items():
            into[state] = into.get(state, 0.0) + seconds
    for key, (done, referred) in transfers.items():
        avec[fold(key)] = avec.get(fold(key), 0) + done
        sans[fold(key)] = sans.get(fold(key), 0) + referred
    out = []
    for key in {*answered, *states, *avec}:
        nav = navigators.get(key)
        per = states.get(key, {})
        out.append(
            NavigatorFigures(
                navigator_id=nav.id if nav else None,
                username=nav.username if nav else None,
                display_name=nav.display_name if nav else "",
                answered=answered.get(key, 0),
                talk_s=talk.get(key, 0.0),
                after_call_work_s=per.get("after_call_work", 0.0),
                logged_in_s=per.get("logged_in", 0.0),
                paused_s=per.get("paused", 0.0),
                transfers=avec.get(key, 0),
                referrals=sans.get(key, 0),
            )
        )
    out.sort(key=lambda r: (r.username is None, r.display_name.casefold()))
    return out


# ---- the annual report's LANGUES block -------------------------------------------------


@dataclass(frozen=True)
class LanguageLine:
    language: str
    label: str
    answered: int
    percent: float


def languages_section(
    session: Session, period: Period, *, raw: bool = False
) -> tuple[LanguageLine, ...]:
    """Answered calls per language, as percentages of the answered calls whose language
    is known (French, English, "Autres" = the interpreter path)."""
    return _language_lines(calls_by_language(session, period, raw=raw))


def _language_lines(rows: Iterable[CallCount]) -> tuple[LanguageLine, ...]:
    found = {row.key: row.answered for row in rows}
    total = sum(found.get(k, 0) for k in LANGUAGE_LABELS_FR)
    return tuple(
        LanguageLine(k, label, found.get(k, 0), 100.0 * found.get(k, 0) / total if total else 0.0)
        for k, label in LANGUAGE_LABELS_FR.items()
    )


def format_percent(value: float) -> str:
    """99.3634 -> "99,36 %" (fr_CA: decimal comma, no-break space before %)."""
    from babel.numbers import format_decimal

    number = format_decimal(round(value, 2), format="0.00", locale="fr_CA")
    return f"{number}\u00a0%"


def languages_text(lines: Iterable[LanguageLine]) -> str:
    """The LANGUES block ready to paste, in the form of the annual report's sections."""
    out = [f"{LANGUES_TITLE}*"]
    out += [f"  {format_percent(line.percent)} {line.label}" for line in lines]
    out.append(LANGUES_FOOTNOTE)
    return "\n".join(out) + "\n"


# ---- staffing (Erlang C) ---------------------------------------------------------------


def erlang_c(agents: int, load: float) -> float:
    """The probability that a caller waits, with ``agents`` navigators and ``load``
    erlangs offered (Erlang B by recursion, then C); 1 when ``agents <= load``."""
    if load <= 0:
        return 0.0
    if agents <= load:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def erlang_service_level(agents: int, load: float, handle_s: float, within_s: float) -> float:
    """The share of callers answered within ``within_s`` (Erlang C, M/M/N)."""
    if load <= 0:
        return 1.0
    if agents <= load:
        return 0.0
    waits = erlang_c(agents, load)
    return 1.0 - waits * math.exp(-(agents - load) * within_s / handle_s)


def agents_needed(
    rate_per_s: float, handle_s: float, target: float, within_s: float, *, most: int = 1000
) -> int:
    """The fewest navigators that answer ``target`` of the callers within ``within_s``."""
    load = rate_per_s * handle_s
    if load <= 0:
        return 0
    agents = max(1, math.floor(load) + 1)
    while agents < most and erlang_service_level(agents, load, handle_s, within_s) < target:
        agents += 1
    return agents


@dataclass(frozen=True)
class StaffingHour:
    hour: int
    days: int  # days of the period with calls offered to the queue in this hour
    offered: int
    answered: int
    handle_s: float  # talk + after-call work in this hour
    logged_in_s: float
    needed: int

    @property
    def calls_per_hour(self) -> float:
        return self.offered / self.days if self.days else 0.0

    @property
    def average_handle_s(self) -> float | None:
        return self.handle_s / self.answered if self.answered else None

    @property
    def logged_in(self) -> float:
        """Navigators logged in, on average, during this hour of those days."""
        return self.logged_in_s / (self.days * 3600) if self.days else 0.0


def staffing(
    session: Session,
    period: Period,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    raw: bool = False,
) -> list[StaffingHour]:
    """Per local hour of the day: the calls offered per hour on the days the queue got
    calls at that hour, their handle time, the navigators needed for the target
    (``service_level_target`` within ``service_levels_s[0]``) by Erlang C, beside the
    navigators logged in on average."""
    src = _source(session, ru.CallHourRollup, period, raw, daily_only=True)
    per_day = (
        select(
            src.c.local_date,
            src.c.local_hour,
            func.sum(src.c.offered).label("offered"),
            func.sum(src.c.answered).label("answered"),
            func.sum(src.c.talk_s).label("talk_s"),
        )
        .group_by(src.c.local_date, src.c.local_hour)
        .subquery()
    )
    query = (
        select(
            per_day.c.local_hour,
            func.count(),
            func.sum(per_day.c.offered),
            func.sum(per_day.c.answered),
            func.sum(per_day.c.talk_s),
        )
        .where(per_day.c.offered > 0)
        .group_by(per_day.c.local_hour)
    )
    found = {
        int(h): (int(d), int(o), int(a or 0), float(t or 0))
        for h, d, o, a, t in session.execute(query)
    }
    activity = _activity(session, period, raw)
    within = thresholds.service_levels_s[0]
    out = []
    for hour in range(24):
        days, offered, answered, talk = found.get(hour, (0, 0, 0, 0.0))
        acw = sum(v for (_, s, h), v in activity.items() if s == "after_call_work" and h == hour)
        logged = sum(v for (_, s, h), v in activity.items() if s == "logged_in" and h == hour)
        handle = talk + acw
        needed = 0
        if days and answered:
            needed = agents_needed(
                offered / (days * 3600.0),
                handle / answered,
                thresholds.service_level_target,
                within,
            )
        out.append(StaffingHour(hour, days, offered, answered, handle, logged, needed))
    return out


@dataclass(frozen=True)
class CallReport:
    """Everything the calls page shows, read once."""

    summary: CallSummary
    by_day: list[CallCount]
    by_month: list[CallCount]
    heat: list[CallCount]
    by_language: list[CallCount]
    menu: list[tuple[str, int]]
    closed: list[tuple[str, str, str, int]]
    routes: list[tuple[str, str, int]]
    languages: tuple[LanguageLine, ...]
    navigators: list[NavigatorFigures]
    staffing: list[StaffingHour]


def call_report(
    session: Session,
    period: Period,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    raw: bool = False,
) -> CallReport:
    by_language = calls_by_language(session, period, raw=raw)
    return CallReport(
        summary=call_summary(session, period, thresholds, raw=raw),
        by_day=calls_by_day(session, period, raw=raw),
        by_month=calls_by_month(session, period, raw=raw),
        heat=calls_by_weekday_hour(session, period, raw=raw),
        by_language=by_language,
        menu=menu_choices(session, period, raw=raw),
        closed=closed_choices(session, period, raw=raw),
        routes=routes(session, period, raw=raw),
        languages=_language_lines(by_language),
        navigators=navigator_figures(session, period, raw=raw),
        staffing=staffing(session, period, thresholds, raw=raw),
    )
