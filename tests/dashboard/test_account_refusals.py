"""An account change the storage refuses reads in the page's language: every
``AccountError`` raised in store/accounts.py, store/login_throttle.py and by the admin's
user pages has a code the dashboard says in French and English, and a refused account
form shows it."""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from dashboard.refusals import REFUSALS
from tests.dashboard.conftest import TestUser

ROOT = Path(__file__).resolve().parents[2]
RAISERS = (
    ROOT / "store" / "accounts.py",
    ROOT / "store" / "login_throttle.py",
    ROOT / "dashboard" / "admin" / "users.py",
)
Login = Callable[[FlaskClient, str], TestUser]
Post = Callable[..., TestResponse]


def account_errors() -> list[tuple[str, ast.Call]]:
    found = []
    for path in RAISERS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "AccountError":
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.exc))
    return found


def test_every_account_refusal_has_a_code_the_dashboard_says() -> None:
    raised = account_errors()
    assert len(raised) >= 15  # the walk finds them
    problems = []
    for where, call in raised:
        code = call.args[1] if len(call.args) > 1 else None
        if not (isinstance(code, ast.Constant) and code.value in REFUSALS):
            problems.append(where)
        message = call.args[0] if call.args else None
        if not isinstance(message, ast.Constant | ast.JoinedStr):
            problems.append(f"{where}: the message is not the English text for the logs")
    assert problems == []


def text(response: TestResponse) -> str:
    return html.unescape(re.sub(r"<[^>]*>", " ", response.text))


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "Changement refusé : Le nom d'utilisateur « {name} » est déjà pris."),
        ("en", "Change refused: The user name “{name}” is already taken."),
    ],
)
def test_a_taken_user_name_reads_in_the_pages_language(
    client: FlaskClient,
    login: Login,
    post_form: Post,
    users: dict[str, TestUser],
    language: str,
    expected: str,
) -> None:
    login(client, "admin")
    post_form(client, "/language", {"language": language})
    taken = users["manager"].username
    password = "un mot de passe assez long"
    form = {
        "username": taken,
        "roles": "manager",
        "language": "fr",
        "password": password,
        "confirm": password,
    }
    response = post_form(client, "/admin/users", form)
    assert response.status_code == 400
    page = text(response)
    assert expected.format(name=taken) in page
    assert "already exists" not in page and "détail technique" not in page


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "Changement refusé : Vous ne pouvez pas désactiver votre propre compte."),
        ("en", "Change refused: You cannot disable your own account."),
    ],
)
def test_disabling_ones_own_account_reads_in_the_pages_language(
    client: FlaskClient, login: Login, post_form: Post, language: str, expected: str
) -> None:
    admin = login(client, "admin")
    post_form(client, "/language", {"language": language})
    response = post_form(client, f"/admin/users/{admin.username}/disable")
    assert response.status_code == 400
    page = text(response)
    assert expected in page
    assert "détail technique" not in page and "technical detail" not in page
