"""The admin pages: every form valid, invalid (with a clear message) and without its CSRF
token; each change checked through ``SettingsStore.load()`` (or the accounts tables),
and every admin route refused to the other roles."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from ivr.schedule import holidays_in_year
from ivr.settings import DayHours, LineSettings
from store import accounts
from store import models as m
from store.linesettings import SettingsStore, list_closures
from tests.dashboard.conftest import DEFAULT_NOW, PASSWORD, TestUser, do_login, read_csrf_token

Post = Callable[..., TestResponse]
Login = Callable[[FlaskClient, str], TestUser]
SAVED = "prend effet en quelques secondes"
NEW_PASSWORD = "un tout nouveau mot de passe"


@pytest.fixture
def admin(client: FlaskClient, login: Login) -> FlaskClient:
    login(client, "admin")
    return client


def load(engine: Engine, now: datetime = DEFAULT_NOW) -> LineSettings:
    """The settings as of the app's fixed clock (expired overrides are left out)."""
    return SettingsStore(engine).load(now)


def version(engine: Engine) -> int | None:
    return SettingsStore(engine).version()


def saved(client: FlaskClient, response: TestResponse, url: str) -> str:  # French pages
    """A change redirects to its page, which says when it takes effect and shows the
    line's state now."""
    assert response.status_code == 302, response.text[-2000:]
    assert response.headers["Location"].endswith(url)
    page = client.get(url)
    assert page.status_code == 200
    assert SAVED in page.text
    assert 'id="line-state-now"' in page.text
    return page.text


def refused(response: TestResponse, *messages: str) -> str:
    assert response.status_code == 400
    text = response.text.replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&")
    for message in messages:
        assert message in text, f"{message!r} not in the page"
    return text


# ---- who may come in -------------------------------------------------------------------


def admin_rules(app: Flask) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            url = re.sub(
                r"<(?:\w+:)?(\w+)>", lambda g: "1" if g.group(1) == "closure_id" else "x", rule.rule
            )
            for method in sorted((rule.methods or set()) & {"GET", "POST"}):
                out.append((method, url))
    return out


def test_the_admin_pages_are_all_walked(app: Flask) -> None:
    walked = admin_rules(app)
    assert ("GET", "/admin/") in walked and ("POST", "/admin/users") in walked
    assert len(walked) >= 25


@pytest.mark.parametrize("role", ["manager", "navigator", "research"])
def test_other_roles_get_403_everywhere(
    app: Flask, client: FlaskClient, login: Login, app_engine: Engine, role: str
) -> None:
    login(client, role)
    token = read_csrf_token(client)
    statuses = {
        (method, url): (
            client.get(url) if method == "GET" else client.post(url, data={"csrf_token": token})
        ).status_code
        for method, url in admin_rules(app)
    }
    assert set(statuses.values()) == {403}, statuses
    assert version(app_engine) == 1


def test_anonymous_is_sent_to_login(client: FlaskClient) -> None:
    response = client.get("/admin/hours")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_every_admin_page_opens(admin: FlaskClient) -> None:
    for url in (
        "/admin/",
        "/admin/hours",
        "/admin/holidays",
        "/admin/closures",
        "/admin/override",
        "/admin/destinations",
        "/admin/destinations/crise",
        "/admin/line",
        "/admin/users",
        "/admin/users/navigator",
    ):
        page = admin.get(url)
        assert page.status_code == 200, url
        assert "Ouverte" in page.text  # the line is open on the fixed clock
    assert admin.get("/admin/destinations/nowhere").status_code == 404
    assert admin.get("/admin/users/nobody").status_code == 404


# ---- CSRF on every form ------------------------------------------------------------------

