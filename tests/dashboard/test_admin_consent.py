"""The admin page of the research box's consent notice: a valid change is what
``SettingsStore.load()`` returns (and what the page shows), a bad period or a text that
does not say the period is refused with its message, no change without the CSRF token,
and only the admin role gets in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from ivr.settings import ResearchConsent
from store import models as m
from store.linesettings import SettingsStore
from tests.dashboard.conftest import DEFAULT_NOW, TestUser, read_csrf_token
from tests.dashboard.test_admin import refused, saved

Post = Callable[..., TestResponse]
Login = Callable[[FlaskClient, str], TestUser]
URL = "/admin/consent"
DEFAULT_URL = "/admin/consent/default"
TEXT_FR = "Votre message va à l'équipe de recherche. Il est gardé {days} jours."
TEXT_EN = "Your message goes to the research team. It is kept for {days} days."
VALID = {"text_fr": TEXT_FR, "text_en": TEXT_EN, "retention_days": "90"}


@pytest.fixture
def admin(client: FlaskClient, login: Login) -> FlaskClient:
    login(client, "admin")
    return client


def consent(engine: Engine) -> ResearchConsent:
    return SettingsStore(engine).load(DEFAULT_NOW).research_consent


def version(engine: Engine) -> int | None:
    return SettingsStore(engine).version()


def stored(engine: Engine) -> tuple[str | None, str | None, int | None]:
    with Session(engine) as session:
        row = session.get(m.LineOptions, m.SINGLETON_ID)
        assert row is not None
        return row.consent_text_fr, row.consent_text_en, row.consent_retention_days


def test_the_page_shows_the_default_notice_as_heard(admin: FlaskClient) -> None:
    page = admin.get(URL)
    assert page.status_code == 200
    text = page.text.replace("&#39;", "'")
    default = ResearchConsent()
    assert default.text("fr") in text and default.text("en") in text
    assert "365 jours" in text and "Texte et durée par défaut." in text
    assert "make prompts" in text and "ivr211 retention run" in text
    assert DEFAULT_URL not in text  # nothing to go back to
    assert f'href="{URL}" aria-current="page"' in text


def test_a_valid_change_is_loaded_and_shown(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    page = saved(admin, post_form(admin, URL, VALID), URL).replace("&#39;", "'")
    loaded = consent(app_engine)
    assert (loaded.text_fr, loaded.text_en, loaded.retention_days) == (TEXT_FR, TEXT_EN, 90)
    assert loaded.text("fr").endswith("Il est gardé 90 jours.")
    assert version(app_engine) == 2
    assert "Il est gardé 90 jours." in page and "It is kept for 90 days." in page
    assert "Texte ou durée propres au centre." in page
    assert DEFAULT_URL in page


def test_back_to_the_default(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    post_form(admin, URL, VALID)
    saved(admin, post_form(admin, DEFAULT_URL), URL)
    assert consent(app_engine) == ResearchConsent()
    assert stored(app_engine) == (None, None, None)
    assert version(app_engine) == 3


def test_the_default_text_sent_back_unchanged_keeps_following_the_default(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    default = ResearchConsent()
    data = {"text_fr": default.text_fr, "text_en": TEXT_EN, "retention_days": "30"}
    saved(admin, post_form(admin, URL, data), URL)
    assert stored(app_engine) == (None, TEXT_EN, 30)
    assert consent(app_engine) == ResearchConsent(text_en=TEXT_EN, retention_days=30)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"retention_days": "0"}, "Entre 1 et 3650 jours."),
        ({"retention_days": "3651"}, "Entre 1 et 3650 jours."),
        ({"retention_days": "un an"}, "Un nombre entier de jours, p. ex. 365."),
        ({"retention_days": ""}, "Indiquez un nombre de jours."),
        ({"text_fr": "Votre message est gardé un an."}, "Le texte doit contenir {days}"),
        ({"text_en": "   "}, "Obligatoire."),
        ({"text_en": "{days} " + "x" * 2000}, "Au plus 2000 caractères."),
    ],
)
def test_invalid_input_is_refused_with_its_message(
    admin: FlaskClient,
    app_engine: Engine,
    post_form: Post,
    change: dict[str, str],
    message: str,
) -> None:
    refused(post_form(admin, URL, {**VALID, **change}), message)
    assert version(app_engine) == 1
    assert consent(app_engine) == ResearchConsent()


def test_messages_in_english(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    post_form(admin, "/language", {"language": "en"})
    refused(post_form(admin, URL, {**VALID, "retention_days": "0"}), "Between 1 and 3650 days.")
    page = admin.get(URL).text
    assert "Consent notice (research box)" in page and "Retention period: 365 days." in page
    assert version(app_engine) == 1


@pytest.mark.parametrize("url", [URL, DEFAULT_URL])
def test_without_csrf_nothing_changes(
    admin: FlaskClient, app_engine: Engine, post_form: Post, url: str
) -> None:
    post_form(admin, URL, VALID)
    response = admin.post(url, data=VALID)
    assert response.status_code == 400
    assert "Le formulaire a expiré" in response.text
    assert version(app_engine) == 2
    assert consent(app_engine).retention_days == 90


@pytest.mark.parametrize("role", ["manager", "navigator", "research"])
def test_other_roles_get_403(
    client: FlaskClient, login: Login, app_engine: Engine, role: str
) -> None:
    login(client, role)
    token = read_csrf_token(client)
    assert client.get(URL).status_code == 403
    assert client.post(URL, data={**VALID, "csrf_token": token}).status_code == 403
    assert client.post(DEFAULT_URL, data={"csrf_token": token}).status_code == 403
    assert version(app_engine) == 1
