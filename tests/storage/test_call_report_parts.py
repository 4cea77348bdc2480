"""The pieces of the call reports that need no year of calls: Erlang C against values
worked by hand, the LANGUES block as the annual report prints it, percentiles, the
thresholds a centre may set, and the CSV of every table."""

from __future__ import annotations

import math
from datetime import date

import pytest

from store import reports as r
from store.reports.calls import nearest_rank


def test_erlang_c_matches_the_queues_solved_by_hand() -> None:
    # M/M/1 with load 0.5: a caller waits with probability 0.5.
    assert r.erlang_c(1, 0.5) == pytest.approx(0.5)
    # M/M/2 with one erlang: C = (1/2 * 2/(2-1)) / (1 + 1 + 1) = 1/3.
    assert r.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert r.erlang_c(2, 2.0) == 1.0  # as many erlangs as navigators: everyone waits
    # Service level within 20 s, M/M/2, one erlang of 180 s calls: 1 - C e^{-(2-1)20/180}.
    assert r.erlang_service_level(2, 1.0, 180.0, 20.0) == pytest.approx(1 - math.exp(-20 / 180) / 3)


def test_agents_needed_is_the_fewest_that_reach_the_target() -> None:
    rate, handle = 100 / 1800, 180.0  # 100 calls in half an hour, 3 minutes each: 10 E
    needed = r.agents_needed(rate, handle, 0.8, 20.0)
    assert r.erlang_service_level(needed, 10.0, handle, 20.0) >= 0.8
    assert r.erlang_service_level(needed - 1, 10.0, handle, 20.0) < 0.8
    assert needed > 10
    assert r.agents_needed(0.0, handle, 0.8, 20.0) == 0


def test_nearest_rank_percentiles_of_a_histogram() -> None:
    histogram = [(3, 1), (10, 2), (40, 1)]  # 3, 10, 10, 40
    assert nearest_rank(histogram, 50) == 10
    assert nearest_rank(histogram, 90) == 40
    assert nearest_rank(histogram, 25) == 3
    assert nearest_rank([], 50) is None


def test_the_langues_block_reads_as_the_annual_report_prints_it() -> None:
    lines = (
        r.LanguageLine("fr", "Français", 9936, 99.36),
        r.LanguageLine("en", "Anglais", 49, 0.49),
        r.LanguageLine("interpreter", "Autres", 15, 0.15),
    )
    assert r.languages_text(lines) == (
        "LANGUES*\n"
        "  99,36\u00a0% Français\n"
        "  0,49\u00a0% Anglais\n"
        "  0,15\u00a0% Autres\n" + r.LANGUES_FOOTNOTE + "\n"
    )


def test_thresholds_out_of_range_are_refused() -> None:
    with pytest.raises(r.ReportError, match="short_abandon_s"):
        r.Thresholds(short_abandon_s=-1)
    with pytest.raises(r.ReportError, match="service_levels_s"):
        r.Thresholds(service_levels_s=())
    with pytest.raises(r.ReportError, match="target"):
        r.Thresholds(service_level_target=1.5)


def test_the_csv_guard_the_separator_and_the_decimal_mark() -> None:
    menu = r.menu_csv([("=HYPERLINK(1)", 3), ("open/lang:fr/main:1", 2)])
    assert menu.startswith("\ufeffparcours;appels\r\n")
    assert "'=HYPERLINK(1);3\r\n" in menu
    rows = [r.CallCount(date(2026, 4, 1), 5, 3, 2, 1, 0, 1)]
    assert r.days_csv(rows, r.EXCEL_EN).splitlines()[1] == "2026-04-01,5,3,2,1,0,1"
    hours = [r.StaffingHour(9, 2, 7, 6, 1234.5, 7200.0, 2)]
    line = r.staffing_csv(hours).splitlines()[1]
    assert line == "9;2;7;3,500;6;205,750;2;1,000"
