"""Who may see what: every view declares its roles, and anything undeclared is refused.

A view is either ``@role_required("manager", ...)`` or ``@public`` (the login page).
``create_app`` installs ``guard`` before every request, so a view that forgot its
declaration answers 403 for everyone instead of opening a hole, and the role-walk test
(tests/dashboard/test_roles.py) reads the same declarations through ``allowed_roles``.

Roles are not a hierarchy: an administrator does not see the research voicemail (Loi 25:
only the research role may), nor the console. An account may hold several roles (a
director both manager and administrator) and may open a view when any of them is
allowed; the research role is never held with another (``store.accounts.check_roles``).
A view open to everyone logged in says ``@role_required(*ALL_ROLES)``.

A refusal (403) of someone logged in is written to the audit log (action "refused",
``dashboard.audit.record_refused``): who tried to open what, with which roles.

Put the decorator under ``@bp.route``::

    @bp.get("/")
    @role_required("manager")
    def index() -> str: ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from store.accounts import ROLES, roles_text

ALL_ROLES: tuple[str, ...] = ROLES
PUBLIC = "public"
_ATTR = "_dashboard_roles"

ROLE_LABELS: dict[str, Any] = {
    "manager": _l("Gestion"),
    "navigator": _l("Navigation"),
    "research": _l("Recherche"),
    "admin": _l("Administration"),
}

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "ALL_ROLES",
    "PUBLIC",
    "ROLE_LABELS",
    "allowed_roles",
    "current_role",
    "current_roles",
    "guard",
    "has_role",
    "public",
    "role_label",
    "role_required",
    "roles_label",
]


def role_required(*roles: str) -> Callable[[F], F]:
    """Only users with one of ``roles`` may call the view (403 for others, login redirect
    for anonymous visitors)."""
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise ValueError(f"role_required needs roles among {ROLES}, got {roles!r}")
    allowed = frozenset(roles)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            denied = _check(allowed)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        setattr(wrapper, _ATTR, allowed)
        return wrapper  # type: ignore[return-value]

    return decorate


def public(view: F) -> F:
    """The view is open to anonymous visitors (login, static files, the language switch)."""
    setattr(view, _ATTR, PUBLIC)
    return view


def allowed_roles(view: Callable[..., Any]) -> frozenset[str] | str | None:
    """The roles a view declared, ``PUBLIC``, or None when it declared nothing."""
    declared: frozenset[str] | str | None = getattr(view, _ATTR, None)
    return declared


def current_roles() -> frozenset[str]:
    """The roles of the user logged in (none for an anonymous visitor)."""
    if not current_user.is_authenticated:
        return frozenset()
    roles: frozenset[str] = current_user.roles
    return roles


def current_role() -> str | None:
    """The roles of the user logged in as the audit log writes them ("manager+admin"),
    None for an anonymous visitor."""
    roles = current_roles()
    return roles_text(roles) if roles else None


def has_role(*roles: str) -> bool:
    return bool(current_roles().intersection(roles))


def role_label(role: str) -> str:
    """A role in words; several joined by "+" ("manager+admin") read "Gestion, Administration"."""
    return ", ".join(str(ROLE_LABELS.get(r, r)) for r in role.split("+") if r) or role


def roles_label(roles: frozenset[str] | set[str]) -> str:
    """Roles in words, in ``ROLES`` order."""
    return role_label(roles_text(roles))


def _check(allowed: frozenset[str]) -> WerkzeugResponse | None:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=_safe_next()))
    if not current_roles() & allowed:
        abort(403)
    return None


def _safe_next() -> str | None:
    if request.method != "GET":
        return None
    return request.full_path.rstrip("?") if request.path != "/" else None


def guard() -> WerkzeugResponse | None:
    """``before_request``: deny by default, before CSRF and before the view runs."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404 / 405: werkzeug answers
    if endpoint == "static" or endpoint.endswith(".static"):
        return None
    view = current_app.view_functions.get(endpoint)
    declared = allowed_roles(view) if view is not None else None
    if declared == PUBLIC:
        return None
    if not isinstance(declared, frozenset):
        current_app.logger.error("view %s declares no role: refused", endpoint)
        abort(403)
    return _check(declared)
