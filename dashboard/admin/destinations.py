"""The destination directory: each destination, its numbers per territory, and whether
its short code matches the dialplan's (asterisk_conf/extensions.conf)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from flask import abort, current_app
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session

from dashboard import db
from dashboard.admin.forms import (
    DestinationAddForm,
    DestinationEditForm,
    NumberForm,
    NumberRemoveForm,
)
from dashboard.admin.pages import ADMIN, Page, bp, by, done, fresh, page, post
from dashboard.roles import role_required
from store import linesettings as ls

EXTENSIONS_CONF_KEY = "IVR211_EXTENSIONS_CONF"
DEFAULT_EXTENSIONS_CONF = Path(__file__).resolve().parents[2] / "asterisk_conf" / "extensions.conf"


def _extensions_conf() -> Path:
    return Path(current_app.config.get(EXTENSIONS_CONF_KEY) or DEFAULT_EXTENSIONS_CONF)


def dialplan_problems(destinations: list[ls.DestinationRecord]) -> Mapping[str, str] | None:
    """Destination key -> mismatch with the dialplan's short codes; None if unreadable."""
    try:
        text = _extensions_conf().read_text(encoding="utf-8")
    except OSError:
        return None
    return ls.dialplan_mismatches(destinations, ls.dialplan_transfer_codes(text))


@bp.get("/destinations")
@role_required(ADMIN)
def destinations(status: int = 200, form: DestinationAddForm | None = None) -> Page:
    """The page; after a refused POST, shown again with its form and status 400."""
    settings = fresh()
    rows = ls.list_destinations(db.read_session())
    if form is None:
        form = DestinationAddForm(
            formdata=None, data={"territory": settings.territory, "active": True}
        )
    return page(
        "admin/destinations.html",
        status,
        destinations=rows,
        dialplan_problems=dialplan_problems(rows),
        extensions_conf=_extensions_conf(),
        form=form,
    )


@bp.post("/destinations")
@role_required(ADMIN)
def destination_add() -> Page:
    form = DestinationAddForm()
    return post(
        form,
        lambda session: ls.add_destination(
            session,
            form.key.data,
            form.label_fr.data,
            form.label_en.data,
            form.kind.data,
            form.report_group.data,
            form.short_code.data,
            {form.territory.data.strip(): form.number.data},
            by(),
            active=bool(form.active.data),
        ),
        lambda _record: done("admin.destination", key=form.key.data.strip()),
        lambda: destinations(400, form),
    )


def _destination_record(key: str) -> ls.DestinationRecord:
    for row in ls.list_destinations(db.read_session()):
        if row.key == key:
            return row
    abort(404)


@bp.get("/destinations/<key>")
@role_required(ADMIN)
def destination(key: str, status: int = 200, **forms: FlaskForm) -> Page:
    """The page; after a refused POST, shown again with status 400 and the refused form
    (``edit_form`` or ``number_form``)."""
    record = _destination_record(key)
    problems = dialplan_problems(ls.list_destinations(db.read_session()))
    return page(
        "admin/destination.html",
        status,
        dest=record,
        dialplan_problem=None if problems is None else problems.get(key),
        dialplan_unknown=problems is None,
        extensions_conf=_extensions_conf(),
        edit_form=forms.get("edit_form")
        or DestinationEditForm(
            formdata=None,
            data={
                "label_fr": record.label_fr,
                "label_en": record.label_en,
                "kind": record.kind,
                "report_group": record.report_group,
                "short_code": record.short_code,
                "active": record.active,
            },
        ),
        number_form=forms.get("number_form") or NumberForm(formdata=None, data={"verified": True}),
        remove_form=NumberRemoveForm(formdata=None),
    )


def _post_on_page(
    key: str, form: FlaskForm, change: Callable[[Session], object], shown_as: str = ""
) -> Page:
    """A form posted on a destination's page (404 for an unknown key): back to that page,
    or the page again with status 400 and the refused form as ``shown_as``."""
    _destination_record(key)
    forms = {shown_as: form} if shown_as else {}
    return post(form, change, "admin.destination", lambda: destination(key, 400, **forms), key=key)


@bp.post("/destinations/<key>")
@role_required(ADMIN)
def destination_edit(key: str) -> Page:
    form = DestinationEditForm()
    return _post_on_page(
        key,
        form,
        lambda session: ls.update_destination(
            session,
            key,
            by(),
            label_fr=form.label_fr.data,
            label_en=form.label_en.data,
            kind=form.kind.data,
            report_group=form.report_group.data,
            short_code=form.short_code.data,
            active=bool(form.active.data),
        ),
        "edit_form",
    )


@bp.post("/destinations/<key>/numbers")
@role_required(ADMIN)
def number_set(key: str) -> Page:
    form = NumberForm()
    return _post_on_page(
        key,
        form,
        lambda session: ls.set_destination_number(
            session,
            key,
            form.territory.data.strip(),
            form.number.data,
            by(),
            verified=bool(form.verified.data),
        ),
        "number_form",
    )


@bp.post("/destinations/<key>/numbers/remove")
@role_required(ADMIN)
def number_remove(key: str) -> Page:
    form = NumberRemoveForm()
    return _post_on_page(
        key,
        form,
        lambda session: ls.remove_destination_number(session, key, form.territory.data, by()),
    )