VALID_FORMS: dict[str, tuple[str, dict[str, Any]]] = {
    "hours": (
        "/admin/hours",
        {
            **{
                f"{d}_opens": "08:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "holiday")
            },
            **{
                f"{d}_closes": "19:00"
                for d in ("mon", "tue", "wed", "thu", "fri", "sat", "holiday")
            },
            "sun_closed": "y",
        },
    ),
    "holiday rules": (
        "/admin/holidays/rules",
        {"categories": ["public", "optional"], "subdivision": "QC"},
    ),
    "holiday add": ("/admin/holidays/add", {"day": "2026-12-24", "name": "Veille de Noël"}),
    "holiday remove": ("/admin/holidays/remove", {"day": "2026-12-25"}),
    "closure add": (
        "/admin/closures",
        {
            "start_day": "2026-12-01",
            "start_time": "09:00",
            "end_day": "2026-12-01",
            "end_time": "12:00",
            "reason": "Réunion d'équipe",
        },
    ),
    "override": ("/admin/override", {"mode": "closed", "reason": "Panne"}),
    "override clear": ("/admin/override/clear", {}),
    "destination add": (
        "/admin/destinations",
        {
            "key": "popote",
            "label_fr": "Popote roulante",
            "label_en": "Meals on wheels",
            "kind": "partner",
            "report_group": "popote",
            "short_code": "204",
            "territory": "capitale-nationale",
            "number": "418 555-0141",
            "active": "y",
        },
    ),
    "destination edit": (
        "/admin/destinations/sosvc",
        {
            "label_fr": "SOS violence conjugale",
            "label_en": "SOS",
            "kind": "emergency",
            "report_group": "sosvc",
            "short_code": "103",
            "active": "y",
        },
    ),
    "number set": (
        "/admin/destinations/crise/numbers",
        {"territory": "capitale-nationale", "number": "418 555-0199", "verified": "y"},
    ),
    "number remove": (
        "/admin/destinations/crise/numbers/remove",
        {"territory": "chaudiere-appalaches"},
    ),
    "line options": (
        "/admin/line/options",
        {
            "territory": "capitale-nationale",
            "queue_name": "nav-211",
            "research_mailbox": "1000@recherche",
        },
    ),
    "menu": ("/admin/line/menu", {"max_attempts": "4", "digit_timeout_ms": "6000"}),
    "closed menu": (
        "/admin/line/closed-menu",
        {"key_1": "811", "key_2": "988", "key_3": "@research"},
    ),
}


@pytest.mark.parametrize(("url", "data"), VALID_FORMS.values(), ids=VALID_FORMS.keys())
def test_settings_forms_without_csrf_are_rejected(
    admin: FlaskClient, app_engine: Engine, url: str, data: dict[str, Any]
) -> None:
    before = load(app_engine)
    response = admin.post(url, data=data)
    assert response.status_code == 400
    assert "Le formulaire a expiré" in response.text
    assert version(app_engine) == 1
    assert load(app_engine) == before


@pytest.mark.parametrize(("url", "data"), VALID_FORMS.values(), ids=VALID_FORMS.keys())
def test_settings_forms_with_csrf_bump_the_version_once_or_more(
    admin: FlaskClient, app_engine: Engine, post_form: Post, url: str, data: dict[str, Any]
) -> None:
    if url == "/admin/override/clear":
        post_form(admin, "/admin/override", {"mode": "open"})
    start = version(app_engine) or 0
    response = post_form(admin, url, data)
    assert response.status_code == 302, response.text[-1500:]
    assert (version(app_engine) or 0) > start


@pytest.mark.parametrize(
    "url",
    [
        "/admin/users",
        "/admin/users/manager/password",
        "/admin/users/manager/disable",
        "/admin/users/manager/enable",
        "/admin/closures/1/remove",
        "/admin/holidays/forget",
    ],
)
def test_account_and_button_forms_without_csrf_are_rejected(
    admin: FlaskClient, app_engine: Engine, url: str
) -> None:
    data = {
        "username": "zoe",
        "roles": "manager",
        "language": "fr",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
        "day": "2026-12-24",
    }
    response = admin.post(url, data=data)
    assert response.status_code == 400
    with Session(app_engine) as session:
        assert accounts.user_by_username(session, "zoe") is None
        manager = accounts.user_by_username(session, "manager")
        assert manager is not None and manager.active and manager.check_password(PASSWORD)


# ---- hours -------------------------------------------------------------------------------


