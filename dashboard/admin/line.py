"""The line's options (territory, queue, research mailbox), the menu's timing, and the
keys of the menu callers hear when the line is closed."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_wtf import FlaskForm

from dashboard.admin.forms import (
    MENU_KEYS,
    RESEARCH_CHOICE,
    ClosedMenuForm,
    LineOptionsForm,
    MenuForm,
    choices,
    menu_field,
)
from dashboard.admin.pages import ADMIN, Page, bp, by, fresh, page, post
from dashboard.i18n import current_language
from dashboard.roles import role_required
from ivr import settings as s
from ivr.flow import SWITCH_TO_ENGLISH_KEY
from store import linesettings as ls


def _closed_menu_form(settings: s.LineSettings, formdata: bool) -> ClosedMenuForm:
    data = {menu_field(k): "" for k in MENU_KEYS}
    for digit, key in settings.closed_transfer_keys.items():
        data[menu_field(digit)] = key
    data[menu_field(settings.closed_research_key)] = RESEARCH_CHOICE
    form = ClosedMenuForm() if formdata else ClosedMenuForm(formdata=None, data=data)
    lang_label = "label_en" if current_language() == "en" else "label_fr"
    options = [
        ("", _("(rien)")),
        (RESEARCH_CHOICE, _("Boîte vocale de recherche")),
        *((d.key, f"{getattr(d, lang_label)} ({d.key})") for d in settings.destinations),
    ]
    for key in MENU_KEYS:
        form[menu_field(key)].choices = choices(options)
    return form


@bp.get("/line")
@role_required(ADMIN)
def line(status: int = 200, **forms: FlaskForm) -> Page:
    """The page; after a refused POST, shown again with status 400 and the refused
    form (``options_form``, ``menu_form`` or ``closed_form``)."""
    settings = fresh()
    return page(
        "admin/line.html",
        status,
        options_form=forms.get("options_form")
        or LineOptionsForm(
            formdata=None,
            data={
                "territory": settings.territory,
                "queue_name": settings.queue_name,
                "research_mailbox": settings.research_mailbox,
            },
        ),
        menu_form=forms.get("menu_form")
        or MenuForm(
            formdata=None,
            data={
                "max_attempts": settings.menu.max_attempts,
                "digit_timeout_ms": settings.menu.digit_timeout_ms,
            },
        ),
        closed_form=forms.get("closed_form") or _closed_menu_form(settings, formdata=False),
        menu_keys=[(k, menu_field(k)) for k in MENU_KEYS],
        english_key=SWITCH_TO_ENGLISH_KEY,
    )


@bp.post("/line/options")
@role_required(ADMIN)
def line_options() -> Page:
    form = LineOptionsForm()
    return post(
        form,
        lambda session: ls.set_line_options(
            session,
            by(),
            territory=form.territory.data,
            queue_name=form.queue_name.data,
            research_mailbox=form.research_mailbox.data,
        ),
        "admin.line",
        lambda: line(400, options_form=form),
    )


@bp.post("/line/menu")
@role_required(ADMIN)
def line_menu() -> Page:
    form = MenuForm()
    return post(
        form,
        lambda session: ls.set_menu(
            session, form.max_attempts.data, form.digit_timeout_ms.data, by()
        ),
        "admin.line",
        lambda: line(400, menu_form=form),
    )


@bp.post("/line/closed-menu")
@role_required(ADMIN)
def line_closed_menu() -> Page:
    form = _closed_menu_form(fresh(), formdata=True)
    return post(
        form,
        lambda session: ls.set_closed_menu(session, *form.keys(), by()),
        "admin.line",
        lambda: line(400, closed_form=form),
    )
