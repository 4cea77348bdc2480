from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.dialplan import ASTDB_KEYS
from ivr.schedule import (
    LOOKAHEAD_DAYS,
    _holidays_in_year,
    astdb_mirror,
    astdb_mirror_valid_until,
    compute_state,
    holidays_in_year,
)
from ivr.settings import Closure, DayHours, Override, Schedule, WeeklyHours

from .helpers import MONDAY, local, make_schedule

WITH_OPTIONAL = ("public", "optional")


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return local(day.year, day.month, day.day, hour, minute, second)


WEEK = [MONDAY + timedelta(days=n) for n in range(7)]


# ---- regular hours, every day of a week without holidays ---------------------

REGULAR = [
    # (now, is_open, reason, until)
    *[(at(d, 10), True, "hours", at(d, 19)) for d in WEEK[:5]],
    *[(at(d, 19, 30), False, "after_hours", at(d + timedelta(days=1), 8)) for d in WEEK[:5]],
    *[(at(d, 7), False, "after_hours", at(d, 8)) for d in WEEK],
    *[(at(d, 10), True, "hours", at(d, 15, 30)) for d in WEEK[5:]],
    *[(at(d, 16), False, "after_hours", at(d + timedelta(days=1), 8)) for d in WEEK[5:]],
]


@pytest.mark.parametrize(("now", "is_open", "reason", "until"), REGULAR, ids=str)
def test_regular_hours(now: datetime, is_open: bool, reason: str, until: datetime) -> None:
    state = compute_state(make_schedule(), now)
    assert (state.is_open, state.reason, state.until) == (is_open, reason, until)
    assert state.holiday_name is None


TUESDAY = WEEK[1]
WEDNESDAY = WEEK[2]
SATURDAY = WEEK[5]

BOUNDARIES = [
    (at(TUESDAY, 8, 0, 0), True),
    (at(TUESDAY, 7, 59, 59), False),
    (at(TUESDAY, 18, 59), True),
    (at(TUESDAY, 18, 59, 59), True),
    (at(TUESDAY, 19, 0, 0), False),
    (at(SATURDAY, 7, 59, 59), False),
    (at(SATURDAY, 8, 0, 0), True),
    (at(SATURDAY, 15, 29, 59), True),
    (at(SATURDAY, 15, 30, 0), False),
    (at(TUESDAY, 0, 0, 0), False),
    (at(TUESDAY, 23, 59, 59), False),
]


@pytest.mark.parametrize(("now", "is_open"), BOUNDARIES, ids=str)
def test_opening_and_closing_minute(now: datetime, is_open: bool) -> None:
    assert compute_state(make_schedule(), now).is_open is is_open


# ---- holidays ------------------------------------------------------------------

HOLIDAYS = [
    # (now, categories, is_open, reason, until, is_holiday)
    # Fête nationale (Saint-Jean), a Wednesday in 2026: holiday hours 08:00-15:30.
    (local(2026, 6, 24, 10), ("public",), True, "hours", local(2026, 6, 24, 15, 30), True),
    (local(2026, 6, 24, 16), ("public",), False, "holiday", local(2026, 6, 25, 8), True),
    (local(2026, 6, 24, 18, 59), ("public",), False, "holiday", local(2026, 6, 25, 8), True),
    (local(2026, 6, 23, 18, 59), ("public",), True, "hours", local(2026, 6, 23, 19), False),
    # Christmas, a Friday in 2026; Christmas Eve is an ordinary Thursday.
    (local(2026, 12, 24, 19, 30), ("public",), False, "after_hours", local(2026, 12, 25, 8), False),
    (local(2026, 12, 25, 9), ("public",), True, "hours", local(2026, 12, 25, 15, 30), True),
    (local(2026, 12, 25, 17), ("public",), False, "holiday", local(2026, 12, 26, 8), True),
    # Easter Monday 2026-04-06 is only in the optional category.
    (local(2026, 4, 6, 17), ("public",), True, "hours", local(2026, 4, 6, 19), False),
    (local(2026, 4, 6, 17), WITH_OPTIONAL, False, "holiday", local(2026, 4, 7, 8), True),
    # Good Friday 2026-04-03 is public in Québec.
    (local(2026, 4, 3, 17), ("public",), False, "holiday", local(2026, 4, 4, 8), True),
    # Closed after hours the evening before Easter Monday: the next opening is its 08:00.
    (local(2026, 4, 5, 20), WITH_OPTIONAL, False, "after_hours", local(2026, 4, 6, 8), False),
]


