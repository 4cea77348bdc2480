"""What the dialplan must know without the FastAGI server: the line's values.

The dialplan's fallback decides open/closed from these when the server cannot be
reached, and the navigators' transfer codes dial the numbers kept here, so an
administrator's change reaches Asterisk without a dialplan edit or a reload.
``line_mirror`` computes them once for both writers: the FastAGI server puts them in
AstDB (family ``ivr.dialplan.ASTDB_FAMILY``) during calls, the AMI listener pushes them
as dialplan globals (``ivr.dialplan.global_name``) within seconds of a change.
"""

from __future__ import annotations

from datetime import datetime, time

from ivr.dialplan import (
    DB_DEST_PREFIX,
    DB_HOURS_PREFIX,
    DB_VERSION,
    HOURS_CLOSED,
    HOURS_DAYS,
    HOURS_HOLIDAY,
    dest_token,
)
from ivr.schedule import astdb_mirror
from ivr.settings import DayHours, LineSettings, WeeklyHours


def directory_mirror(settings: LineSettings) -> dict[str, str]:
    """``dest_<TOKEN>`` -> the destination's number for the centre's territory.

    A destination with no number there maps to ``""``: the dialplan then falls back
    to its ``DEST_<TOKEN>`` global, and an empty one makes the transfer fail cleanly.
    """
    return {
        DB_DEST_PREFIX + dest_token(dest.key): dest.number_for(settings.territory) or ""
        for dest in settings.destinations
    }


def _minute(wall: time) -> int:
    return wall.hour * 60 + wall.minute


def gotoiftime_range(hours: DayHours | None) -> str:
    """``08:00-19:00`` -> ``"08:00-18:59"``: GotoIfTime includes the end minute, the
    settings exclude the closing time. A day closed all day is ``"closed"``.

    A closing time with seconds (never written by the admin pages) keeps its minute.
    """
    if hours is None:
        return HOURS_CLOSED
    start = _minute(hours.opens) + (1 if hours.opens.second or hours.opens.microsecond else 0)
    end = _minute(hours.closes) - (0 if hours.closes.second or hours.closes.microsecond else 1)
    if end < start:
        return HOURS_CLOSED
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def hours_mirror(weekly: WeeklyHours) -> dict[str, str]:
    """``hours_1`` (Monday) .. ``hours_7`` (Sunday) and ``hours_HOLIDAY`` -> the day's
    range for GotoIfTime (``gotoiftime_range``)."""
    ranges = {
        DB_HOURS_PREFIX + day: gotoiftime_range(weekly.for_weekday(int(day) - 1))
        for day in HOURS_DAYS
        if day != HOURS_HOLIDAY
    }
    ranges[DB_HOURS_PREFIX + HOURS_HOLIDAY] = gotoiftime_range(weekly.holiday)
    return ranges


def line_mirror(settings: LineSettings, now: datetime) -> dict[str, str]:
    """Every value the dialplan reads, by AstDB key; ``version`` is the settings version.

    Writers put ``version`` after every other value (it sorts last: both writers go in
    key order), so a copy that shows a version holds that version's values.
    """
    return {
        **astdb_mirror(settings.schedule, now),
        **hours_mirror(settings.schedule.weekly),
        **directory_mirror(settings),
        DB_VERSION: str(settings.version),
    }


def write_order(mirror: dict[str, str]) -> list[tuple[str, str]]:
    """The values in the order a writer sends them: by key, ``version`` last."""
    return sorted(mirror.items(), key=lambda item: (item[0] == DB_VERSION, item[0]))
