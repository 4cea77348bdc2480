"""Phone numbers on the pages as Québec writes them ("418 555-0177", "1 866 277-3553",
"911"), stored as digits; a withheld caller keeps its word."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from store.voicemail import VoiceMessage
from tests.dashboard.conftest import FakeClock, TestUser
from tests.dashboard.research_data import add_message
from tests.dashboard.test_console import listener_up, on_call

Login = Callable[[FlaskClient, str], TestUser]


def text_of(client: FlaskClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, url
    return html.unescape(page.text)


def test_the_console_shows_the_callers_number_grouped(
    client: FlaskClient, login: Login, app_engine: Engine, clock: FakeClock
) -> None:
    login(client, "navigator")
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now, caller_number="14185550177")
    text = text_of(client, "/console/")
    assert '<dd class="big" id="caller-number">1 418 555-0177</dd>' in text
    assert "14185550177" not in text
    assert client.get("/console/state.json").json["call"]["caller_number"] == "14185550177"  # type: ignore[index]


def test_the_console_keeps_its_word_for_a_withheld_caller(
    client: FlaskClient, login: Login, app_engine: Engine, clock: FakeClock
) -> None:
    login(client, "navigator")
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now, caller_number=None)
    assert '<dd class="big" id="caller-number">masqué</dd>' in text_of(client, "/console/")


def test_the_research_inbox_groups_callback_and_caller_numbers(
    client: FlaskClient, login: Login, app_engine: Engine, storage: Path
) -> None:
    """The callback number only when the caller gave one; the caller's name when the
    trunk sent one; numbers grouped the Québec way."""
    login(client, "research")
    called_back, _ = add_message(
        app_engine, storage, "1795879141-00000000", callback_number="18662773553"
    )
    shown, _ = add_message(app_engine, storage, "1795879142-00000001", caller_number="4185550142")
    withheld, _ = add_message(app_engine, storage, "1795879143-00000002", caller_number=None)
    with Session(app_engine) as session, session.begin():
        row = session.get(VoiceMessage, shown)
        assert row is not None
        row.caller_name = "TREMBLAY MARIE"
    listing = text_of(client, "/research/")
    rows = {
        key: listing.split(f'id="message-{key}"')[1].split("</tr>")[0]
        for key in (called_back, shown, withheld)
    }
    assert '<td class="callback">1 866 277-3553</td>' in rows[called_back]
    assert '<td class="caller">418 555-0142</td>' in rows[called_back]
    assert '<td class="callback"><span class="muted">aucun</span></td>' in rows[shown]
    assert (
        '<td class="caller"><span class="caller-name">TREMBLAY MARIE</span><br>418 555-0142</td>'
        in rows[shown]
    )
    assert '<td class="caller">numéro masqué</td>' in rows[withheld]

    page = text_of(client, f"/research/messages/{called_back}")
    assert '<dd id="message-callback">1 866 277-3553</dd>' in page
    assert '<dd id="message-caller">418 555-0142</dd>' in page
    assert 'id="message-caller-name"' not in page
    page = text_of(client, f"/research/messages/{withheld}")
    assert 'id="message-callback"' not in page
    assert '<dd id="message-caller">numéro masqué</dd>' in page
    page = text_of(client, f"/research/messages/{shown}")
    assert '<dd id="message-caller-name">TREMBLAY MARIE</dd>' in page


def test_the_admin_pages_group_the_destinations_numbers(client: FlaskClient, login: Login) -> None:
    login(client, "admin")
    listing = text_of(client, "/admin/destinations")
    assert ": 1 866 277-3553" in listing and ": 1 800 363-9010" in listing
    assert ": 911" in listing and ": 988" in listing
    assert "18662773553" not in listing
    page = text_of(client, "/admin/destinations/cps")
    assert "<td>1 866 277-3553</td>" in page
    overview = text_of(client, "/admin/")
    assert ": 1 866 277-3553" in overview and "18662773553" not in overview
