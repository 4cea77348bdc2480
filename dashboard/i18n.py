"""French first, English on request: Flask-Babel, with the Québec formats.

The strings in the code and templates are the French text (``_("Se connecter")``); the
English catalogue is dashboard/translations/en/LC_MESSAGES/messages.po. It is compiled
to a .mo in the instance folder when the app starts and the .po is newer, so there is
no build step and nothing generated in the repository.

The language is the visitor's choice (the switch in the header, kept in the session),
else the user's saved language, else French. Dates and numbers use the Québec locales
(fr_CA: "28 nov. 2026", "1 234"; en_CA for English) and the line's time zone; phone
numbers are grouped the Québec way in both ("418 555-0177", ``ivr.phone``).
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, session
from flask_babel import Babel, format_date, format_decimal, format_time
from flask_login import current_user

from dashboard.db import line_settings
from ivr.phone import format_phone
from store.accounts import LANGUAGES

SOURCE_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "fr"
LOCALES = {"fr": "fr_CA", "en": "en_CA"}
SESSION_KEY = "lang"

__all__ = [
    "DEFAULT_LANGUAGE",
    "LOCALES",
    "compile_catalogs",
    "current_language",
    "format_duration",
    "init_app",
]


def compile_catalogs(source: Path, target: Path) -> list[Path]:
    """Compile every ``<lang>/LC_MESSAGES/*.po`` under ``source`` whose .mo under
    ``target`` is missing or older; returns the files written. The .mo is written to a
    temporary file and renamed, so a second process starting at once never reads half.
    """
    written = []
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo_path = target / po_path.relative_to(source).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parts[-3])
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog, use_fuzzy=False)
            os.replace(tmp, mo_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(mo_path)
    return written


def current_language() -> str:
    chosen = session.get(SESSION_KEY)
    if chosen in LANGUAGES:
        return str(chosen)
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return str(current_user.language)
    return DEFAULT_LANGUAGE


def _select_locale() -> str:
    return LOCALES[current_language()]


def _select_timezone() -> str:
    return line_settings().schedule.timezone


def format_duration(seconds: float | None) -> str:
    """``75`` -> ``1 min 15 s``; ``3700`` -> ``1 h 01 min`` (the same in both languages)."""
    if seconds is None:
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _date(value: date | datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return "–"
    return str(format_date(value, fmt))


def _datetime(value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return "–"
    return f"{format_date(value, fmt)}, {format_time(value, 'short')}"


def _time(value: datetime | None) -> str:
    return "–" if value is None else format_time(value, "short")


def _number(value: float | int | None) -> str:
    return "–" if value is None else format_decimal(value)


def init_app(app: Flask, instance_path: Path) -> None:
    target = instance_path / "translations"
    compile_catalogs(SOURCE_DIR, target)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LOCALES[DEFAULT_LANGUAGE])
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(target)
    app.config["BABEL_DOMAIN"] = DOMAIN
    Babel(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    app.jinja_env.filters["date"] = _date
    app.jinja_env.filters["datetime"] = _datetime
    app.jinja_env.filters["time"] = _time
    app.jinja_env.filters["number"] = _number
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.filters["phone"] = format_phone
    app.jinja_env.globals["current_language"] = current_language
