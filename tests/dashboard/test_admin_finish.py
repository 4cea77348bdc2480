"""The admin pages' finish: the section menu as tabs with the current one marked, the
line's state card under the page title with its one click (close the line now / reopen,
an optional reason, who did it kept on the override), the closed-hours menu's key 9 read
as the English option callers hear, check boxes in a group with one legend."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from store import models as m
from tests.dashboard.conftest import TestUser

Login = Callable[[FlaskClient, str], TestUser]
Post = Callable[..., TestResponse]
ADMIN_PAGES = (
    "/admin/",
    "/admin/hours",
    "/admin/holidays",
    "/admin/closures",
    "/admin/override",
    "/admin/destinations",
    "/admin/line",
    "/admin/consent",
    "/admin/users",
    "/admin/audit/",
)


def override_row(engine: Engine) -> tuple[str | None, str, str] | None:
    with Session(engine) as session:
        row = session.get(m.LineOverride, m.SINGLETON_ID)
        return None if row is None else (row.mode, row.reason, row.set_by)


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_every_admin_page_has_tabs_then_its_title_then_the_line_state(
    client: FlaskClient, login: Login, url: str
) -> None:
    login(client, "admin")
    page = client.get(url).text
    tabs, title, card = (
        page.index('<nav class="section-tabs"'),
        page.index("<h1"),
        page.index('id="line-state-now"'),
    )
    assert tabs < title < card
    tabs_html = page[tabs:].split("</nav>")[0]
    assert tabs_html.count('aria-current="page"') == 1
    assert 'class="main-nav-inline"' not in page
    assert 'id="line-now-form"' in page


def test_close_the_line_now_then_reopen_it(
    client: FlaskClient, login: Login, post_form: Post, app_engine: Engine
) -> None:
    admin = login(client, "admin")
    page = client.get("/admin/hours").text
    assert "Fermer la ligne maintenant" in page and '<strong class="ok">Ouverte</strong>' in page
    closed = post_form(
        client,
        "/admin/override/now",
        {
            "action": "close",
            "reason": "Tempête de verglas",
            "exceptional": "y",
            "back": "/admin/hours",
        },
    )
    assert closed.status_code == 302 and closed.headers["Location"].endswith("/admin/hours")
    assert override_row(app_engine) == (
        "closed",
        "[exceptional] Tempête de verglas",
        admin.username,
    )
    page = client.get("/admin/hours").text
    assert "Rouvrir la ligne maintenant" in page
    assert re.search(r'<strong class="bad">Fermée</strong>', page)
    reopened = post_form(
        client, "/admin/override/now", {"action": "reopen", "back": "/admin/hours"}
    )
    assert reopened.status_code == 302
    # The schedule has the line open at this hour: back to the schedule, no override.
    assert override_row(app_engine) == (None, "", admin.username)
    assert "Fermer la ligne maintenant" in client.get("/admin/").text


def test_the_one_click_refuses_a_made_up_action_and_goes_nowhere_else(
    client: FlaskClient, login: Login, post_form: Post, app_engine: Engine
) -> None:
    login(client, "admin")
    before = override_row(app_engine)
    assert post_form(client, "/admin/override/now", {"action": "explode"}).status_code == 400
    assert override_row(app_engine) == before
    away = post_form(
        client, "/admin/override/now", {"action": "close", "back": "https://example.com/"}
    )
    assert away.status_code == 302 and away.headers["Location"].endswith("/admin/")


@pytest.mark.parametrize("role", ["manager", "navigator", "research"])
def test_only_an_administrator_closes_the_line(
    client: FlaskClient, login: Login, post_form: Post, app_engine: Engine, role: str
) -> None:
    login(client, role)
    before = override_row(app_engine)
    assert post_form(client, "/admin/override/now", {"action": "close"}).status_code == 403
    assert override_row(app_engine) == before


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fr", "Anglais : en français, l'appelant entend « For English, press 9. »"),
        ("en", "English: in French, callers hear “For English, press 9.”"),
    ],
)
def test_key_9_of_the_closed_menu_is_the_english_option(
    client: FlaskClient, login: Login, post_form: Post, language: str, words: str
) -> None:
    login(client, "admin")
    post_form(client, "/language", {"language": language})
    page = html.unescape(client.get("/admin/line").text)
    row = page.split('id="closed-row-key_9"')[1].split("</tr>")[0]
    assert words in row and "<select" not in row
    # Every other key is one select, named by its row and the column (no label per row).
    assert page.count('aria-labelledby="closed-to-col closed-label-key_') == 11
    assert '<label for="key_1">' not in page


def test_saving_the_closed_menu_keeps_key_9(
    client: FlaskClient, login: Login, post_form: Post
) -> None:
    login(client, "admin")
    page = client.get("/admin/line").text
    form = dict(re.findall(r'<input type="hidden" name="(key_9)" value="([^"]*)">', page))
    selects = re.findall(r'<select[^>]* id="(key_[^"]+)"[^>]*>(.*?)</select>', page, re.S)
    for name, options in selects:
        chosen = re.search(r'<option selected value="([^"]*)"', options)
        form[name] = chosen.group(1) if chosen else ""
    assert post_form(client, "/admin/line/closed-menu", form).status_code == 302


def test_the_hours_table_says_each_label_once(client: FlaskClient, login: Login) -> None:
    login(client, "admin")
    page = client.get("/admin/hours").text
    assert (
        "<label"
        not in page.split('<form method="post" action="/admin/hours"')[1].split("</form>")[0]
    )
    for column in ("opens", "closes", "closed"):
        assert page.count(f'aria-labelledby="col-{column} row-') == 8  # 7 days and holidays
    assert page.count('id="col-opens"') == 1
