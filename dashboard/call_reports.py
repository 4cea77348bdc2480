"""The call reports page (managers): every caller counted for any period, the fiscal year
by default, and the CSV of each of its tables.

Every figure comes from ``store.reports`` (the call roll-ups); the thresholds are the
dashboard's options (``[dashboard] report_*``). The period is read as on the transfer
reports (``dashboard.reports.read_period``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from flask import Blueprint, Response, request, url_for
from flask_babel import format_date, format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dashboard import charts, db
from dashboard.callpath import path_in_words
from dashboard.i18n import current_language
from dashboard.reports import _csv_export, _render, read_period
from dashboard.roles import role_required
from store import reports as r

__all__ = ["EXPORTS", "bp", "call_export_links"]

bp = Blueprint("call_reports", __name__, url_prefix="/reports/calls")

WEEKDAYS: tuple[Any, ...] = (
    _l("lundi"),
    _l("mardi"),
    _l("mercredi"),
    _l("jeudi"),
    _l("vendredi"),
    _l("samedi"),
    _l("dimanche"),
)
LANGUAGE_LABELS: Mapping[str, Any] = {
    "fr": _l("Français"),
    "en": _l("Anglais"),
    "interpreter": _l("Autres (interprète)"),
    "none": _l("Aucun choix"),
    "": _l("Inconnue"),
}
LINE_STATE_LABELS: Mapping[str, Any] = {
    "after_hours": _l("Hors des heures"),
    "holiday": _l("Jour férié"),
    "closure": _l("Fermeture exceptionnelle"),
    "override_closed": _l("Fermée manuellement"),
}
ROUTE_LABELS: Mapping[str, Any] = {
    "queue": _l("File des navigateurs"),
    "research": _l("Boîte vocale de recherche"),
    "transfer": _l("Transfert vers un service"),
    "closed": _l("Message de fermeture"),
    "hangup": _l("A raccroché dans le menu"),
    "fallback": _l("Mode de secours"),
    "": _l("Inconnu"),
}


def _seconds(value: float | None) -> str:
    return "" if value is None else str(_("%(n)s s", n=format_decimal(round(value, 1))))


def _hours(value: float) -> str:
    return str(_("%(n)s h", n=format_decimal(round(value / 3600, 1))))


def _percent(value: float | None) -> str:
    return "" if value is None else str(format_percent(value, "#,##0.0 %"))


def _thresholds() -> r.Thresholds:
    return db.options().call_thresholds


def _monthly_chart(months: list[r.CallCount]) -> Any:
    return charts.bar_chart(
        charts.Chart(
            "chart-calls-monthly",
            _("Appels par mois"),
            _("Appels répondus et abandonnés dans la file, par mois."),
            [str(format_date(date(y, m, 1), "MMM yy")) for y, m in (b.key for b in months)],
            [
                charts.Series(_("Répondus"), [b.answered for b in months]),
                charts.Series(_("Abandonnés"), [b.abandoned for b in months]),
            ],
            y_label=_("Appels"),
            fmt=lambda v: str(format_decimal(v)),
            label_every=max(1, len(months) // 12),
        )
    )


def _destination_names() -> dict[str, str]:
    """The directory's keys (``cps``) named in the page's language."""
    english = current_language() == "en"
    return {d.key: d.label_en if english else d.label_fr for d in db.line_settings().destinations}


def _heat_levels(heat: list[r.CallCount]) -> dict[tuple[int, int], int]:
    """0-4 per (weekday, hour): the shade of its cell, from the calls received."""
    top = max((c.received for c in heat), default=0)
    return {c.key: (0 if not top or not c.received else 1 + 3 * c.received // top) for c in heat}


@bp.get("/")
@role_required("manager")
def index() -> tuple[str, int]:
    form = read_period(request.args)
    if form.period is None:
        return _render("reports/calls.html", form)
    thresholds = _thresholds()
    report = r.call_report(db.read_session(), form.period, thresholds)
    names = _destination_names()
    return _render(
        "reports/calls.html",
        form,
        report=report,
        summary=report.summary,
        thresholds=thresholds,
        languages_text=r.languages_text(report.languages),
        monthly_chart=_monthly_chart(report.by_month),
        heat_levels=_heat_levels(report.heat),
        weekdays=WEEKDAYS,
        language_labels=LANGUAGE_LABELS,
        line_state_labels=LINE_STATE_LABELS,
        route_labels=ROUTE_LABELS,
        seconds=_seconds,
        hours=_hours,
        percent=_percent,
        month_label=lambda key: format_date(date(key[0], key[1], 1), "MMMM yyyy"),
        path_text=lambda path: path_in_words(path, names),
        destination_name=lambda key: names.get(key, key) if key else "",
        call_export_links=call_export_links(form.query),
    )


Body = Callable[[r.CallReport, r.CsvFormat], str]

EXPORTS: Mapping[str, tuple[str, Body]] = {
    "summary": ("appels-synthese", lambda rep, fmt: r.summary_csv(rep.summary, fmt)),
    "days": ("appels-par-jour", lambda rep, fmt: r.days_csv(rep.by_day, fmt)),
    "months": ("appels-par-mois", lambda rep, fmt: r.months_csv(rep.by_month, fmt)),
    "heat": ("appels-jour-heure", lambda rep, fmt: r.heat_csv(rep.heat, fmt)),
    "languages": ("appels-par-langue", lambda rep, fmt: r.languages_csv(rep.by_language, fmt)),
    "closed": ("appels-ligne-fermee", lambda rep, fmt: r.closed_csv(rep.closed, fmt)),
    "menu": ("appels-parcours", lambda rep, fmt: r.menu_csv(rep.menu, fmt)),
    "routes": ("appels-acheminement", lambda rep, fmt: r.routes_csv(rep.routes, fmt)),
    "navigators": ("appels-navigateurs", lambda rep, fmt: r.navigators_csv(rep.navigators, fmt)),
    "staffing": ("appels-effectifs", lambda rep, fmt: r.staffing_csv(rep.staffing, fmt)),
}


@bp.get("/<any(" + ", ".join(EXPORTS) + "):table>.csv")
@role_required("manager")
def export(table: str) -> Response:
    prefix, body = EXPORTS[table]

    def content(period: r.Period, fmt: r.CsvFormat) -> str:
        return body(r.call_report(db.read_session(), period, _thresholds()), fmt)

    return _csv_export(prefix, content)


def call_export_links(query: Mapping[str, str]) -> dict[str, str]:
    args: dict[str, Any] = dict(query)
    return {name: url_for("call_reports.export", table=name, **args) for name in EXPORTS}
