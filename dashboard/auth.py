"""Logging in and out, the home page that sends each role to its pages, the language switch.

A failed login always says the same thing ("Nom d'utilisateur ou mot de passe
incorrect."), whether the name exists, the account is disabled or the password is wrong;
a locked name or address says so with the minutes left (unknown names lock too, so the
lock tells nothing either). See store/login_throttle.py for the throttle itself.

The session cookie holds ``<user id>:<secret>`` of a session row: logging out deletes
the row, so the cookie is refused afterwards even if someone kept a copy; a password
change or reset deletes every session of that user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from dashboard import db
from dashboard.i18n import SESSION_KEY
from dashboard.roles import ALL_ROLES, public, role_required
from store import accounts, login_throttle
from store.accounts import LANGUAGES, ROLES, roles_text
from store.login_throttle import ThrottlePolicy

bp = Blueprint("auth", __name__)

#: Where "/" sends each role: the first of these endpoints the app has.
HOME_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "manager": ("reports.index", "status.index"),
    "navigator": ("console.index", "status.index"),
    "research": ("research.index", "status.index"),
    "admin": ("admin.index", "status.index"),
}


@dataclass(frozen=True)
class CurrentUser:
    """What a request knows about the user logged in (a snapshot, not the ORM row)."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    language: str
    navigator_id: int | None
    secret: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}:{self.secret}"

    @classmethod
    def of(cls, user: accounts.User, secret: str) -> CurrentUser:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            roles=user.roles,
            language=user.language,
            navigator_id=user.navigator_id,
            secret=secret,
        )


class LoginForm(FlaskForm):  # type: ignore[misc]
    username = StringField(_l("Nom d'utilisateur"), validators=[InputRequired(), Length(max=100)])
    password = PasswordField(_l("Mot de passe"), validators=[InputRequired(), Length(max=1024)])


def init_login(app_login: LoginManager) -> None:
    app_login.login_view = "auth.login"
    app_login.login_message = _l("Connectez-vous pour voir cette page.")
    app_login.session_protection = "basic"
    app_login.user_loader(_load_user)


def _load_user(user_id: str) -> CurrentUser | None:
    ident, _sep, secret = user_id.partition(":")
    if not ident.isdigit() or len(ident) > 18 or not secret:
        return None
    user = accounts.user_for_session(db.read_session(), int(ident), secret, db.now())
    return None if user is None else CurrentUser.of(user, secret)


def safe_next(target: str | None) -> str | None:
    """A local path to go back to after login, or None (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def home_url() -> str:
    """The first page of the user's roles (in ``ROLES`` order: a director both manager
    and administrator lands on the reports)."""
    for role in ROLES:
        if role not in current_user.roles:
            continue
        for endpoint in HOME_ENDPOINTS.get(role, ()):
            if endpoint in current_app.view_functions:
                return url_for(endpoint)
    return url_for("status.index")


def _policy() -> ThrottlePolicy:
    conf = db.options()
    return ThrottlePolicy(
        max_failures=conf.login_max_failures,
        lock=timedelta(seconds=conf.login_lock_s),
        window=timedelta(seconds=conf.login_window_s),
        address_max_failures=conf.login_address_max_failures,
    )


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> str | WerkzeugResponse | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(home_url())
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        now = db.now()
        with db.write() as s:
            result = login_throttle.authenticate(
                s,
                form.username.data or "",
                form.password.data or "",
                request.remote_addr or "unknown",
                now,
                _policy(),
            )
            who = None
            if result.user is not None:
                lifetime = timedelta(hours=db.options().session_hours)
                secret = accounts.start_session(s, result.user, now, lifetime)
                who = CurrentUser.of(result.user, secret)
        if who is not None:
            language = session.get(SESSION_KEY)
            session.clear()
            if language in LANGUAGES:
                session[SESSION_KEY] = language
            session.permanent = True
            login_user(who)
            current_app.logger.info("login: %s (%s)", who.username, roles_text(who.roles))
            return redirect(safe_next(request.args.get("next")) or home_url())
        if result.locked_until is not None:
            minutes = max(1, math.ceil((result.locked_until - now).total_seconds() / 60))
            flash(
                _(
                    "Trop de tentatives de connexion. Réessayez dans %(minutes)s minute(s).",
                    minutes=minutes,
                ),
                "error",
            )
            status = 429
        else:
            flash(_("Nom d'utilisateur ou mot de passe incorrect."), "error")
        current_app.logger.warning(
            "login refused for %r from %s%s",
            (form.username.data or "")[:100],
            request.remote_addr,
            " (locked)" if result.locked_until else "",
        )
    elif request.method == "POST":
        status = 400
    form.password.data = ""
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@role_required(*ALL_ROLES)
def logout() -> WerkzeugResponse:
    language = session.get(SESSION_KEY)
    with db.write() as s:
        accounts.end_session(s, current_user.secret)
    logout_user()
    session.clear()
    if language in LANGUAGES:
        session[SESSION_KEY] = language
    flash(_("Vous êtes déconnecté."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
@role_required(*ALL_ROLES)
def home() -> WerkzeugResponse:
    return redirect(home_url())


@bp.post("/language")
@public
def language() -> WerkzeugResponse:
    """Switch the language (a form in the header); saved on the account when logged in."""
    chosen = request.form.get("language", "")
    if chosen in LANGUAGES:
        session[SESSION_KEY] = chosen
        if current_user.is_authenticated:
            with db.write() as s:
                accounts.set_language(s, current_user.id, chosen)
    back = safe_next(request.form.get("next"))
    return redirect(back or url_for("auth.home"))
