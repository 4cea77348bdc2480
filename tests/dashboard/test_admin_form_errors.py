"""An admin form sent with bad values says, next to each field, what the field expects,
in the page's language: no WTForms stock message ("Not a valid time value.", "'x' is not
a valid choice for this field.", "Field cannot be longer than 200 characters." or their
French versions), and nothing sent is repeated whole."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from dashboard.i18n import SESSION_KEY
from tests.dashboard.conftest import TestUser

Login = Callable[[FlaskClient, str], TestUser]
Post = Callable[..., TestResponse]

LONG = "x" * 3000
#: (form, bad values, the sentences it must show in French, in English).
CASES: tuple[tuple[str, Mapping[str, str], tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "/admin/hours",
        {"mon_opens": "25:99", "mon_closes": "8 h"},
        ("Une heure au format HH:MM (de 00:00 à 23:59), par exemple 08:30.",),
        ("A time as HH:MM (from 00:00 to 23:59), for example 08:30.",),
    ),
    (
        "/admin/holidays/add",
        {"day": "24 juin", "name": "x" * 250},
        (
            "Une date au format AAAA-MM-JJ, par exemple 2026-06-24.",
            "Au plus 200 caractères (il y en a 250).",
        ),
        (
            "A date as YYYY-MM-DD, for example 2026-06-24.",
            "At most 200 characters (there are 250).",
        ),
    ),
    (
        "/admin/override",
        {"mode": LONG, "until_day": "2026-02-30", "until_time": "7pm"},
        (
            "Choisissez une des options proposées.",
            "Une date au format AAAA-MM-JJ, par exemple 2026-06-24.",
            "Une heure au format HH:MM (de 00:00 à 23:59), par exemple 08:30.",
        ),
        (
            "Choose one of the options offered.",
            "A date as YYYY-MM-DD, for example 2026-06-24.",
            "A time as HH:MM (from 00:00 to 23:59), for example 08:30.",
        ),
    ),
    (
        "/admin/line/menu",
        {"max_attempts": "trois", "digit_timeout_ms": "1.5"},
        ("Un nombre entier, sans virgule ni lettre.",),
        ("A whole number, without a decimal point or letters.",),
    ),
    (
        "/admin/users",
        {
            "username": "u",
            "roles": LONG,
            "language": LONG,
            "password": "un mot de passe assez long",
            "confirm": "un mot de passe assez long",
        },
        ("Cochez seulement des cases de la liste.", "Choisissez une des options de la liste."),
        ("Tick only boxes from the list.", "Choose one of the options in the list."),
    ),
)
#: WTForms' stock messages, in English and as its French catalogue says them.
STOCK = re.compile(
    r"Not a valid|not a valid choice|Field cannot be longer|Field must be|"
    r"N'est pas un|pas un choix valide|Le champ ne peut pas|Ce champ est requis"
)


def field_errors(page: str) -> list[str]:
    return [
        html.unescape(e).strip()
        for e in re.findall(r'<p class="field-error"[^>]*>(.*?)</p>', page, re.S)
    ]


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(("url", "data", "french", "english"), CASES)
def test_a_bad_value_gets_a_sentence_in_the_pages_language(
    client: FlaskClient,
    login: Login,
    post_form: Post,
    url: str,
    data: Mapping[str, str],
    french: tuple[str, ...],
    english: tuple[str, ...],
    language: str,
) -> None:
    login(client, "admin")
    with client.session_transaction() as session:
        session[SESSION_KEY] = language
    answer = post_form(client, url, data)
    assert answer.status_code == 400
    errors = field_errors(answer.text)
    for sentence in french if language == "fr" else english:
        assert sentence in errors
    assert [e for e in errors if STOCK.search(e)] == []
    assert LONG not in answer.text