@pytest.mark.parametrize(
    ("now", "categories", "is_open", "reason", "until", "is_holiday"), HOLIDAYS, ids=str
)
def test_quebec_holidays(
    now: datetime,
    categories: tuple[str, ...],
    is_open: bool,
    reason: str,
    until: datetime,
    is_holiday: bool,
) -> None:
    state = compute_state(make_schedule(categories=categories), now)
    assert (state.is_open, state.reason, state.until) == (is_open, reason, until)
    assert (state.holiday_name is not None) is is_holiday


def test_fete_nationale_and_christmas_are_named() -> None:
    june = compute_state(make_schedule(), local(2026, 6, 24, 16)).holiday_name
    december = compute_state(make_schedule(), local(2026, 12, 25, 17)).holiday_name
    assert june is not None and "Baptist" in june
    assert december is not None and "Christmas" in december


def test_added_holiday_closes_at_weekday_evening() -> None:
    schedule = make_schedule(added={TUESDAY: "Journée de formation"})
    state = compute_state(schedule, at(TUESDAY, 17))
    assert (state.is_open, state.reason, state.holiday_name) == (
        False,
        "holiday",
        "Journée de formation",
    )
    assert state.until == at(TUESDAY + timedelta(days=1), 8)
    assert compute_state(schedule, at(TUESDAY, 10)).until == at(TUESDAY, 15, 30)


def test_removed_holiday_keeps_weekday_hours() -> None:
    schedule = make_schedule(removed=frozenset({date(2026, 6, 24)}))
    state = compute_state(schedule, local(2026, 6, 24, 18))
    assert (state.is_open, state.reason, state.holiday_name) == (True, "hours", None)
    assert state.until == local(2026, 6, 24, 19)


def test_holiday_closed_all_day() -> None:
    weekly = make_schedule().weekly
    schedule = make_schedule(weekly=WeeklyHours(days=weekly.days, holiday=None))
    state = compute_state(schedule, local(2026, 12, 25, 10))
    assert (state.is_open, state.reason) == (False, "holiday")
    assert state.until == local(2026, 12, 26, 8)


def test_until_skips_holidays_when_looking_for_the_next_opening() -> None:
    weekly = WeeklyHours(days={d: DayHours(time(8), time(19)) for d in range(5)}, holiday=None)
    schedule = make_schedule(weekly=weekly)
    # Thursday 2026-12-24 evening: Christmas (Friday) closed, weekend closed -> Monday 28th.
    state = compute_state(schedule, local(2026, 12, 24, 20))
    assert state.until == local(2026, 12, 28, 8)


def test_until_is_unknown_beyond_the_lookahead() -> None:
    schedule = make_schedule(weekly=WeeklyHours(days={}, holiday=None))
    state = compute_state(schedule, at(TUESDAY, 10))
    assert (state.is_open, state.reason, state.until) == (False, "after_hours", None)


def test_until_finds_an_opening_at_the_edge_of_the_lookahead() -> None:
    opening_day = TUESDAY + timedelta(days=LOOKAHEAD_DAYS)
    schedule = make_schedule(
        weekly=WeeklyHours(days={}, holiday=DayHours(time(8), time(9))),
        added={opening_day: "seul jour ouvert"},
    )
    assert compute_state(schedule, at(TUESDAY, 10)).until == at(opening_day, 8)


# ---- daylight saving time in America/Toronto ----------------------------------

DST = [
    # 2026-03-08 (Sunday): 02:00 EST -> 03:00 EDT; opening 08:00 EDT = 12:00 UTC.
    (local(2026, 3, 8, 7, 30), False, local(2026, 3, 8, 8)),
    (local(2026, 3, 8, 8, 0), True, local(2026, 3, 8, 15, 30)),
    (utc(2026, 3, 8, 11, 59, 59), False, local(2026, 3, 8, 8)),
    (utc(2026, 3, 8, 12, 0), True, local(2026, 3, 8, 15, 30)),
    (utc(2026, 3, 8, 12, 30), True, local(2026, 3, 8, 15, 30)),  # 07:30 if still EST
    (utc(2026, 3, 8, 19, 29, 59), True, local(2026, 3, 8, 15, 30)),
    (utc(2026, 3, 8, 19, 30), False, local(2026, 3, 9, 8)),
    (local(2026, 3, 7, 16), False, utc(2026, 3, 8, 12)),  # Saturday evening, EST
    # 2026-11-01 (Sunday): 02:00 EDT -> 01:00 EST; opening 08:00 EST = 13:00 UTC.
    (local(2026, 11, 1, 7, 30), False, local(2026, 11, 1, 8)),
    (local(2026, 11, 1, 8, 0), True, local(2026, 11, 1, 15, 30)),
    (utc(2026, 11, 1, 12, 30), False, local(2026, 11, 1, 8)),  # 08:30 if still EDT
    (utc(2026, 11, 1, 12, 59, 59), False, local(2026, 11, 1, 8)),
    (utc(2026, 11, 1, 13, 0), True, local(2026, 11, 1, 15, 30)),
    (utc(2026, 11, 1, 20, 30), False, local(2026, 11, 2, 8)),
    (local(2026, 10, 31, 16), False, utc(2026, 11, 1, 13)),  # Saturday evening, EDT
]


