"""``create_app``: the dashboard's Flask app, built explicitly (no import side effects).

It sets up the database context (dashboard/db.py), Flask-Login, CSRF on every POST
(Flask-WTF), Flask-Babel, the role guard that refuses any view without a declared role
(dashboard/roles.py), the security headers, the error pages and the blueprints, each
imported here and registered by name.

Cookies: the session cookie is HttpOnly, SameSite=Lax and Secure. ``Secure`` is off only
when ``allow_plain_http`` is true, which the configuration accepts only for a loopback
host (a browser on the same machine, or an SSH tunnel). Behind a TLS proxy,
``trusted_proxies`` says how many X-Forwarded-* hops to believe (for the client address
that login throttling counts, and the scheme).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from dashboard import (
    admin,
    audit,
    auth,
    call_reports,
    console,
    db,
    i18n,
    reports,
    research,
    status,
    wallboard,
)
from dashboard.echoes import shorten_echoes
from dashboard.options import DashboardOptions
from dashboard.roles import allowed_roles, current_roles, guard, has_role, role_label, roles_label
from dashboard.secret import load_secret_key, random_secret
from ivr.schedule import compute_state
from store.db import require_current
from store.rows import MAX_ROW_ID

log = logging.getLogger(__name__)

#: The header's menu: (endpoint, label); an entry shows when the app has the endpoint and
#: the user's role may open it. Name a blueprint's landing page "<blueprint>.index".
NAV_ITEMS: tuple[tuple[str, Any], ...] = (
    ("console.index", _l("Console")),
    ("wallboard.index", _l("Tableau mural")),
    ("reports.index", _l("Rapports")),
    ("research.index", _l("Recherche")),
    ("admin.index", _l("Administration")),
    ("status.index", _l("État de la ligne")),
)

__all__ = ["NAV_ITEMS", "create_app"]


def create_app(
    conf: DashboardOptions,
    *,
    engine: Engine,
    testing: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    """The dashboard app on ``engine``, which must be migrated to the code's revision (the
    caller owns it and disposes of it). With ``testing`` and no configured secret, the
    session key is random for this app (nothing written to disk). ``clock`` returns aware
    UTC time."""
    instance = conf.instance_path.resolve()
    app = Flask("dashboard", instance_path=str(instance))

    require_current(engine)
    app.extensions[db.EXTENSION] = db.DashboardContext.build(
        conf, engine, clock or (lambda: datetime.now(UTC))
    )

    if testing and conf.secret_key_file is None and conf.secret_key_env is None:
        secret = random_secret()
    else:
        secret = load_secret_key(conf)
    app.config.update(
        TESTING=testing,
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="ivr211_session",
        SESSION_COOKIE_SECURE=not conf.allow_plain_http,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=conf.session_hours),
        REMEMBER_COOKIE_SECURE=not conf.allow_plain_http,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # The token lives as long as the session: a console left open all shift must
        # not fail its next click with an expired token.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=1024 * 1024,
        # base.html shows the demonstration banner on every page (ivr211 demo).
        IVR211_DEMO=conf.demo,
        # admin/destinations.html says what the Twilio back end can dial.
        IVR211_TWILIO=conf.twilio_enabled,
    )
    if conf.trusted_proxies:
        n = conf.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    login_manager = LoginManager()
    login_manager.init_app(app)
    auth.init_login(login_manager)
    i18n.init_app(app, instance)
    app.before_request(guard)  # before CSRF: a refused role gets 403 whatever it posts
    CSRFProtect(app)
    app.teardown_appcontext(db.close_request_sessions)
    app.after_request(_security_headers)
    app.context_processor(_template_context)
    _register_error_pages(app)
    # Before the blueprints: a rule takes its converters when it is added to the map.
    app.url_map.converters["int"] = RowIdConverter
    _register_blueprints(app)
    return app


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a row id, 1 to ``MAX_ROW_ID``. Any other number
    matches no route (404) instead of reaching a query the database cannot run (500)."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = 1,
        max: int | None = MAX_ROW_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


#: Every blueprint, in the order they are registered; each sets its own ``url_prefix``.
BLUEPRINTS = (
    auth.bp,
    status.bp,
    reports.bp,
    call_reports.bp,
    admin.bp,
    console.bp,
    research.bp,
    audit.bp,
    wallboard.bp,
)


def _register_blueprints(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")
    return response


def _template_context() -> dict[str, Any]:
    nav = []
    held = current_roles()
    if held:
        for endpoint, label in NAV_ITEMS:
            view = current_app.view_functions.get(endpoint)
            roles = allowed_roles(view) if view is not None else None
            if isinstance(roles, frozenset) and held & roles:
                nav.append((endpoint, label))
    return {
        "nav_items": nav,
        "has_role": has_role,
        "role_label": role_label,
        "roles_label": roles_label,
        "header_line_state": _header_line_state() if current_user.is_authenticated else None,
    }


def _header_line_state() -> Any:
    """The line's state for the header; None when it cannot be known (the page still
    renders: an error page must never fail because the database is down)."""
    try:
        return compute_state(db.line_settings().schedule, db.now())
    except Exception:
        log.exception("cannot compute the line state for the header")
        return None


_ERROR_TEXT: dict[int, tuple[Any, Any]] = {
    400: (_l("Requête invalide"), _l("La demande n'a pas pu être traitée.")),
    403: (_l("Accès refusé"), _l("Votre rôle ne permet pas d'ouvrir cette page.")),
    404: (_l("Page introuvable"), _l("Cette page n'existe pas ou a été déplacée.")),
    405: (_l("Méthode non permise"), _l("Cette page ne s'ouvre pas de cette façon.")),
    413: (_l("Envoi trop volumineux"), _l("Les données envoyées sont trop volumineuses.")),
    429: (_l("Trop de demandes"), _l("Attendez quelques minutes, puis réessayez.")),
    500: (
        _l("Erreur du serveur"),
        _l("Erreur inattendue. Réessayez; si elle persiste, avisez un administrateur."),
    ),
}


def _wants_json() -> bool:
    return request.path.endswith(".json") or (
        request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json"
    )


def _error_page(code: int, message: str | None = None) -> tuple[Any, int]:
    title, default = _ERROR_TEXT.get(code, _ERROR_TEXT[500])
    # A view's own message may repeat what the user sent: cut like every echo.
    text = shorten_echoes(message) if message else str(default)
    if _wants_json():
        return jsonify(error=str(title), message=text), code
    return render_template("error.html", code=code, title=title, message=text), code


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_exc: CSRFError) -> tuple[Any, int]:
        return _error_page(
            400,
            _("Le formulaire a expiré ou n'est pas valide. Rechargez la page, puis recommencez."),
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if code < 400:
            return exc
        if code == 403:
            audit.record_refused()
        # A view that aborts with its own description (abort(400, text)) shows it.
        own = exc.description if exc.description != type(exc).description else None
        return _error_page(code if code in _ERROR_TEXT else 500 if code >= 500 else 400, own)

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError) -> tuple[Any, int]:
        original = getattr(exc, "original_exception", None)
        if original is not None:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        return _error_page(500)


def warm_up(app: Flask) -> int:
    """Compile every page's template now, when the dashboard starts, rather than on the
    first request that needs it (the first manager after a restart would wait for it);
    returns how many were compiled."""
    env = app.jinja_env
    names = [name for name in env.list_templates() if name.endswith(".html")]
    for name in names:
        env.get_template(name)
    return len(names)
