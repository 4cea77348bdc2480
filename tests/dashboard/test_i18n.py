"""French first, English complete, Québec formats, catalogues compiled when stale."""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask, render_template_string, session
from flask_babel import refresh

from dashboard.i18n import SOURCE_DIR, compile_catalogs, format_duration

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
PO = SOURCE_DIR / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}


def _source_messages() -> dict[str, str]:
    found: dict[str, str] = {}
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(DASHBOARD), method_map, keywords=KEYWORDS
    ):
        text = message[0] if isinstance(message, tuple) else message
        found.setdefault(text, f"dashboard/{filename}:{lineno}")
    return found


def test_every_french_string_has_an_english_translation() -> None:
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    missing = [
        f"{where}: {text!r}"
        for text, where in sorted(_source_messages().items(), key=lambda item: item[1])
        if not (catalog.get(text) and catalog.get(text).string)  # type: ignore[union-attr]
    ]
    assert missing == []


def test_no_msgid_twice_in_the_catalogue() -> None:
    ids = re.findall(r'^msgid "(.*)"$', PO.read_text(encoding="utf-8"), flags=re.MULTILINE)
    twice = [text for text, count in Counter(ids).items() if count > 1 and text]
    assert twice == []


def test_catalogues_compile_only_when_stale(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "en" / "LC_MESSAGES").mkdir(parents=True)
    po = source / "en" / "LC_MESSAGES" / "messages.po"
    po.write_text('msgid ""\nmsgstr ""\n"Language: en\\n"\n\nmsgid "Bonjour"\nmsgstr "Hello"\n')
    target = tmp_path / "out"
    assert compile_catalogs(source, target) == [target / "en" / "LC_MESSAGES" / "messages.mo"]
    assert compile_catalogs(source, target) == []
    later = po.stat().st_mtime + 10
    os.utime(po, (later, later))
    assert len(compile_catalogs(source, target)) == 1


def test_quebec_formats_in_french_and_english(app: Flask) -> None:
    template = (
        "{{ day|date }} | {{ at|datetime }} | {{ 1234|number }} | {{ 1234.5|number }}"
        " | {{ none|date }} | {{ 75|duration }}"
    )
    values = {
        "day": date(2026, 11, 28),
        "at": datetime(2026, 11, 28, 19, 5, tzinfo=UTC),  # 14:05 in Québec
        "none": None,
    }
    with app.test_request_context("/"):
        french = render_template_string(template, **values)
        session["lang"] = "en"
        refresh()  # Flask-Babel caches the locale for the request
        english = render_template_string(template, **values)
    assert french == "28 nov. 2026 | 28 nov. 2026, 14 h 05 | 1\xa0234 | 1\xa0234,5 | – | 1 min 15 s"
    assert (
        english == "Nov 28, 2026 | Nov 28, 2026, 2:05\u202fp.m. | 1,234 | 1,234.5 | – | 1 min 15 s"
    )


def test_durations() -> None:
    assert [format_duration(s) for s in (None, 0, 59.6, 60, 3599, 3700)] == [
        "–",
        "0 s",
        "1 min 00 s",
        "1 min 00 s",
        "59 min 59 s",
        "1 h 01 min",
    ]