@pytest.mark.parametrize(("now", "is_open", "until"), DST, ids=str)
def test_daylight_saving_changes(now: datetime, is_open: bool, until: datetime) -> None:
    state = compute_state(make_schedule(), now)
    assert state.is_open is is_open
    assert state.until == until
    assert state.until is not None and state.until.tzinfo is not None


def test_until_is_expressed_in_the_schedule_zone() -> None:
    state = compute_state(make_schedule(), utc(2026, 3, 10, 14))
    assert state.until is not None
    assert state.until.utcoffset() == timedelta(hours=-4)
    assert (state.until.hour, state.until.minute) == (19, 0)


# ---- closures and overrides ---------------------------------------------------

STORM = Closure(at(TUESDAY, 10), at(TUESDAY, 12), "tempête")
NIGHT = Closure(at(TUESDAY, 20), at(WEDNESDAY, 9), "réunion d'équipe")
OVERLAP = Closure(at(TUESDAY, 11, 30), at(TUESDAY, 13), "panne")

CLOSURES = [
    # (closures, now, is_open, reason, until)
    ((STORM,), at(TUESDAY, 9), True, "hours", at(TUESDAY, 10)),
    ((STORM,), at(TUESDAY, 10), False, "closure", at(TUESDAY, 12)),
    ((STORM,), at(TUESDAY, 11, 59, 59), False, "closure", at(TUESDAY, 12)),
    ((STORM,), at(TUESDAY, 12), True, "hours", at(TUESDAY, 19)),
    ((STORM, OVERLAP), at(TUESDAY, 11), False, "closure", at(TUESDAY, 13)),
    ((OVERLAP, STORM), at(TUESDAY, 11), False, "closure", at(TUESDAY, 13)),
    ((NIGHT,), at(TUESDAY, 19, 30), False, "after_hours", at(TUESDAY, 20)),
    ((NIGHT,), at(TUESDAY, 22), False, "closure", at(TUESDAY + timedelta(days=1), 9)),
    ((NIGHT,), at(WEDNESDAY, 8, 30), False, "closure", at(WEDNESDAY, 9)),
    ((NIGHT,), at(WEDNESDAY, 9), True, "hours", at(WEDNESDAY, 19)),
]


@pytest.mark.parametrize(("closures", "now", "is_open", "reason", "until"), CLOSURES, ids=str)
def test_exceptional_closures(
    closures: tuple[Closure, ...],
    now: datetime,
    is_open: bool,
    reason: str,
    until: datetime,
) -> None:
    state = compute_state(make_schedule(closures=closures), now)
    assert (state.is_open, state.reason, state.until) == (is_open, reason, until)


def test_closure_detail_is_its_reason() -> None:
    state = compute_state(make_schedule(closures=(STORM,)), at(TUESDAY, 11))
    assert state.detail == "tempête"


