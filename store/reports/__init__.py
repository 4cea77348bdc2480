"""The managers' reports: aggregates of the transfer records, never the records' personal data.

Every figure is aggregated in the database (GROUP BY on the plain ``local_date``,
``local_hour`` and ``fiscal_year`` columns the writer fills in the line's time zone),
so a year of a million records comes back as a few dozen rows.

What counts (DOMAIN.md, "Warm transfer" and "The annual report"):

* "avec bascule" is a transfer *done*: kind attended, blind or three-way with outcome
  ``completed``. An abandoned, busy, unanswered or failed attempt is not a transfer and
  is not counted there, nor is one where the caller hung up during the consultation
  (``caller_hung_up``): the outcomes table shows every attempt, one column per outcome.
* An answer delay counts only when the service itself answered: a consultation
  answered by our own "transfer failed" prompt has none (``listener.outcome``), and a
  busy or unanswered attempt never counts, even if an older record carries a delay.
* "sans bascule" is a referral without transfer (kind ``referral``, outcome
  ``completed``, which is how the console records one).
* Each destination counts in its ``report_group`` (destinations table): 988 with the
  suicide-prevention line unless the centre gives it a group of its own, 811 once.
  Destinations of kind ``partner`` are reported apart, as direct transfers per programme.

Numbers are formatted for fr_CA by Babel (CLDR): the thousands separator is a no-break
space (U+00A0 for fr_CA; U+202F is France's).

One module per part, each importing only those before it: ``basis`` (periods, what
counts, the destination directory), ``figures`` (the report pages' queries), ``annual``
(the annual report's section), ``calls`` (the call reports, from ``store.rollups``; its
queries by job in ``call_sources``, ``call_waits``, ``call_counts``, ``call_navigators``,
``call_languages`` and ``call_staffing``), ``exports`` and ``call_exports`` (CSV).
Callers import from the package (``from store import reports as r``).
"""

from __future__ import annotations

from store.reports.annual import (
    ANNUAL_AVEC,
    ANNUAL_FOOTNOTE,
    ANNUAL_SANS,
    DEFAULT_REPORT_GROUPS,
    PARTNERS_TITLE,
    REPORT_LOCALE,
    AnnualLine,
    AnnualSection,
    annual_section,
    annual_text,
    format_count,
    partners_text,
)
from store.reports.basis import (
    ATTEMPT_OUTCOMES,
    BASCULE_KINDS,
    COMPLETED,
    MAX_PERIOD_DAYS,
    REFERRAL_KIND,
    UNANSWERED_OUTCOMES,
    UNKNOWN_DESTINATION_EN,
    UNKNOWN_DESTINATION_FR,
    DestinationInfo,
    Period,
    PeriodError,
    ReportError,
    current_fiscal_year,
    destinations,
    fiscal_years,
    today_on_line,
)
from store.reports.call_exports import (
    NAVIGATOR_COLUMNS,
    STAFFING_COLUMNS,
    closed_csv,
    days_csv,
    heat_csv,
    languages_csv,
    menu_csv,
    months_csv,
    navigators_csv,
    routes_csv,
    staffing_csv,
    summary_csv,
    table_csv,
)
from store.reports.calls import (
    DEFAULT_THRESHOLDS,
    LANGUAGE_LABELS_FR,
    LANGUES_FOOTNOTE,
    LANGUES_TITLE,
    CallCount,
    CallReport,
    CallSummary,
    LanguageLine,
    NavigatorFigures,
    StaffingHour,
    Thresholds,
    agents_needed,
    call_report,
    call_summary,
    calls_by_day,
    calls_by_language,
    calls_by_month,
    calls_by_weekday_hour,
    closed_choices,
    erlang_c,
    erlang_service_level,
    format_percent,
    languages_section,
    languages_text,
    menu_choices,
    navigator_figures,
    routes,
    staffing,
)
from store.reports.exports import (
    BOM,
    COUNT_COLUMNS,
    EXCEL_EN,
    EXCEL_FR,
    OUTCOME_COLUMN_NAMES,
    OUTCOME_COLUMNS,
    RECORD_COLUMNS,
    CsvFormat,
    counts_csv,
    outcomes_csv,
    records_csv,
)
from store.reports.figures import (
    AnswerTime,
    BucketCount,
    CountRow,
    NavigatorCount,
    OutcomeRow,
    answer_times,
    by_hour,
    by_navigator,
    counts,
    monthly,
    outcomes,
)

__all__ = [
    "ANNUAL_AVEC",
    "ANNUAL_FOOTNOTE",
    "ANNUAL_SANS",
    "ATTEMPT_OUTCOMES",
    "BASCULE_KINDS",
    "BOM",
    "COMPLETED",
    "COUNT_COLUMNS",
    "DEFAULT_REPORT_GROUPS",
    "DEFAULT_THRESHOLDS",
    "EXCEL_EN",
    "EXCEL_FR",
    "LANGUAGE_LABELS_FR",
    "LANGUES_FOOTNOTE",
    "LANGUES_TITLE",
    "MAX_PERIOD_DAYS",
    "NAVIGATOR_COLUMNS",
    "OUTCOME_COLUMNS",
    "OUTCOME_COLUMN_NAMES",
    "PARTNERS_TITLE",
    "RECORD_COLUMNS",
    "REFERRAL_KIND",
    "REPORT_LOCALE",
    "STAFFING_COLUMNS",
    "UNANSWERED_OUTCOMES",
    "UNKNOWN_DESTINATION_EN",
    "UNKNOWN_DESTINATION_FR",
    "AnnualLine",
    "AnnualSection",
    "AnswerTime",
    "BucketCount",
    "CallCount",
    "CallReport",
    "CallSummary",
    "CountRow",
    "CsvFormat",
    "DestinationInfo",
    "LanguageLine",
    "NavigatorCount",
    "NavigatorFigures",
    "OutcomeRow",
    "Period",
    "PeriodError",
    "ReportError",
    "StaffingHour",
    "Thresholds",
    "agents_needed",
    "annual_section",
    "annual_text",
    "answer_times",
    "by_hour",
    "by_navigator",
    "call_report",
    "call_summary",
    "calls_by_day",
    "calls_by_language",
    "calls_by_month",
    "calls_by_weekday_hour",
    "closed_choices",
    "closed_csv",
    "counts",
    "counts_csv",
    "current_fiscal_year",
    "days_csv",
    "destinations",
    "erlang_c",
    "erlang_service_level",
    "fiscal_years",
    "format_count",
    "format_percent",
    "heat_csv",
    "languages_csv",
    "languages_section",
    "languages_text",
    "menu_choices",
    "menu_csv",
    "monthly",
    "months_csv",
    "navigator_figures",
    "navigators_csv",
    "outcomes",
    "outcomes_csv",
    "partners_text",
    "records_csv",
    "routes",
    "routes_csv",
    "staffing",
    "staffing_csv",
    "summary_csv",
    "table_csv",
    "today_on_line",
]
