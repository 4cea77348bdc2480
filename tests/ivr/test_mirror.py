"""The values the dialplan reads without the FastAGI server (ivr.mirror): AstDB keys and
the listener's globals."""

from __future__ import annotations

from dataclasses import replace
from datetime import time

import pytest

from ivr.dialplan import ASTDB_KEYS, DB_VERSION, HOURS_DAYS, dest_token, global_name
from ivr.mirror import (
    directory_mirror,
    gotoiftime_range,
    hours_mirror,
    line_mirror,
    write_order,
)
from ivr.settings import DayHours, Destination, WeeklyHours

from .helpers import local, make_settings


def test_each_destination_maps_to_its_number_for_the_centre_territory() -> None:
    mirror = directory_mirror(make_settings())
    assert mirror == {
        "dest_911": "911",
        "dest_811": "811",
        "dest_CRISE": "4185550199",
        "dest_CPS": "18662773553",
        "dest_SOSVC": "18003639010",
        "dest_988": "988",
    }


def test_a_destination_without_a_number_for_the_territory_maps_to_empty() -> None:
    elsewhere = Destination("crise", "Crise", "Crisis", "emergency", "101", {"beauce": "1"})
    menus = Destination("menus-travaux", "Menus travaux", "Home help", "partner", "201", {})
    mirror = directory_mirror(make_settings(dests=(elsewhere, menus)))
    assert mirror == {"dest_CRISE": "", "dest_MENUS_TRAVAUX": ""}


def test_territory_number_wins_over_the_wildcard() -> None:
    dest = Destination("811", "811", "811", "emergency", "811", {"*": "811"})
    settings = make_settings(dests=(dest,))
    both = replace(dest, numbers={"*": "811", settings.territory: "18005550811"})
    assert directory_mirror(settings) == {"dest_811": "811"}
    assert directory_mirror(replace(settings, destinations=(both,))) == {"dest_811": "18005550811"}


def test_line_mirror_has_the_schedule_hours_directory_and_version_keys() -> None:
    settings = replace(make_settings(), version=42)
    mirror = line_mirror(settings, local(2026, 6, 10, 10, 0))
    assert set(mirror) >= ASTDB_KEYS
    assert set(mirror) - ASTDB_KEYS == {
        *("dest_" + dest_token(d.key) for d in settings.destinations),
        *("hours_" + day for day in HOURS_DAYS),
        "version",
    }
    assert mirror["version"] == "42"


def test_version_is_written_last_by_both_writers() -> None:
    """The FastAGI server writes in sorted key order, the listener in write_order: both
    put the version after the values it vouches for."""
    mirror = line_mirror(make_settings(), local(2026, 6, 10, 10, 0))
    assert sorted(mirror)[-1] == DB_VERSION
    assert [k for k, _ in write_order(mirror)] == sorted(mirror)


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (DayHours(time(8, 0), time(19, 0)), "08:00-18:59"),
        (DayHours(time(8, 0), time(15, 30)), "08:00-15:29"),
        (DayHours(time(0, 0), time(23, 59)), "00:00-23:58"),
        (DayHours(time(9, 15), time(9, 16)), "09:15-09:15"),
        (DayHours(time(8, 0), time(19, 0, 30)), "08:00-19:00"),
        (DayHours(time(8, 0, 30), time(8, 1)), "closed"),
        (None, "closed"),
    ],
)
def test_opening_ranges_for_gotoiftime_include_the_end_minute(
    hours: DayHours | None, expected: str
) -> None:
    assert gotoiftime_range(hours) == expected


def test_hours_mirror_numbers_days_as_strftime_u_and_has_the_holiday() -> None:
    weekly = WeeklyHours(
        days={0: DayHours(time(8, 0), time(19, 0)), 5: DayHours(time(10, 0), time(14, 0))},
        holiday=None,
    )
    assert hours_mirror(weekly) == {
        "hours_1": "08:00-18:59",  # Monday: STRFTIME %u = 1
        "hours_2": "closed",
        "hours_3": "closed",
        "hours_4": "closed",
        "hours_5": "closed",
        "hours_6": "10:00-13:59",  # Saturday
        "hours_7": "closed",
        "hours_HOLIDAY": "closed",
    }


def test_global_names_are_the_keys_in_capitals() -> None:
    assert global_name("override_until") == "IVR211_OVERRIDE_UNTIL"
    assert global_name("dest_MENUS_TRAVAUX") == "IVR211_DEST_MENUS_TRAVAUX"
    assert global_name("hours_HOLIDAY") == "IVR211_HOURS_HOLIDAY"
    assert global_name(DB_VERSION) == "IVR211_VERSION"


def test_dest_token_is_what_the_dialplan_globals_use() -> None:
    assert dest_token("menus-travaux") == "MENUS_TRAVAUX"
    assert dest_token("988") == "988"
