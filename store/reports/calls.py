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

The queries live by job: where they read (:mod:`store.reports.call_sources`), the summary
(:mod:`store.reports.call_waits`), counts by day, month, hour, language and menu path
(:mod:`store.reports.call_counts`), per navigator (:mod:`store.reports.call_navigators`),
the LANGUES block (:mod:`store.reports.call_languages`) and staffing
(:mod:`store.reports.call_staffing`); every name stays importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from store.reports.basis import Period
from store.reports.call_counts import (
    CallCount,
    PathCount,
    calls_by_day,
    calls_by_language,
    calls_by_month,
    calls_by_weekday_hour,
    closed_choices,
    menu_choices,
    routes,
)
from store.reports.call_languages import (
    LANGUAGE_LABELS_FR,
    LANGUES_FOOTNOTE,
    LANGUES_TITLE,
    LanguageLine,
    format_percent,
    language_lines,
    languages_section,
    languages_text,
)
from store.reports.call_navigators import NavigatorFigures, navigator_figures
from store.reports.call_sources import DEFAULT_THRESHOLDS, Thresholds
from store.reports.call_staffing import (
    StaffingHour,
    agents_needed,
    erlang_c,
    erlang_service_level,
    staffing,
)
from store.reports.call_waits import CallSummary, call_summary, nearest_rank

__all__ = [
    "DEFAULT_THRESHOLDS",
    "LANGUAGE_LABELS_FR",
    "LANGUES_FOOTNOTE",
    "LANGUES_TITLE",
    "CallCount",
    "CallReport",
    "CallSummary",
    "LanguageLine",
    "NavigatorFigures",
    "PathCount",
    "StaffingHour",
    "Thresholds",
    "agents_needed",
    "call_report",
    "call_summary",
    "calls_by_day",
    "calls_by_language",
    "calls_by_month",
    "calls_by_weekday_hour",
    "closed_choices",
    "erlang_c",
    "erlang_service_level",
    "format_percent",
    "languages_section",
    "languages_text",
    "menu_choices",
    "navigator_figures",
    "nearest_rank",
    "routes",
    "staffing",
]


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
        languages=language_lines(by_language),
        navigators=navigator_figures(session, period, raw=raw),
        staffing=staffing(session, period, thresholds, raw=raw),
    )