def test_hours_valid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    url, data = VALID_FORMS["hours"]
    data = {**data, "sat_opens": "09:00", "sat_closes": "15:00"}
    saved(admin, post_form(admin, url, data), url)
    weekly = load(app_engine).schedule.weekly
    assert weekly.for_weekday(6) is None
    assert weekly.for_weekday(5) == DayHours(time(9), time(15))
    assert weekly.for_weekday(0) == DayHours(time(8), time(19))
    assert weekly.holiday == DayHours(time(8), time(19))
    assert version(app_engine) == 3  # one bump per changed day: sat, sun


def test_hours_invalid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    url, data = VALID_FORMS["hours"]
    refused(
        post_form(admin, url, {**data, "mon_opens": "19:00", "mon_closes": "08:00"}),
        "L'heure de fermeture doit suivre l'heure d'ouverture.",
    )
    refused(
        post_form(admin, url, {**data, "tue_opens": ""}),
        "Indiquez l'heure ou cochez « fermé ».",
    )
    assert version(app_engine) == 1


def test_hours_unchanged_is_not_a_change(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday")
    data = {f"{d}_opens": "08:00" for d in days} | {f"{d}_closes": "19:00" for d in days}
    response = post_form(admin, "/admin/hours", data)
    assert response.status_code == 302
    assert "Aucun changement" in admin.get("/admin/hours").text
    assert version(app_engine) == 1


# ---- holidays ----------------------------------------------------------------------------


def test_holiday_rules_valid_and_invalid(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    easter_monday = date(2027, 3, 29)
    assert easter_monday not in holidays_in_year(load(app_engine).schedule.holidays, 2027)
    url, data = VALID_FORMS["holiday rules"]
    page = saved(admin, post_form(admin, url, data), "/admin/holidays")
    rules = load(app_engine).schedule.holidays
    assert rules.categories == ("optional", "public")
    assert easter_monday in holidays_in_year(rules, 2027)
    assert "Lundi de Pâques" in page  # the coming year's holidays, named in French

    refused(post_form(admin, url, {"subdivision": "QC"}), "Choisissez au moins une catégorie.")
    refused(post_form(admin, url, {"categories": ["fun"], "subdivision": "QC"}))
    refused(post_form(admin, url, {"categories": ["public"], "subdivision": "XX"}))
    assert version(app_engine) == 2


def test_coming_holidays_are_listed(admin: FlaskClient) -> None:
    page = admin.get("/admin/holidays").text
    table = page[page.index('id="coming-holidays"') :]
    table = table[: table.index("</table>")]
    assert "Jour de Noël" in table and "Fête nationale du Québec" in table
    assert "Fête du Canada" in table
    assert "2026-11-11" not in table  # Remembrance Day is not a Québec holiday


def test_holiday_dates_add_remove_forget(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    eve, christmas = date(2026, 12, 24), date(2026, 12, 25)
    saved(admin, post_form(admin, *VALID_FORMS["holiday add"]), "/admin/holidays")
    saved(admin, post_form(admin, *VALID_FORMS["holiday remove"]), "/admin/holidays")
    rules = load(app_engine).schedule.holidays
    assert dict(rules.added) == {eve: "Veille de Noël"}
    assert rules.removed == frozenset({christmas})
    page = admin.get("/admin/holidays").text
    assert "Veille de Noël" in page[page.index('id="added-days"') :]

    for day in ("2026-12-24", "2026-12-25"):
        saved(admin, post_form(admin, "/admin/holidays/forget", {"day": day}), "/admin/holidays")
    rules = load(app_engine).schedule.holidays
    assert rules.added == {} and rules.removed == frozenset()
    assert version(app_engine) == 5


def test_holiday_dates_invalid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    refused(
        post_form(admin, "/admin/holidays/add", {"day": "2026-12-24", "name": ""}),
        "Donnez un nom au jour férié.",
    )
    refused(post_form(admin, "/admin/holidays/add", {"day": "24/12/2026", "name": "x"}))
    refused(
        post_form(admin, "/admin/holidays/remove", {"day": "2026-03-03"}),
        "Changement refusé",
        "Le 3 mars 2026 n'est pas un jour férié du calendrier : rien à retirer.",
    )
    refused(
        post_form(admin, "/admin/holidays/forget", {"day": "2026-03-03"}),
        "Le 3 mars 2026 n'est ni un jour ajouté ni un jour retiré.",
    )
    assert version(app_engine) == 1


# ---- closures ----------------------------------------------------------------------------


def test_closure_add_in_local_time_and_remove(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    url, data = VALID_FORMS["closure add"]
    page = saved(admin, post_form(admin, url, data), url)
    (closure,) = load(app_engine).schedule.closures
    # 09:00 in Québec on December 1 (EST, UTC-5) is 14:00 UTC.
    assert closure.starts == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert closure.ends == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert closure.reason == "Réunion d'équipe"
    assert "1 déc. 2026, 09 h 00" in page  # listed in the line's local time

    with Session(app_engine) as session:
        (record,) = list_closures(session)
    saved(admin, post_form(admin, f"/admin/closures/{record.id}/remove"), url)
    assert load(app_engine).schedule.closures == ()
    refused(
        post_form(admin, f"/admin/closures/{record.id}/remove"),
        "Cette fermeture n'existe plus : elle a peut-être déjà été supprimée.",
    )


def test_closure_that_is_happening_now_closes_the_line(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    data = {
        "start_day": "2026-11-25",
        "start_time": "13:00",
        "end_day": "2026-11-25",
        "end_time": "16:00",
        "reason": "Tempête",
    }
    page = saved(admin, post_form(admin, "/admin/closures", data), "/admin/closures")
    state = page[page.index('id="line-state-now"') :]
    assert "Fermée" in state and "fermeture exceptionnelle" in state


def test_closure_invalid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    url, data = VALID_FORMS["closure add"]
    refused(post_form(admin, url, {**data, "end_time": "08:00"}), "La fin doit suivre le début.")
    refused(
        post_form(
            admin,
            url,
            {**data, "start_day": "2027-03-14", "start_time": "02:30", "end_day": "2027-03-14"},
        ),
        "2027-03-14 02:30 n'existe pas (changement d'heure).",
    )
    refused(post_form(admin, url, {**data, "reason": ""}), "Indiquez le motif")
    refused(
        post_form(admin, url, {**data, "start_day": "2026-01-01", "end_day": "2026-01-01"}),
        "La fermeture se terminerait dans le passé",
    )
    assert version(app_engine) == 1
    with Session(app_engine) as session:
        assert list_closures(session) == []


# ---- override ----------------------------------------------------------------------------


def test_override_until_a_local_time_then_clear(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    data = {"mode": "closed", "until_day": "2026-11-25", "until_time": "17:30", "reason": "Panne"}
    page = saved(admin, post_form(admin, "/admin/override", data), "/admin/override")
    override = load(app_engine).schedule.override
    assert override is not None and override.mode == "closed"
    assert override.until == datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    assert (override.reason, override.set_by) == ("Panne", "admin")
    state = page[page.index('id="line-state-now"') :]
    assert "Fermée" in state and "fermeture forcée" in state

    saved(admin, post_form(admin, "/admin/override/clear"), "/admin/override")
    assert load(app_engine).schedule.override is None


def test_override_closed_as_at_night_or_exceptionally(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    saved(admin, post_form(admin, "/admin/override", {"mode": "closed"}), "/admin/override")
    night = load(app_engine).schedule.override
    assert night is not None and (night.mode, night.exceptional) == ("closed", False)
    data = {"mode": "exceptional", "reason": "Tempête"}
    page = saved(admin, post_form(admin, "/admin/override", data), "/admin/override")
    storm = load(app_engine).schedule.override
    assert storm is not None
    assert (storm.mode, storm.exceptional, storm.reason) == ("closed", True, "Tempête")
    assert "(fermeture exceptionnelle)" in page[page.index('id="override-now"') :]
    state = page[page.index('id="line-state-now"') :]
    assert "Fermée" in state and "fermeture exceptionnelle" in state


def test_override_invalid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    refused(post_form(admin, "/admin/override", {"reason": "x"}), "Choisissez ouverte ou fermée.")
    refused(
        post_form(admin, "/admin/override", {"mode": "open", "until_day": "2026-11-26"}),
        "Indiquez la date et l'heure, ou ni l'une ni l'autre.",
    )
    refused(
        post_form(
            admin,
            "/admin/override",
            {"mode": "open", "until_day": "2026-11-25", "until_time": "10:00"},
        ),
        "est déjà passée.",
    )
    refused(post_form(admin, "/admin/override", {"mode": "sideways"}))
    assert version(app_engine) == 1


# ---- destinations and numbers --------------------------------------------------------------


def test_destination_add_warns_about_the_dialplan(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    url, data = VALID_FORMS["destination add"]
    response = post_form(admin, url, data)
    page = saved(admin, response, "/admin/destinations/popote")
    assert "no extension 204 in [navigator-transfers]" in page
    assert "exten => 204,1,Gosub(ivr211-dial-code,s,1(POPOTE))" in page
    popote = load(app_engine).destination("popote")
    assert popote is not None and popote.kind == "partner" and popote.short_code == "204"
    assert popote.number_for("capitale-nationale") == "4185550141"
    listing = admin.get("/admin/destinations").text
    row = listing[listing.index('id="dest-popote"') :]
    assert "à vérifier" in row[: row.index("</tr>")]
    assert "Plan de numérotation" in row[: row.index("</tr>")]
    seed_row = listing[listing.index('id="dest-crise"') :]
    assert "Plan de numérotation" not in seed_row[: seed_row.index("</tr>")]


def test_destination_add_invalid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    url, data = VALID_FORMS["destination add"]
    refused(
        post_form(admin, url, {**data, "short_code": "101"}),
        "Le code abrégé 101 est déjà celui de la destination « Centre de crise régional ».",
    )
    refused(
        post_form(admin, url, {**data, "number": "418-SOS"}),
        "Un numéro composable",
    )
    refused(post_form(admin, url, {**data, "key": "Popote!"}), "Lettres minuscules")
    refused(
        post_form(admin, url, {**data, "territory": "bas-saint-laurent"}),
        "Une destination active demande un numéro pour le territoire « capitale-nationale ».",
    )
    assert version(app_engine) == 1
    assert load(app_engine).destination("popote") is None


def test_destination_edit_and_deactivate(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    url, data = VALID_FORMS["destination edit"]
    saved(admin, post_form(admin, url, data), url)
    sosvc = load(app_engine).destination("sosvc")
    assert sosvc is not None and sosvc.label_en == "SOS"

    edit = {
        "label_fr": "Paniers",
        "label_en": "Baskets",
        "kind": "partner",
        "report_group": "paniers-noel",
        "short_code": "203",
    }  # active unchecked
    saved(
        admin,
        post_form(admin, "/admin/destinations/paniers-noel", edit),
        "/admin/destinations/paniers-noel",
    )
    assert load(app_engine).destination("paniers-noel") is None


def test_destination_edit_invalid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    url, data = VALID_FORMS["destination edit"]
    refused(post_form(admin, url, {**data, "short_code": "1o3"}), "De 1 à 16 chiffres.")
    refused(post_form(admin, url, {**data, "label_fr": ""}), "Obligatoire.")
    refused(
        post_form(admin, "/admin/destinations/811", {**data, "short_code": "811", "active": ""}),
        "est la touche 1 du menu des heures de fermeture : changez d'abord le menu.",
    )
    assert version(app_engine) == 1


def test_numbers_set_verified_and_remove(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    """The seed leaves the crisis centre's numbers empty: the administrator fills one in."""
    page = admin.get("/admin/destinations/crise").text
    assert page.count('class="to-fill') == 2 and page.count("à inscrire") >= 2
    url, data = VALID_FORMS["number set"]
    page = saved(admin, post_form(admin, url, data), "/admin/destinations/crise")
    assert page.count('class="to-fill') == 1
    assert page.count('class="to-verify') == 0
    crise = load(app_engine).destination("crise")
    assert crise is not None and crise.numbers["capitale-nationale"] == "4185550199"
    with Session(app_engine) as session:
        row = session.get(
            m.DestinationNumber,
            (
                session.scalar(select(m.Destination.id).where(m.Destination.key == "crise")),
                "capitale-nationale",
            ),
        )
        assert row is not None and row.verified and row.updated_by == "admin"

    saved(admin, post_form(admin, *VALID_FORMS["number remove"]), "/admin/destinations/crise")
    crise = load(app_engine).destination("crise")
    assert crise is not None and set(crise.numbers) == {"capitale-nationale"}


def test_the_overview_lists_the_numbers_still_to_fill_in(
    admin: FlaskClient, post_form: Post
) -> None:
    page = admin.get("/admin/").text
    assert "Numéros à inscrire" in page
    assert page.count('class="to-fill"') == 8  # 4 destinations x 2 territories
    assert 'href="/admin/destinations/crise"' in page
    assert page.count('class="to-verify"') == 10
    url, data = VALID_FORMS["number set"]
    post_form(admin, url, data)
    assert admin.get("/admin/").text.count('class="to-fill"') == 7


def test_numbers_invalid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    url = "/admin/destinations/crise/numbers"
    refused(
        post_form(admin, url, {"territory": "capitale-nationale", "number": "abc"}),
        "Un numéro composable",
    )
    refused(
        post_form(admin, url, {"territory": "Rive Sud", "number": "4185550000"}),
        "Territoire « Rive Sud » : des lettres minuscules, des chiffres et des tirets",
    )
    refused(
        post_form(
            admin, "/admin/destinations/crise/numbers/remove", {"territory": "capitale-nationale"}
        ),
        "n'aurait plus de numéro pour le territoire de la ligne (« capitale-nationale »)",
    )
    assert version(app_engine) == 1


# ---- line options ------------------------------------------------------------------------


def test_line_options_menu_and_closed_menu(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    for name in ("line options", "menu", "closed menu"):
        url, data = VALID_FORMS[name]
        saved(admin, post_form(admin, url, data), "/admin/line")
    settings = load(app_engine)
    assert settings.queue_name == "nav-211"
    assert (settings.menu.max_attempts, settings.menu.digit_timeout_ms) == (4, 6000)
    assert dict(settings.closed_transfer_keys) == {"1": "811", "2": "988"}
    assert settings.closed_research_key == "3"
    assert version(app_engine) == 4


def test_line_options_invalid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    url, data = VALID_FORMS["line options"]
    refused(post_form(admin, url, {**data, "queue_name": "nav 211"}), "Lettres, chiffres, _ . -")
    refused(
        post_form(admin, url, {**data, "territory": "bas-saint-laurent"}),
        "Aucun numéro pour le territoire « bas-saint-laurent » pour :",
    )
    refused(
        post_form(admin, "/admin/line/menu", {"max_attempts": "0", "digit_timeout_ms": "5000"}),
        "Entre 1 et 9.",
    )
    refused(
        post_form(admin, "/admin/line/closed-menu", {"key_1": "@research", "key_2": "@research"}),
        "Une seule touche doit mener à la boîte vocale de recherche.",
    )
    refused(post_form(admin, "/admin/line/closed-menu", {"key_1": "nowhere", "key_3": "@research"}))
    assert version(app_engine) == 1


# ---- users -------------------------------------------------------------------------------

NEW_USER = {
    "username": "Zoe",
    "display_name": "Zoé Gagnon",
    "roles": "manager",
    "language": "fr",
    "password": NEW_PASSWORD,
    "confirm": NEW_PASSWORD,
}


def test_create_a_manager_who_can_log_in(
    app: Flask, admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    response = post_form(admin, "/admin/users", NEW_USER)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users/zoe")
    with Session(app_engine) as session:
        zoe = accounts.user_by_username(session, "zoe")
        assert zoe is not None and (zoe.roles, zoe.display_name) == (
            frozenset({"manager"}),
            "Zoé Gagnon",
        )
        assert zoe.password_hash != NEW_PASSWORD
    with app.test_client() as other:
        assert do_login(other, "zoe", NEW_PASSWORD).status_code == 302


def test_create_a_navigator_with_a_phone(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    data = {**NEW_USER, "roles": "navigator", "phone_endpoint": "PJSIP/nav-zoe"}
    assert post_form(admin, "/admin/users", data).status_code == 302
    with Session(app_engine) as session:
        zoe = accounts.user_by_username(session, "zoe")
        assert zoe is not None and zoe.navigator_id is not None
        nav = session.get(m.Navigator, zoe.navigator_id)
        assert nav is not None
        assert (nav.phone_endpoint, nav.queue_interface) == ("PJSIP/nav-zoe", "PJSIP/nav-zoe")
    page = admin.get("/admin/users").text
    assert "PJSIP/nav-zoe" in page and "PJSIP/nav-alice" in page


def test_create_user_invalid(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    refused(
        post_form(admin, "/admin/users", {**NEW_USER, "confirm": "autre chose encore"}),
        "Les deux mots de passe diffèrent.",
    )
    refused(
        post_form(admin, "/admin/users", {**NEW_USER, "password": "court", "confirm": "court"}),
        "Au moins 12 caractères.",
    )
    refused(
        post_form(admin, "/admin/users", {**NEW_USER, "roles": "navigator"}),
        "Un navigateur a besoin d'un poste",
    )
    refused(
        post_form(
            admin,
            "/admin/users",
            {**NEW_USER, "roles": "navigator", "phone_endpoint": "PJSIP/nav-alice"},
        ),
        "PJSIP/nav-alice appartient déjà au navigateur « nav-alice ».",
    )
    refused(
        post_form(admin, "/admin/users", {**NEW_USER, "phone_endpoint": "PJSIP/x"}),
        "Seul un navigateur est lié à un poste téléphonique.",
    )
    refused(
        post_form(admin, "/admin/users", {**NEW_USER, "username": "Manager"}),
        "Le nom d'utilisateur « manager » est déjà pris.",
    )
    with Session(app_engine) as session:
        assert accounts.user_by_username(session, "zoe") is None
        assert session.scalar(select(m.Navigator).where(m.Navigator.username == "zoe")) is None


def test_reset_password(
    app: Flask, admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    url = "/admin/users/manager/password"
    refused(
        post_form(admin, url, {"password": NEW_PASSWORD, "confirm": "x"}),
        "Les deux mots de passe diffèrent.",
    )
    response = post_form(admin, url, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    with app.test_client() as other:
        assert do_login(other, "manager", PASSWORD).status_code != 302
        assert do_login(other, "manager", NEW_PASSWORD).status_code == 302


def test_disable_and_enable(
    app: Flask, admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    assert post_form(admin, "/admin/users/navigator/disable").status_code == 302
    with Session(app_engine) as session:
        user = accounts.user_by_username(session, "navigator")
        assert user is not None and not user.active
        nav = session.get(m.Navigator, user.navigator_id)
        assert nav is not None and not nav.active
    with app.test_client() as other:
        assert do_login(other, "navigator", PASSWORD).status_code != 302
    assert post_form(admin, "/admin/users/navigator/enable").status_code == 302
    with app.test_client() as other:
        assert do_login(other, "navigator", PASSWORD).status_code == 302


def test_an_admin_cannot_disable_themselves(
    admin: FlaskClient, app_engine: Engine, post_form: Post
) -> None:
    refused(post_form(admin, "/admin/users/admin/disable"), "désactiver votre propre compte")
    with Session(app_engine) as session:
        me = accounts.user_by_username(session, "admin")
        assert me is not None and me.active


# ---- English -----------------------------------------------------------------------------


def test_messages_in_english(admin: FlaskClient, app_engine: Engine, post_form: Post) -> None:
    post_form(admin, "/language", {"language": "en"})
    url, data = VALID_FORMS["hours"]
    refused(
        post_form(admin, url, {**data, "mon_opens": "19:00", "mon_closes": "08:00"}),
        "The closing time must come after the opening time.",
    )
    response = post_form(admin, url, {**data, "sat_closes": "15:00"})
    assert response.status_code == 302
    page = admin.get(url).text
    assert "Saved. The change takes effect within seconds." in page
    assert "The line now" in page and "Closed all day" in page
    assert version(app_engine) == 3  # sat, sun
