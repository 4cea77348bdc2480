"""The opening hours as a caller hears them, composed from the settings.

A closed line tells the caller when to call back. Those hours are a line setting
(``WeeklyHours``), so they are never part of a prompt's text: ``spoken_hours`` turns the
settings into a sequence of short prompts of the catalogue (``ivr.prompts``), each played
by STREAM FILE like any other prompt, so a change of hours needs no new recording and
what a caller hears is in the AGI transcript. Asterisk's SAY NUMBER / SAY TIME would
need no prompts but leave no recorded transcript and speak the centre's times in
Asterisk's own words.

For DOMAIN's default (08:00-19:00 every day, holidays included) the French caller hears
"Nous vous répondons" "tous les jours, jours fériés compris" "de" "8 heures" "à"
"19 heures". Days with the same hours are said together, consecutive days as a range
("du lundi" "au vendredi"), closed days last ("Nous sommes fermés" "le dimanche").
Times are said as the hour, then the minutes when there are any, then (in English)
a.m. or p.m.: "15 heures" "30", "3" "30" "p.m.".

Pure: no I/O, no clock; the names here are the catalogue's (``PIECE_NAMES``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import time
from typing import Final

from ivr.actions import PromptRef
from ivr.settings import DayHours, Language, WeeklyHours

DAY_KEYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

HOURS_OPEN: Final = "hours-open"  # "Nous vous répondons" / "We answer"
HOURS_CLOSED: Final = "hours-closed"  # "Nous sommes fermés" / "We are closed"
DAYS_EVERY: Final = "days-every"  # "tous les jours"
DAYS_EVERY_HOLIDAYS: Final = "days-every-holidays"  # "tous les jours, jours fériés compris"
DAYS_HOLIDAYS: Final = "days-holidays"  # "les jours fériés"
AND: Final = "word-and"  # "et" / "and"
TIME_FROM: Final = "time-from"  # "de" / "from"
TIME_TO: Final = "time-to"  # "à" / "to"
TIME_AM: Final = "time-am"  # English only
TIME_PM: Final = "time-pm"  # English only
# A run of at least this many consecutive days is said as a range ("du lundi au
# vendredi"); shorter runs day by day ("le samedi et le dimanche").
RANGE_MIN_DAYS: Final = 3


def day_piece(day: int) -> str:
    """``0`` -> ``day-mon`` ("le lundi" / "on Monday")."""
    return f"day-{DAY_KEYS[day]}"


def from_day_piece(day: int) -> str:
    """``0`` -> ``from-day-mon`` ("du lundi" / "Monday"), the start of a range."""
    return f"from-day-{DAY_KEYS[day]}"


def to_day_piece(day: int) -> str:
    """``4`` -> ``to-day-fri`` ("au vendredi" / "to Friday"), the end of a range."""
    return f"to-day-{DAY_KEYS[day]}"


def hour_piece(hour: int) -> str:
    """``19`` -> ``hour-19`` ("19 heures" / "7")."""
    if not 0 <= hour <= 23:
        raise ValueError(f"no hour {hour}")
    return f"hour-{hour}"


def minute_piece(minute: int) -> str:
    """``30`` -> ``minute-30`` ("30" / "30"); ``5`` -> ``minute-5`` ("5" / "oh 5")."""
    if not 1 <= minute <= 59:
        raise ValueError(f"no minute piece for {minute}")
    return f"minute-{minute}"


PIECE_NAMES: Final = frozenset(
    {HOURS_OPEN, HOURS_CLOSED, DAYS_EVERY, DAYS_EVERY_HOLIDAYS, DAYS_HOLIDAYS, AND}
    | {TIME_FROM, TIME_TO, TIME_AM, TIME_PM}
    | {f(day) for day in range(7) for f in (day_piece, from_day_piece, to_day_piece)}
    | {hour_piece(hour) for hour in range(24)}
    | {minute_piece(minute) for minute in range(1, 60)}
)
ENGLISH_ONLY_PIECES: Final = frozenset({TIME_AM, TIME_PM})


def _time(wall: time, language: Language) -> list[str]:
    names = [hour_piece(wall.hour)]
    if wall.minute:
        names.append(minute_piece(wall.minute))
    if language == "en":
        names.append(TIME_AM if wall.hour < 12 else TIME_PM)
    return names


def _runs(days: Sequence[int]) -> Iterator[tuple[int, int]]:
    """``[0, 1, 2, 3, 4, 6]`` -> ``(0, 4), (6, 6)``: consecutive days, Monday first."""
    start = previous = days[0]
    for day in days[1:]:
        if day != previous + 1:
            yield start, previous
            start = day
        previous = day
    yield start, previous


def _joined(items: Sequence[Sequence[str]]) -> list[str]:
    """Items one after the other, "and" before the last: "A", "B", "and", "C"."""
    names: list[str] = []
    for index, item in enumerate(items):
        if index and index == len(items) - 1:
            names.append(AND)
        names.extend(item)
    return names


def _days(days: Sequence[int], holiday: bool) -> list[str]:
    if len(days) == len(DAY_KEYS):
        return [DAYS_EVERY_HOLIDAYS if holiday else DAYS_EVERY]
    items: list[list[str]] = []
    for start, end in _runs(days) if days else ():
        if end - start + 1 >= RANGE_MIN_DAYS:
            items.append([from_day_piece(start), to_day_piece(end)])
        else:
            items.extend([day_piece(day)] for day in range(start, end + 1))
    if holiday:
        items.append([DAYS_HOLIDAYS])
    return _joined(items)


def _groups(weekly: WeeklyHours) -> list[tuple[DayHours | None, list[int], bool]]:
    """(hours, days, holidays too) for each distinct hours, in the order of their first
    day; holiday hours that no weekday has come last."""
    days_by_hours: dict[DayHours | None, list[int]] = {}
    for day in range(len(DAY_KEYS)):
        days_by_hours.setdefault(weekly.for_weekday(day), []).append(day)
    groups = [(hours, days, hours == weekly.holiday) for hours, days in days_by_hours.items()]
    if weekly.holiday not in days_by_hours:
        groups.append((weekly.holiday, [], True))
    return groups


def spoken_hours(weekly: WeeklyHours, language: Language) -> tuple[PromptRef, ...]:
    """The prompts that say ``weekly`` in ``language``: the open days and their hours,
    then the closed days; nothing at all if the line is never open."""
    groups = _groups(weekly)
    open_items = [
        [
            *_days(days, holiday),
            TIME_FROM,
            *_time(hours.opens, language),
            TIME_TO,
            *_time(hours.closes, language),
        ]
        for hours, days, holiday in groups
        if hours is not None
    ]
    if not open_items:
        return ()
    names = [HOURS_OPEN, *_joined(open_items)]
    closed = [(days, holiday) for hours, days, holiday in groups if hours is None]
    for days, holiday in closed:
        names += [HOURS_CLOSED, *_days(days, holiday)]
    return tuple(PromptRef(name, language) for name in names)
