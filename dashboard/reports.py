"""The managers' reports: counts for any period (the current fiscal year by default), the
annual report's section ready to paste, trends, navigators, outcomes, CSV exports.

Every figure comes from ``store.reports`` (queries beside the models); this module
only reads the period from the query string, picks the user's language, and renders.
The period form is a GET form (bookmarkable, nothing changes on the server), so it
carries no CSRF token; an invalid period answers 400 with the form and what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dashboard import charts, db
from dashboard.echoes import echo
from dashboard.i18n import current_language
from dashboard.roles import role_required
from store import reports as r

bp = Blueprint(
    "reports",
    __name__,
    url_prefix="/reports",
    static_folder="reports_static",
    static_url_path="/static",
)

MIN_YEAR = 2000
MAX_YEAR = 2100

OUTCOME_LABELS: Mapping[str, Any] = {
    "completed": _l("Complété"),
    "abandoned": _l("Abandonné"),
    "busy": _l("Occupé"),
    "not_answered": _l("Sans réponse"),
    "failed": _l("Échoué"),
    "caller_hung_up": _l("L'appelant a raccroché"),
}
KIND_LABELS: Mapping[str, Any] = {
    "emergency": _l("Urgence"),
    "partner": _l("Programme partenaire"),
    "unknown": _l("Hors répertoire"),
}


@dataclass
class PeriodForm:
    """What the period picker sent, and what is wrong with it (field -> message)."""

    start: str
    end: str
    fy: str
    errors: dict[str, str]
    period: r.Period | None

    @property
    def query(self) -> dict[str, str]:
        """The query string that reproduces this period (for links and exports)."""
        if self.period is None:
            return {}
        return {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()}


def _today() -> date:
    return db.now().astimezone(db.line_settings().zone).date()


def _parse_day(field: str, value: str, errors: dict[str, str]) -> date | None:
    if not value:
        errors[field] = _("Date requise (AAAA-MM-JJ).")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[field] = _("Date invalide : « %(value)s » (format AAAA-MM-JJ).", value=echo(value))
        return None


def read_period(args: Mapping[str, str]) -> PeriodForm:
    """The period from ``fy`` (a fiscal year) or ``start``/``end``; none of them means the
    current fiscal year. Messages are in the user's language."""
    start = (args.get("start") or "").strip()
    end = (args.get("end") or "").strip()
    fy = (args.get("fy") or "").strip()
    errors: dict[str, str] = {}
    if fy:
        if not fy.isdigit() or not MIN_YEAR <= int(fy) <= MAX_YEAR:
            errors["fy"] = _("Exercice invalide : « %(value)s ».", value=echo(fy))
            return PeriodForm(echo(start), echo(end), echo(fy), errors, None)
        period = r.Period.fiscal(int(fy))
        return PeriodForm(period.start.isoformat(), period.end.isoformat(), fy, errors, period)
    if not start and not end:
        period = r.current_fiscal_year(_today())
        return PeriodForm(period.start.isoformat(), period.end.isoformat(), "", errors, period)
    first = _parse_day("start", start, errors)
    last = _parse_day("end", end, errors)
    if first is None or last is None:
        # The form shows what was typed again: a long value only as the message does.
        return PeriodForm(echo(start), echo(end), echo(fy), errors, None)
    if last < first:
        errors["end"] = _("La date de fin précède la date de début.")
    elif (last - first).days > r.MAX_PERIOD_DAYS:
        errors["end"] = _("La période est trop longue (vingt ans au plus).")
    if errors:
        return PeriodForm(start, end, fy, errors, None)
    return PeriodForm(start, end, fy, errors, r.Period(first, last))


def _label(fr: str, en: str) -> str:
    return en if current_language() == "en" else fr


def _num(value: float) -> str:
    return str(format_decimal(value))


def _csv_format() -> r.CsvFormat:
    """``sep=semicolon|comma``; by default the one a spreadsheet in the user's language
    expects (French: ";" and a decimal comma)."""
    choice = request.args.get("sep", "")
    if choice == "semicolon":
        return r.EXCEL_FR
    if choice == "comma":
        return r.EXCEL_EN
    return r.EXCEL_EN if current_language() == "en" else r.EXCEL_FR


def _render(template: str, form: PeriodForm, **context: Any) -> tuple[str, int]:
    session = db.read_session()
    years = r.fiscal_years(session, _today())
    status = 400 if form.errors else 200
    return (
        render_template(
            template,
            form=form,
            fiscal_years=years,
            label=_label,
            outcome_labels=OUTCOME_LABELS,
            kind_labels=KIND_LABELS,
            **context,
        ),
        status,
    )


