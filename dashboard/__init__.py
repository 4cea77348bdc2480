"""The dashboard: one Flask app, one blueprint per audience, on the line's database.

``create_app`` builds everything explicitly (no import side effects): the database
context (dashboard/db.py), Flask-Login, CSRF on every POST (Flask-WTF), Flask-Babel,
the role guard that refuses any view without a declared role (dashboard/roles.py), the
error pages and the blueprints. ``ivr211 dashboard`` serves it with waitress.

Cookies: the session cookie is HttpOnly, SameSite=Lax and Secure. ``Secure`` is off only
when ``[dashboard] allow_plain_http`` is true, which the configuration accepts only for a
loopback host (a browser on the same machine, or an SSH tunnel). Behind a TLS proxy,
``trusted_proxies`` says how many X-Forwarded-* hops to believe (for the client address
that login throttling counts, and the scheme).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.middleware.proxy_fix import ProxyFix

from dashboard import db, i18n
from dashboard.options import DashboardOptions
from dashboard.roles import allowed_roles, current_role, guard, has_role, role_label
from store.db import require_current

log = logging.getLogger(__name__)

SECRET_BYTES = 32

#: The header's menu: (endpoint, label); an entry shows when the app has the endpoint and
#: the user's role may open it. Name a blueprint's landing page "<blueprint>.index".
NAV_ITEMS: tuple[tuple[str, Any], ...] = (
    ("console.index", _l("Console")),
    ("reports.index", _l("Rapports")),
    ("research.index", _l("Recherche")),
    ("admin.index", _l("Administration")),
    ("status.index", _l("État de la ligne")),
)

__all__ = ["NAV_ITEMS", "DashboardOptions", "SecretKeyError", "create_app", "load_secret_key"]


class SecretKeyError(ValueError):
    """The session secret cannot be read or created."""


def load_secret_key(conf: DashboardOptions, environ: Mapping[str, str] | None = None) -> str:
    """The session secret: ``secret_key_file``, else ``$secret_key_env``, else the key in
    ``generated_secret_path``, created once (mode 0600) when missing."""
    env = os.environ if environ is None else environ
    if conf.secret_key_file is not None:
        try:
            key = conf.secret_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretKeyError(
                f"dashboard.secret_key_file: cannot read {conf.secret_key_file}: {exc.strerror}"
            ) from None
        if len(key) < 16:
            raise SecretKeyError(f"dashboard.secret_key_file: {conf.secret_key_file} is too short")
        return key
    if conf.secret_key_env is not None:
        key = env.get(conf.secret_key_env, "")
        if len(key) < 16:
            raise SecretKeyError(
                f"dashboard.secret_key_env: ${conf.secret_key_env} is unset or too short"
            )
        return key
    return _generated_secret(conf.generated_secret_path)


def _generated_secret(path: Path) -> str:
    try:
        return _read_private(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(SECRET_BYTES)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dashboard-secret-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        try:
            os.link(tmp, path)  # fails if another process created it first: use theirs
        except FileExistsError:
            return _read_private(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("dashboard: generated a new session secret in %s", path)
    return key


def _read_private(path: Path) -> str:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecretKeyError(
            f"dashboard secret {path} is readable by others (mode {mode:o}): chmod 600 it"
        )
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise SecretKeyError(f"dashboard secret {path} is too short: delete it to regenerate")
    return key


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
    app = Flask(__name__, instance_path=str(instance))

    require_current(engine)
    app.extensions[db.EXTENSION] = db.DashboardContext.build(
        conf, engine, clock or (lambda: datetime.now(UTC))
    )

    if testing and conf.secret_key_file is None and conf.secret_key_env is None:
        secret = secrets.token_hex(SECRET_BYTES)
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
    )
    if conf.trusted_proxies:
        n = conf.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    login_manager = LoginManager()
    login_manager.init_app(app)
    from dashboard.auth import init_login

    init_login(login_manager)
    i18n.init_app(app, instance)
    app.before_request(guard)  # before CSRF: a refused role gets 403 whatever it posts
    CSRFProtect(app)
    app.teardown_appcontext(db.close_request_sessions)
    app.after_request(_security_headers)
    app.context_processor(_template_context)
    _register_error_pages(app)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    """Every blueprint, explicitly; each sets its own ``url_prefix``."""
    from dashboard import auth, status

    app.register_blueprint(auth.bp)
    app.register_blueprint(status.bp)
    # One line per audience below (reports, console, admin, research).
    app.register_blueprint(__import__("dashboard.reports", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("dashboard.admin", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("dashboard.console", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("dashboard.research", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("dashboard.audit", fromlist=["bp"]).bp)


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
    from flask import current_app

    nav = []
    role = current_role()
    if role is not None:
        for endpoint, label in NAV_ITEMS:
            view = current_app.view_functions.get(endpoint)
            roles = allowed_roles(view) if view is not None else None
            if isinstance(roles, frozenset) and role in roles:
                nav.append((endpoint, label))
    return {
        "nav_items": nav,
        "has_role": has_role,
        "role_label": role_label,
        "header_line_state": _header_line_state() if current_user.is_authenticated else None,
    }


def _header_line_state() -> Any:
    """The line's state for the header; None when it cannot be known (the page still
    renders: an error page must never fail because the database is down)."""
    from ivr.schedule import compute_state

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
    text = message or str(default)
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
        return _error_page(code if code in _ERROR_TEXT else 500 if code >= 500 else 400)

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError) -> tuple[Any, int]:
        original = getattr(exc, "original_exception", None)
        if original is not None:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        return _error_page(500)
