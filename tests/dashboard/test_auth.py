"""Logging in and out: the form, CSRF, cookies, throttling, sessions, error pages."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard import DashboardOptions, SecretKeyError, create_app, load_secret_key
from dashboard.auth import safe_next
from ivr211.config import Config, ConfigError, load_config
from ivr211.dashboard_options import dashboard_options
from store import accounts
from tests.dashboard.conftest import PASSWORD, FakeClock, TestUser, do_login, read_csrf_token

BAD = "Nom d'utilisateur ou mot de passe incorrect."
LOCKED = re.compile(r"Trop de tentatives de connexion\. Réessayez dans (\d+) minute")


def _text(html: str) -> str:
    return html.replace("&#39;", "'").replace("&#34;", '"')


def test_login_page_is_french_with_csrf_and_no_cache(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert "Nom d'utilisateur" in _text(response.text)
    assert 'name="csrf_token"' in response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_login_sends_each_role_home_and_shows_who_and_the_line(
    client: FlaskClient, users: Mapping[str, TestUser]
) -> None:
    user = users["manager"]
    response = do_login(client, user.username, PASSWORD)
    assert response.status_code == 302
    page = client.get("/status")
    assert page.status_code == 200
    assert "Manager Test" in page.text
    assert "Ligne ouverte" in page.text  # Wednesday 14:00 in Québec


def test_login_ignores_the_case_of_the_user_name(
    client: FlaskClient, users: Mapping[str, TestUser]
) -> None:
    assert do_login(client, "  MANAGER ", PASSWORD).status_code == 302


def test_session_cookie_is_secure_httponly_lax(
    client: FlaskClient, users: Mapping[str, TestUser]
) -> None:
    response = do_login(client, "admin", PASSWORD)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if "ivr211_session=" in h)
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_plain_http_cookies_only_when_configured_on_loopback(
    tmp_path: Path, app_engine: Engine, users: Mapping[str, TestUser]
) -> None:
    config = Config.model_validate(
        {
            "dashboard": {
                "allow_plain_http": True,
                "host": "127.0.0.1",
                "instance_path": str(tmp_path / "i"),
            }
        }
    )
    app = create_app(dashboard_options(config), engine=app_engine, testing=True)
    with app.test_client() as client:
        response = do_login(client, "admin", PASSWORD)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if "ivr211_session=" in h)
    assert "Secure" not in cookie
    assert "HttpOnly" in cookie
    with pytest.raises(ConfigError, match="allow_plain_http"):
        load_config(
            environ={
                "IVR211_DASHBOARD__ALLOW_PLAIN_HTTP": "true",
                "IVR211_DASHBOARD__HOST": "0.0.0.0",
            }
        )


def test_wrong_password_unknown_user_and_disabled_user_say_the_same(
    client: FlaskClient, app_engine: Engine, users: Mapping[str, TestUser]
) -> None:
    with Session(app_engine) as session, session.begin():
        session.scalars(
            select(accounts.User).where(accounts.User.username == "research")
        ).one().active = False
    answers = []
    for name, password in (
        ("manager", "not the password"),
        ("nobody", PASSWORD),
        ("research", PASSWORD),
    ):
        response = do_login(client, name, password)
        answers.append((response.status_code, BAD in _text(response.text)))
    assert answers == [(200, True)] * 3


def test_login_without_csrf_token_is_refused(
    client: FlaskClient, users: Mapping[str, TestUser]
) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 400
    assert "Rechargez la page" in response.text
    assert client.get("/status").status_code == 302  # still anonymous


def test_logout_needs_post_and_csrf(
    client: FlaskClient, login: Callable[[FlaskClient, str], TestUser]
) -> None:
    login(client, "manager")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/status").status_code == 200
    response = client.post("/logout", data={"csrf_token": read_csrf_token(client)})
    assert response.status_code == 302
    assert client.get("/status").status_code == 302


def test_five_failures_lock_the_name_for_a_few_minutes(
    client: FlaskClient, clock: FakeClock, users: Mapping[str, TestUser]
) -> None:
    for _ in range(5):
        assert BAD in _text(do_login(client, "manager", "wrong password!").text)
    response = do_login(client, "manager", PASSWORD)  # right password, but locked
    assert response.status_code == 429
    match = LOCKED.search(response.text)
    assert match is not None and match.group(1) == "5"
    assert client.get("/status").status_code == 302
    clock.advance(4 * 60)
    locked = do_login(client, "manager", PASSWORD)
    assert locked.status_code == 429
    assert LOCKED.search(locked.text).group(1) == "1"  # type: ignore[union-attr]
    clock.advance(61)
    assert do_login(client, "manager", PASSWORD).status_code == 302


def test_unknown_names_lock_like_real_ones(client: FlaskClient, app: Flask) -> None:
    for _ in range(5):
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{_ + 1}"  # spread over addresses
        assert do_login(client, "ghost", "whatever it is").status_code == 200
    client.environ_base["REMOTE_ADDR"] = "192.0.2.99"
    response = do_login(client, "ghost", "whatever it is")
    assert response.status_code == 429
    assert LOCKED.search(response.text) is not None


def test_one_users_failures_do_not_lock_the_others_behind_the_same_address(
    client: FlaskClient, app: Flask, users: Mapping[str, TestUser]
) -> None:
    """A whole centre may reach the dashboard from one address (NAT)."""
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    for _ in range(5):
        do_login(client, "manager", "wrong password!")
    assert do_login(client, "manager", PASSWORD).status_code == 429
    colleague = app.test_client()
    colleague.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert do_login(colleague, "admin", PASSWORD).status_code == 302


def test_many_failures_from_one_address_lock_that_address_until_an_admin_lifts_it(
    dashboard_config: Config,
    app_engine: Engine,
    users: Mapping[str, TestUser],
    clock: FakeClock,
    csrf_token: Callable[[FlaskClient], str],
) -> None:
    options = replace(dashboard_options(dashboard_config), login_address_max_failures=8)
    app = create_app(options, engine=app_engine, testing=True, clock=clock)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    for n in range(8):  # under five per name: only the address's count reaches its limit
        do_login(client, ("manager", "research", "navigator", "someone")[n % 4], "wrong!")
    assert do_login(client, "admin", PASSWORD).status_code == 429
    admin = app.test_client()
    admin.environ_base["REMOTE_ADDR"] = "198.51.100.8"
    assert do_login(admin, "admin", PASSWORD).status_code == 302
    page = admin.get("/admin/users")
    assert page.status_code == 200
    assert 'id="lock-address-198.51.100.7"' in page.text
    assert "lock-user-" not in page.text
    response = admin.post(
        "/admin/users/locks/unlock",
        data={"scope": "address", "key": "198.51.100.7", "csrf_token": csrf_token(admin)},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"
    assert "Aucune connexion bloquée." in _text(admin.get("/admin/users").text)
    assert do_login(client, "admin", PASSWORD).status_code == 302


def test_an_admin_lifts_a_name_lock_from_the_users_pages(
    client: FlaskClient,
    app: Flask,
    users: Mapping[str, TestUser],
    login: Callable[[FlaskClient, str], TestUser],
    csrf_token: Callable[[FlaskClient], str],
) -> None:
    for _ in range(5):
        do_login(client, "manager", "wrong password!")
    admin = app.test_client()
    admin.environ_base["REMOTE_ADDR"] = "198.51.100.8"
    login(admin, "admin")
    assert 'id="lock-user-manager"' in admin.get("/admin/users").text
    page = admin.get("/admin/users/manager")
    assert 'id="login-lock"' in page.text
    for bad in ({"scope": "root", "key": "manager"}, {"scope": "user", "key": "x" * 101}):
        refused = admin.post(
            "/admin/users/locks/unlock", data={**bad, "csrf_token": csrf_token(admin)}
        )
        assert refused.status_code == 400
    assert do_login(client, "manager", PASSWORD).status_code == 429
    response = admin.post(
        "/admin/users/locks/unlock",
        data={
            "scope": "user",
            "key": "manager",
            "back": "user",
            "csrf_token": csrf_token(admin),
        },
    )
    assert response.headers["Location"] == "/admin/users/manager"
    assert 'id="login-lock"' not in admin.get("/admin/users/manager").text
    assert do_login(client, "manager", PASSWORD).status_code == 302


def test_a_session_cookie_kept_from_before_logout_is_refused(
    client: FlaskClient, app: Flask, login: Callable[[FlaskClient, str], TestUser]
) -> None:
    login(client, "manager")
    name = app.config["SESSION_COOKIE_NAME"]
    kept = client.get_cookie(name)
    assert kept is not None
    thief = app.test_client()
    thief.set_cookie(name, kept.value, domain=kept.domain, secure=kept.secure)
    assert thief.get("/status").status_code == 200  # the copy works while logged in
    response = client.post("/logout", data={"csrf_token": read_csrf_token(client)})
    assert response.status_code == 302
    assert thief.get("/status").status_code == 302
    assert client.get("/status").status_code == 302


def test_success_resets_the_name_counter(
    client: FlaskClient, app: Flask, users: Mapping[str, TestUser]
) -> None:
    for _ in range(4):
        do_login(client, "manager", "wrong password!")
    assert do_login(client, "manager", PASSWORD).status_code == 302
    again = app.test_client()
    again.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    for _ in range(4):
        do_login(again, "manager", "wrong password!")
    assert do_login(again, "manager", PASSWORD).status_code == 302


def test_next_is_followed_only_when_local(
    client: FlaskClient, users: Mapping[str, TestUser]
) -> None:
    response = do_login(client, "manager", PASSWORD, next_url="/status")
    assert response.headers["Location"] == "/status"
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "status"):
        assert safe_next(bad) is None


def test_a_password_change_ends_other_sessions(
    client: FlaskClient,
    app: Flask,
    app_engine: Engine,
    login: Callable[[FlaskClient, str], TestUser],
) -> None:
    login(client, "manager")
    assert client.get("/status").status_code == 200
    with Session(app_engine) as session, session.begin():
        accounts.set_password(session, "manager", "a brand new long password")
    assert client.get("/status").status_code == 302


def test_a_disabled_user_is_logged_out_at_the_next_request(
    client: FlaskClient, app_engine: Engine, login: Callable[[FlaskClient, str], TestUser]
) -> None:
    login(client, "admin")
    with Session(app_engine) as session, session.begin():
        accounts.user_by_username(session, "admin").active = False  # type: ignore[union-attr]
    assert client.get("/status").status_code == 302


def test_language_switch_to_english_and_back(
    client: FlaskClient, app_engine: Engine, login: Callable[[FlaskClient, str], TestUser]
) -> None:
    login(client, "manager")
    token = read_csrf_token(client)
    response = client.post(
        "/language", data={"language": "en", "next": "/status", "csrf_token": token}
    )
    assert response.headers["Location"] == "/status"
    page = client.get("/status")
    assert '<html lang="en">' in page.text
    assert "Line status" in page.text and "Line open" in page.text
    assert "Nov 25, 2026" in page.text
    with Session(app_engine) as session:
        assert accounts.user_by_username(session, "manager").language == "en"  # type: ignore[union-attr]
    client.post("/language", data={"language": "fr", "csrf_token": token})
    assert "État de la ligne" in client.get("/status").text


def test_saved_language_applies_at_login(
    client: FlaskClient, app_engine: Engine, users: Mapping[str, TestUser]
) -> None:
    with Session(app_engine) as session, session.begin():
        accounts.user_by_username(session, "research").language = "en"  # type: ignore[union-attr]
    do_login(client, "research", PASSWORD)
    assert "Line status" in client.get("/status").text


def test_error_pages_use_the_layout_and_never_show_a_traceback(
    app: Flask, client: FlaskClient, login: Callable[[FlaskClient, str], TestUser]
) -> None:
    def broken() -> str:
        raise RuntimeError("secret internals")

    from dashboard.roles import ALL_ROLES, role_required

    app.add_url_rule("/broken", "broken", role_required(*ALL_ROLES)(broken))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    login(client, "navigator")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert "Page introuvable" in missing.text and "Se déconnecter" in missing.text
    response = client.get("/broken")
    assert response.status_code == 500
    assert "Erreur du serveur" in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert client.get("/status.json/").status_code == 404
    forbidden = client.get("/broken", headers={"Accept": "application/json"})
    assert forbidden.status_code == 500 and forbidden.json == {
        "error": "Erreur du serveur",
        "message": "Erreur inattendue. Réessayez; si elle persiste, avisez un administrateur.",
    }


def _options(**dashboard: str) -> DashboardOptions:
    return dashboard_options(Config.model_validate({"dashboard": dashboard}))


def test_generated_secret_is_private_and_reused(tmp_path: Path) -> None:
    conf = _options(generated_secret_path=str(tmp_path / "var" / "dashboard-secret"))
    first = load_secret_key(conf, environ={})
    path = tmp_path / "var" / "dashboard-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret_key(conf, environ={}) == first and len(first) >= 64
    os.chmod(path, 0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        load_secret_key(conf, environ={})


def test_secret_from_environment_or_file(tmp_path: Path) -> None:
    conf = _options(secret_key_env="DASH_SECRET")
    assert load_secret_key(conf, environ={"DASH_SECRET": "x" * 40}) == "x" * 40
    with pytest.raises(SecretKeyError, match="DASH_SECRET"):
        load_secret_key(conf, environ={})
    secret_file = tmp_path / "secret"
    secret_file.write_text("y" * 40 + "\n")
    assert load_secret_key(_options(secret_key_file=str(secret_file)), environ={}) == "y" * 40