def _transfers_chart(
    chart_id: str, title: str, desc: str, categories: list[str], buckets: list[r.BucketCount]
) -> Any:
    """Transfers with and without a hand-off, per bucket (month or hour), as stacked bars;
    at most about twelve category labels."""
    return charts.bar_chart(
        charts.Chart(
            chart_id,
            title,
            desc,
            categories,
            [
                charts.Series(_("Avec bascule"), [b.avec for b in buckets]),
                charts.Series(_("Sans bascule"), [b.sans for b in buckets]),
            ],
            y_label=_("Nombre"),
            fmt=_num,
            label_every=max(1, len(buckets) // 12),
        )
    )


def _monthly_chart(buckets: list[r.BucketCount]) -> Any:
    return _transfers_chart(
        "chart-monthly",
        _("Tendance mensuelle"),
        _("Transferts avec bascule et références sans bascule, par mois."),
        [str(format_date(date(y, m, 1), "MMM yy")) for y, m in (b.key for b in buckets)],
        buckets,
    )


def _hourly_chart(buckets: list[r.BucketCount]) -> Any:
    return _transfers_chart(
        "chart-hourly",
        _("Par heure de la journée"),
        _("Transferts avec bascule et références sans bascule, par heure locale."),
        [_("%(hour)d h", hour=b.key) for b in buckets],
        buckets,
    )


@bp.get("/")
@role_required("manager")
def index() -> tuple[str, int]:
    form = read_period(request.args)
    if form.period is None:
        return _render("reports/index.html", form)
    session = db.read_session()
    period = form.period
    counts = r.counts(session, period)
    section = r.annual_section(session, period, counted=counts)
    monthly = r.monthly(session, period)
    hourly = r.by_hour(session, period)
    return _render(
        "reports/index.html",
        form,
        counts=counts,
        annual_text=r.annual_text(section),
        partners_text=r.partners_text(section),
        monthly=monthly,
        hourly=hourly,
        monthly_chart=_monthly_chart(monthly),
        hourly_chart=_hourly_chart(hourly),
        month_label=lambda key: format_date(date(key[0], key[1], 1), "MMMM yyyy"),
    )


@bp.get("/navigators")
@role_required("manager")
def navigators() -> tuple[str, int]:
    form = read_period(request.args)
    if form.period is None:
        return _render("reports/navigators.html", form)
    return _render(
        "reports/navigators.html", form, rows=r.by_navigator(db.read_session(), form.period)
    )


@bp.get("/outcomes")
@role_required("manager")
def outcomes() -> tuple[str, int]:
    form = read_period(request.args)
    if form.period is None:
        return _render("reports/outcomes.html", form)
    session = db.read_session()
    return _render(
        "reports/outcomes.html",
        form,
        outcomes=r.outcomes(session, form.period),
        answer_times=r.answer_times(session, form.period),
        outcome_keys=r.ATTEMPT_OUTCOMES,
    )


def _invalid(form: PeriodForm) -> Response:
    text = "\n".join(form.errors.values()) + "\n"
    return Response(text, status=400, mimetype="text/plain")


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@bp.get("/annual.txt")
@role_required("manager")
def annual_txt() -> Response:
    """The annual section alone, as plain UTF-8 text."""
    form = read_period(request.args)
    if form.period is None:
        return _invalid(form)
    section = r.annual_section(db.read_session(), form.period)
    text = r.annual_text(section) + "\n" + r.partners_text(section)
    return Response(text, mimetype="text/plain")


CsvBody = Callable[[r.Period, r.CsvFormat], str | Iterator[str]]


def _csv_export(prefix: str, body: CsvBody) -> Response:
    """The CSV of the query string's period (400 in plain text when it is invalid), as an
    attachment named "<prefix>-<start>-<end>.csv"."""
    form = read_period(request.args)
    if form.period is None:
        return _invalid(form)
    period = form.period
    name = f"{prefix}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    content = body(period, _csv_format())
    return Response(content, mimetype="text/csv", headers=_attachment(name))


@bp.get("/counts.csv")
@role_required("manager")
def counts_csv() -> Response:
    return _csv_export(
        "comptes", lambda period, fmt: r.counts_csv(r.counts(db.read_session(), period), fmt)
    )


@bp.get("/outcomes.csv")
@role_required("manager")
def outcomes_csv() -> Response:
    """The outcomes table: transfer attempts per destination, one column per outcome."""
    return _csv_export(
        "resultats", lambda period, fmt: r.outcomes_csv(r.outcomes(db.read_session(), period), fmt)
    )


@bp.get("/records.csv")
@role_required("manager")
def records_csv() -> Response:
    """Every record of the period, streamed; no caller number (store.reports.RECORD_COLUMNS)."""
    sessions = db.context().reads

    def stream(period: r.Period, fmt: r.CsvFormat) -> Iterator[str]:
        def generate() -> Iterator[str]:
            with sessions() as session:
                yield from r.records_csv(session, period, fmt)

        return stream_with_context(generate())

    return _csv_export("transferts", stream)


def export_links(form: PeriodForm) -> dict[str, str]:
    """The export URLs for the form's period (used by the templates)."""
    query: dict[str, Any] = dict(form.query)
    return {
        "counts": url_for("reports.counts_csv", **query),
        "outcomes": url_for("reports.outcomes_csv", **query),
        "records": url_for("reports.records_csv", **query),
        "annual": url_for("reports.annual_txt", **query),
    }


@bp.context_processor
def _links() -> dict[str, Any]:
    return {"report_export_links": export_links}