OVERRIDES = [
    # (override, closures, now, is_open, reason, until)
    (Override("open"), (), at(TUESDAY, 22), True, "override_open", None),
    (Override("closed"), (), at(TUESDAY, 10), False, "override_closed", None),
    (Override("closed", until=at(TUESDAY, 12)), (), at(TUESDAY, 10), False, "override_closed",
     at(TUESDAY, 12)),
    (Override("open", until=at(TUESDAY, 23)), (), at(TUESDAY, 22), True, "override_open",
     at(TUESDAY, 23)),
    # expired: the schedule applies again
    (Override("closed", until=at(TUESDAY, 9)), (), at(TUESDAY, 10), True, "hours",
     at(TUESDAY, 19)),
    (Override("open", until=at(TUESDAY, 22)), (), at(TUESDAY, 22), False, "after_hours",
     at(TUESDAY + timedelta(days=1), 8)),
    # a forced closure for an exceptional reason is an exceptional closure
    (Override("closed", exceptional=True), (), at(TUESDAY, 10), False, "closure", None),
    (Override("closed", until=at(TUESDAY, 12), exceptional=True), (), at(TUESDAY, 22), False,
     "after_hours", at(TUESDAY + timedelta(days=1), 8)),
    # the override wins over a closure
    (Override("open"), (STORM,), at(TUESDAY, 11), True, "override_open", None),
    (Override("open", until=at(TUESDAY, 11)), (STORM,), at(TUESDAY, 11), False, "closure",
     at(TUESDAY, 12)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("override", "closures", "now", "is_open", "reason", "until"), OVERRIDES, ids=str
)
def test_overrides(
    override: Override,
    closures: tuple[Closure, ...],
    now: datetime,
    is_open: bool,
    reason: str,
    until: datetime | None,
) -> None:
    state = compute_state(make_schedule(override=override, closures=closures), now)
    assert (state.is_open, state.reason, state.until) == (is_open, reason, until)


def test_override_detail_is_its_reason_or_its_kind() -> None:
    night = compute_state(make_schedule(override=Override("closed")), at(TUESDAY, 10))
    storm = Override("closed", reason="panne de courant", exceptional=True)
    outage = compute_state(make_schedule(override=storm), at(TUESDAY, 10))
    unnamed = compute_state(
        make_schedule(override=Override("closed", exceptional=True)), at(TUESDAY, 10)
    )
    assert (night.reason, night.detail) == ("override_closed", "forced closed")
    assert (outage.reason, outage.detail) == ("closure", "panne de courant")
    assert unnamed.detail == "exceptional closure"


def test_only_a_forced_closure_can_be_exceptional() -> None:
    with pytest.raises(ValueError, match="only a forced closure"):
        Override("open", exceptional=True)


def test_override_on_a_holiday_keeps_the_holiday_name() -> None:
    state = compute_state(make_schedule(override=Override("open")), local(2026, 12, 25, 22))
    assert state.reason == "override_open"
    assert state.holiday_name is not None


# ---- inputs ----------------------------------------------------------------------


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_state(make_schedule(), datetime(2026, 3, 10, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        astdb_mirror(make_schedule(), datetime(2026, 3, 10, 10))


def test_other_zones_are_converted() -> None:
    # Read as wall-clock times these would all give the opposite answer.
    assert compute_state(make_schedule(), utc(2026, 3, 10, 11, 30)).is_open is False
    assert compute_state(make_schedule(), utc(2026, 3, 10, 22, 30)).is_open is True
    assert compute_state(make_schedule(), utc(2026, 3, 10, 23, 30)).is_open is False


def test_holiday_lookups_are_cached() -> None:
    schedule = make_schedule(added={TUESDAY: "Journée du 211"})
    compute_state(schedule, at(TUESDAY, 10))
    before = _holidays_in_year.cache_info()
    for hour in range(24):
        compute_state(schedule, at(TUESDAY, hour))
    after = _holidays_in_year.cache_info()
    assert after.misses == before.misses
    assert after.hits > before.hits


def test_holidays_in_year_applies_added_and_removed() -> None:
    rules = make_schedule(
        added={date(2026, 3, 10): "Journée du 211"}, removed=frozenset({date(2026, 7, 1)})
    ).holidays
    days = holidays_in_year(rules, 2026)
    assert days[date(2026, 3, 10)] == "Journée du 211"
    assert date(2026, 7, 1) not in days
    assert date(2026, 6, 24) in days
    assert list(days) == sorted(days)
    assert date(2026, 3, 10) not in holidays_in_year(rules, 2027)


# ---- the AstDB mirror -------------------------------------------------------------


def epoch(instant: datetime) -> str:
    return str(calendar.timegm(instant.astimezone(UTC).utctimetuple()))


def test_mirror_keys_are_the_dialplan_keys() -> None:
    assert set(astdb_mirror(make_schedule(), at(TUESDAY, 10))) == ASTDB_KEYS


MIRROR_OVERRIDES = [
    (None, "", ""),
    (Override("open"), "open", ""),
    (Override("closed", until=utc(2026, 3, 10, 16)), "closed", "1773158400"),
    (Override("closed", until=at(TUESDAY, 9)), "", ""),  # expired
]


@pytest.mark.parametrize(("override", "mode", "until"), MIRROR_OVERRIDES, ids=str)
def test_mirror_override(override: Override | None, mode: str, until: str) -> None:
    mirror = astdb_mirror(make_schedule(override=override), at(TUESDAY, 10))
    assert (mirror["override"], mirror["override_until"]) == (mode, until)


def test_mirror_epoch_is_unix_seconds() -> None:
    assert epoch(utc(2026, 3, 10, 16)) == "1773158400"


PAST = Closure(at(TUESDAY, 1), at(TUESDAY, 2), "passée")
LATER = Closure(at(TUESDAY + timedelta(days=3), 8), at(TUESDAY + timedelta(days=3), 9), "plus tard")

MIRROR_CLOSURES = [
    ((), None),
    ((PAST,), None),
    ((PAST, STORM, LATER), STORM),  # the current one
    ((LATER, STORM), STORM),
    ((LATER, PAST), LATER),  # the next one
]


@pytest.mark.parametrize(("closures", "expected"), MIRROR_CLOSURES, ids=str)
def test_mirror_closure(closures: tuple[Closure, ...], expected: Closure | None) -> None:
    mirror = astdb_mirror(make_schedule(closures=closures), at(TUESDAY, 11))
    if expected is None:
        assert (mirror["closure_start"], mirror["closure_end"]) == ("", "")
    else:
        assert mirror["closure_start"] == epoch(expected.starts)
        assert mirror["closure_end"] == epoch(expected.ends)


def test_mirror_holidays_this_year_and_next() -> None:
    schedule = make_schedule(
        added={date(2027, 2, 11): "Journée du 211"}, removed=frozenset({date(2026, 7, 1)})
    )
    days = astdb_mirror(schedule, at(TUESDAY, 10))["holidays"].split(",")
    assert "2026-06-24" in days and "2026-12-25" in days
    assert "2027-06-24" in days and "2027-02-11" in days
    assert "2026-07-01" not in days and "2027-07-01" in days
    assert "2026-04-06" not in days  # Easter Monday is optional
    assert not any(d.startswith(("2025", "2028")) for d in days)
    assert days == sorted(days)


def test_mirror_holidays_with_optional_category() -> None:
    schedule = make_schedule(categories=WITH_OPTIONAL)
    days = astdb_mirror(schedule, at(TUESDAY, 10))["holidays"].split(",")
    assert "2026-04-06" in days and "2027-03-29" in days


def test_mirror_year_is_the_local_year() -> None:
    # 2027-01-01 03:00 UTC is still 2026-12-31 in Québec.
    days = astdb_mirror(make_schedule(), utc(2027, 1, 1, 3))["holidays"].split(",")
    assert days[0].startswith("2026")


# The mirror's span: astdb_mirror_valid_until says until when a mirror holds, so the
# FastAGI server computes it again only past that instant.

_START = utc(2026, 12, 20, 0)
_hours = st.integers(min_value=-72, max_value=24 * 20)


@st.composite
def _schedules_and_now(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    def instant() -> datetime:
        return _START + timedelta(hours=draw(_hours), minutes=draw(st.integers(0, 59)))

    closures = []
    for _ in range(draw(st.integers(0, 3))):
        starts = instant()
        closures.append(Closure(starts, starts + timedelta(hours=draw(st.integers(1, 48))), "x"))
    override = draw(
        st.one_of(
            st.none(),
            st.builds(
                Override, st.sampled_from(["open", "closed"]), st.none() | st.just(instant())
            ),
        )
    )
    return make_schedule(closures=tuple(closures), override=override), instant()


@given(_schedules_and_now(), st.floats(min_value=0.0, max_value=1.0))
@settings(max_examples=300, deadline=None)
def test_mirror_holds_until_valid_until(case: tuple[Schedule, datetime], fraction: float) -> None:
    schedule, now = case
    until = astdb_mirror_valid_until(schedule, now)
    assert until > now
    mirror = astdb_mirror(schedule, now)
    inside = now + (until - now - timedelta(microseconds=1)) * fraction
    assert astdb_mirror(schedule, inside) == mirror
    assert astdb_mirror(schedule, until - timedelta(microseconds=1)) == mirror


def test_mirror_span_ends_where_the_values_move() -> None:
    """At the override's end and at the closure's end the values change: the span is
    not longer than they hold (it may be shorter: a closure ending under another one)."""
    now = utc(2026, 12, 20, 12)
    override = Override("closed", until=now + timedelta(hours=3))
    closure = Closure(now - timedelta(hours=1), now + timedelta(hours=5), "tempête")
    for schedule, end in [
        (make_schedule(override=override), override.until),
        (make_schedule(closures=(closure,)), closure.ends),
        (make_schedule(override=override, closures=(closure,)), override.until),
    ]:
        assert astdb_mirror_valid_until(schedule, now) == end
        assert astdb_mirror(schedule, end) != astdb_mirror(schedule, now)


def test_mirror_span_ends_at_the_local_new_year() -> None:
    """5 a.m. UTC on 1 January is midnight in Montréal: the holiday list moves a year."""
    assert astdb_mirror_valid_until(make_schedule(), utc(2026, 12, 31, 12)) == utc(2027, 1, 1, 5)
