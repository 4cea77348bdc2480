"""The opening hours as a caller hears them: composed from the settings (ivr.hours)."""

from __future__ import annotations

from datetime import time

import pytest

from ivr.hours import ENGLISH_ONLY_PIECES, PIECE_NAMES, spoken_hours
from ivr.prompts import CATALOGUE, prompt_text
from ivr.settings import LANGUAGES, DayHours, Language, WeeklyHours

DAY = DayHours(time(8), time(19))
SHORT = DayHours(time(8), time(15, 30))
EVENING = DayHours(time(12, 5), time(21))


def week(days: dict[int, DayHours | None], holiday: DayHours | None) -> WeeklyHours:
    return WeeklyHours(days={d: days.get(d) for d in range(7)}, holiday=holiday)


CASES = [
    # (weekly hours, language, prompt names)
    pytest.param(
        week(dict.fromkeys(range(7), DAY), DAY), "fr",
        ["hours-open", "days-every-holidays", "time-from", "hour-8", "time-to", "hour-19"],
        id="domain-default-fr",
    ),
    pytest.param(
        week(dict.fromkeys(range(7), DAY), DAY), "en",
        ["hours-open", "days-every-holidays", "time-from", "hour-8", "time-am", "time-to",
         "hour-19", "time-pm"],
        id="domain-default-en",
    ),
    pytest.param(
        week({**dict.fromkeys(range(5), DAY), 5: SHORT, 6: SHORT}, SHORT), "fr",
        ["hours-open", "from-day-mon", "to-day-fri", "time-from", "hour-8", "time-to",
         "hour-19", "word-and", "day-sat", "day-sun", "word-and", "days-holidays", "time-from",
         "hour-8", "time-to", "hour-15", "minute-30"],
        id="shorter-weekends-and-holidays",
    ),
    pytest.param(
        week(dict.fromkeys(range(7), DAY), SHORT), "fr",
        ["hours-open", "days-every", "time-from", "hour-8", "time-to", "hour-19", "word-and",
         "days-holidays", "time-from", "hour-8", "time-to", "hour-15", "minute-30"],
        id="every-day-shorter-holidays",
    ),
    pytest.param(
        week(dict.fromkeys(range(6), DAY), None), "fr",
        ["hours-open", "from-day-mon", "to-day-sat", "time-from", "hour-8", "time-to",
         "hour-19", "hours-closed", "day-sun", "word-and", "days-holidays"],
        id="closed-sunday-and-holidays",
    ),
    pytest.param(
        week({0: DAY, 2: DAY, 4: DAY, 6: EVENING}, None), "en",
        ["hours-open", "day-mon", "day-wed", "word-and", "day-fri", "time-from", "hour-8",
         "time-am", "time-to", "hour-19", "time-pm", "word-and", "day-sun", "time-from",
         "hour-12", "minute-5", "time-pm", "time-to", "hour-21", "time-pm", "hours-closed",
         "day-tue", "day-thu", "day-sat", "word-and", "days-holidays"],
        id="scattered-days",
    ),
    pytest.param(
        week({}, DAY), "fr",
        ["hours-open", "days-holidays", "time-from", "hour-8", "time-to", "hour-19",
         "hours-closed", "days-every"],
        id="holidays-only",
    ),
    pytest.param(
        week({0: DayHours(time(0), time(0, 30))}, None), "en",
        ["hours-open", "day-mon", "time-from", "hour-0", "time-am", "time-to", "hour-0",
         "minute-30", "time-am", "hours-closed", "from-day-tue", "to-day-sun", "word-and",
         "days-holidays"],
        id="midnight",
    ),
    pytest.param(week({}, None), "fr", [], id="never-open"),
]  # fmt: skip


@pytest.mark.parametrize(("weekly", "language", "names"), CASES)
def test_spoken_hours(weekly: WeeklyHours, language: Language, names: list[str]) -> None:
    refs = spoken_hours(weekly, language)
    assert [ref.name for ref in refs] == names
    assert {ref.language for ref in refs} <= {language}


def test_the_domain_default_reads_as_one_sentence() -> None:
    weekly = week(dict.fromkeys(range(7), DAY), DAY)
    said = {
        lang: " ".join(prompt_text(ref) for ref in spoken_hours(weekly, lang)) for lang in LANGUAGES
    }
    assert said == {
        "fr": "Nous vous répondons tous les jours, jours fériés compris de 8 heures à 19 heures",
        "en": "We answer every day, holidays included from 8 a.m. to 7 p.m.",
    }


def test_minutes_and_special_hours_read_right() -> None:
    weekly = week({0: DayHours(time(12, 1), time(21, 31))}, None)
    said = " ".join(prompt_text(ref) for ref in spoken_hours(weekly, "fr"))
    assert "de midi une à vingt et une heures trente et une" in said


def test_every_piece_is_in_the_catalogue_in_its_languages() -> None:
    for name in PIECE_NAMES:
        languages = {"en"} if name in ENGLISH_ONLY_PIECES else {"fr", "en"}
        assert set(CATALOGUE[name]) == languages, name


def test_every_time_of_day_can_be_said() -> None:
    for hour in range(24):
        for minute in range(60):
            if (hour, minute) == (23, 59):
                continue
            opens = time(hour, minute)
            closes = time(23, 59)
            for language in LANGUAGES:
                refs = spoken_hours(week({0: DayHours(opens, closes)}, None), language)
                for ref in refs:
                    assert prompt_text(ref)
