"""What every admin page shares: the blueprint, the page frame, and the shape of a form
posted to change something (``post``).

A change runs in one short write transaction (``apply``); a refusal of the store's
change function is flashed as it is and the page is shown again with status 400. After
a change the page redirects (POST/redirect/GET, ``done``) and shows the line's state read
afresh (``fresh``), not the few-seconds cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import db
from dashboard.admin.forms import CsrfOnlyForm
from dashboard.refusals import refusal_text
from ivr import settings as s
from ivr.schedule import LineState, compute_state
from store import accounts, navigators
from store import linesettings as ls

bp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN = "admin"
DAY_LABELS = {
    "mon": _l("Lundi"),
    "tue": _l("Mardi"),
    "wed": _l("Mercredi"),
    "thu": _l("Jeudi"),
    "fri": _l("Vendredi"),
    "sat": _l("Samedi"),
    "sun": _l("Dimanche"),
    "holiday": _l("Jours fériés"),
}
REASONS = {
    "hours": _l("heures d'ouverture"),
    "after_hours": _l("en dehors des heures d'ouverture"),
    "holiday": _l("jour férié"),
    "closure": _l("fermeture exceptionnelle"),
    "override_open": _l("ouverture forcée"),
    "override_closed": _l("fermeture forcée"),
}

T = TypeVar("T")
Page = str | WerkzeugResponse | tuple[str, int]
REFUSED = (ls.SettingsChangeError, accounts.AccountError, navigators.NavigatorError)

__all__ = [
    "ADMIN",
    "DAY_LABELS",
    "Page",
    "apply",
    "bp",
    "by",
    "done",
    "field_errors",
    "fresh",
    "is_post",
    "page",
    "post",
]


def by() -> str:
    """Who makes the change (the settings' history and the logs name them)."""
    name: str = current_user.username
    return name


def is_post() -> bool:
    return request.method == "POST"


def fresh() -> s.LineSettings:
    """The settings read now, not the few-seconds cache: a page shown right after a
    change must show that change."""
    return db.settings_store().load(db.now())


def apply(change: Callable[[Session], T]) -> tuple[bool, T | None]:
    """Run one change in a short write transaction; a refusal is flashed, not raised."""
    try:
        with db.write() as session:
            result = change(session)
    except REFUSED as exc:
        flash(_("Changement refusé : %(why)s", why=refusal_text(exc)), "error")
        return False, None
    return True, result


def done(endpoint: str, **values: Any) -> WerkzeugResponse:
    """After a change: drop the cached settings, say so, and show ``endpoint`` again."""
    db.context().settings.invalidate()
    flash(_("Enregistré. Le changement prend effet en quelques secondes."), "success")
    return redirect(url_for(endpoint, **values))


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """An admin page, with the line's settings and state as they are now."""
    settings = fresh()
    now = db.now()
    state: LineState = compute_state(settings.schedule, now)
    return (
        render_template(
            template,
            settings=settings,
            state=state,
            now_form=CsrfOnlyForm(formdata=None),
            reason=REASONS.get(state.reason, state.reason),
            now=now,
            day_labels=DAY_LABELS,
            **context,
        ),
        status,
    )


def field_errors(form: FlaskForm) -> None:
    """Fields show their own errors; an expired form gets a message of its own."""
    if "csrf_token" in form.errors:
        flash(_("Le formulaire a expiré ou n'est pas valide : rechargez la page."), "error")


def post(
    form: FlaskForm,
    change: Callable[[Session], T],
    saved: str | Callable[[T | None], WerkzeugResponse],
    again: Callable[[], Page],
    *,
    meaning: Callable[[], bool] | None = None,
    **values: Any,
) -> Page:
    """A form posted to change something, the one shape of every admin POST.

    The fields are checked, then (``meaning``, optional) what they mean: it puts its
    complaint on a field and returns False. The ``change`` runs in one write transaction
    (``apply``); then ``saved``: an endpoint to redirect to (``done``, with the URL's
    ``values``), or a function of the change's result that answers. A form refused, or
    a change the store refuses, shows the page again: ``again()``, with status 400.
    """
    if form.validate_on_submit() and (meaning is None or meaning()):
        ok, result = apply(change)
        if ok:
            return done(saved, **values) if isinstance(saved, str) else saved(result)
    field_errors(form)
    return again()
