"""A change the storage refuses reads in the page's language: every refusal raised in
``store/`` has a code the dashboard says in French and English (dashboard/refusals.py),
and a refused form shows it on a French page and on an English page."""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import refresh
from werkzeug.test import TestResponse

from dashboard.refusals import REFUSALS, refusal_text
from store.linesettings import SettingsChangeError
from store.navigators import NavigatorError
from tests.dashboard.conftest import TestUser

STORE = Path(__file__).resolve().parents[2] / "store"
REFUSAL_CLASSES = {"SettingsChangeError", "NavigatorError", "AccountError"}
Login = Callable[[FlaskClient, str], TestUser]
Post = Callable[..., TestResponse]


def refusals_raised() -> Iterator[tuple[str, ast.Call]]:
    for path in sorted(STORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id in REFUSAL_CLASSES:
                    yield f"{path.relative_to(STORE.parent)}:{node.lineno}", node.exc


def codes(argument: ast.expr) -> list[str] | None:
    """The codes a raise can give (a string, or either branch of ``a if x else b``);
    None when the code comes from elsewhere (a parameter: its callers are checked)."""
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return [argument.value]
    if isinstance(argument, ast.IfExp):
        branches = [codes(argument.body), codes(argument.orelse)]
        return None if None in branches else [c for b in branches for c in b or []]
    return None


def test_every_refusal_in_store_has_a_code_the_dashboard_says() -> None:
    found, unknown, without = 0, [], []
    for where, call in refusals_raised():
        found += 1
        if len(call.args) < 2:
            without.append(where)
            continue
        named = codes(call.args[1])
        if named is None:
            continue
        unknown += [f"{where}: {code}" for code in named if code not in REFUSALS]
    assert found >= 40  # the walk finds them
    assert without == [] and unknown == []


def test_the_codes_passed_through_a_helper_are_known_too() -> None:
    """``_matching(pattern, value, problem, refusal)`` passes its caller's code on."""
    source = (STORE / "linesettings" / "change.py").read_text(encoding="utf-8")
    passed = re.findall(r'_matching\(\s*_\w+,\s*\w+,\s*"[^"]*",\s*"(\w+)",?\s*\)', source)
    assert passed == ["queue_name_format", "mailbox_format"]
    assert all(code in REFUSALS for code in passed)


def text(response: TestResponse) -> str:
    return html.unescape(re.sub(r"<[^>]*>", " ", response.text))


@pytest.fixture
def admin(client: FlaskClient, login: Login) -> FlaskClient:
    login(client, "admin")
    return client


@pytest.mark.parametrize(
    ("language", "expected", "english_left"),
    [
        (
            "fr",
            "Changement refusé : Le 3 mars 2026 n'est pas un jour férié du calendrier : "
            "rien à retirer.",
            "is not a holiday",
        ),
        (
            "en",
            "Change refused: March 3, 2026 is not a holiday of the calendar: nothing to remove.",
            "2026-03-03 is not a holiday",
        ),
    ],
)
def test_a_refused_holiday_reads_in_the_pages_language(
    admin: FlaskClient, post_form: Post, language: str, expected: str, english_left: str
) -> None:
    post_form(admin, "/language", {"language": language})
    response = post_form(admin, "/admin/holidays/remove", {"day": "2026-03-03"})
    assert response.status_code == 400
    assert expected in text(response)
    assert english_left not in text(response).replace(expected, "")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "Le code abrégé 101 est déjà celui de la destination « Centre de crise régional »."),
        ("en", "Short code 101 already belongs to the destination “Regional crisis centre”."),
    ],
)
def test_a_refusal_names_the_destination_not_its_key(
    admin: FlaskClient, post_form: Post, language: str, expected: str
) -> None:
    post_form(admin, "/language", {"language": language})
    form = {
        "key": "popote",
        "label_fr": "Popote roulante",
        "label_en": "Meals on wheels",
        "kind": "partner",
        "report_group": "popote",
        "short_code": "101",
        "territory": "capitale-nationale",
        "number": "418 555-0141",
        "active": "y",
    }
    response = post_form(admin, "/admin/destinations", form)
    assert response.status_code == 400
    assert expected in text(response)
    assert "'crise'" not in text(response)


def test_a_refusal_without_a_known_code_says_so_then_the_detail(app: Flask) -> None:
    long_value = "x" * 3000
    with app.test_request_context("/"):
        said = refusal_text(NavigatorError(f"something new {long_value!r}"))
        assert said.startswith("la valeur n'est pas acceptée (détail technique : something new")
        assert len(said) < 200  # the echoed value is cut
        refresh()
        french = refusal_text(SettingsChangeError("bad day", "unknown_day", day=long_value))
    assert french == f"Jour inconnu : « {'x' * 60}… »."
