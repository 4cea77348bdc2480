"""The dashboard's users: create one (a navigator tied to a phone) with one or several
roles, change an account's roles, reset a password, disable or enable an account, lift a
login lock (of a name or of a client address).

The research role stays apart (the page says so): an account holding it holds no other,
so no one outside the research team reads a message. Creating a research account,
resetting its password or moving an account into or out of the research role is audited
and told to the team (``store.research_access``)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import db
from dashboard.admin.account_forms import (
    PasswordResetForm,
    RolesForm,
    TwilioPhoneForm,
    UnlockForm,
    UserCreateForm,
)
from dashboard.admin.forms import CsrfOnlyForm, choices
from dashboard.admin.pages import ADMIN, Page, bp, by, done, page, post
from dashboard.research import tell_research_team
from dashboard.roles import role_required
from store import accounts, login_throttle, navigators, research_access

RESEARCH_APART = _l(
    "Le rôle Recherche reste à part : un compte de recherche n'a aucun autre rôle, et"
    " personne hors de l'équipe de recherche ne lit les messages de la boîte vocale de"
    " recherche, pas même un administrateur. Les autres rôles se combinent (p. ex. une"
    " direction à la fois Gestion et Administration). Créer un compte de recherche, en"
    " réinitialiser le mot de passe ou en changer les rôles est inscrit au journal et"
    " signalé à l'équipe de recherche."
)


def _free_navigators(session: Session) -> list[navigators.Navigator]:
    tied = {u.navigator_id for u in accounts.list_users(session) if u.navigator_id is not None}
    return [n for n in navigators.list_navigators(session) if n.id not in tied]


def _user_form(formdata: bool) -> UserCreateForm:
    form = (
        UserCreateForm() if formdata else UserCreateForm(formdata=None, data={"roles": ["manager"]})
    )
    form.navigator.choices = choices(
        [("", _("(nouveau compte, poste ci-dessous)"))]
        + [
            (str(n.id), f"{n.username} — {n.phone_endpoint}")
            for n in _free_navigators(db.read_session())
        ]
    )
    return form


@bp.get("/users")
@role_required(ADMIN)
def users(status: int = 200, form: UserCreateForm | None = None) -> Page:
    """The page; after a refused POST, shown again with its form and status 400."""
    session = db.read_session()
    by_id = {n.id: n for n in navigators.list_navigators(session)}
    return page(
        "admin/users.html",
        status,
        users=accounts.list_users(session),
        navigators=by_id,
        research_apart_text=RESEARCH_APART,
        form=form or _user_form(formdata=False),
        locks=login_throttle.locks(session, db.now()),
        unlock_form=UnlockForm(formdata=None),
    )


@bp.post("/users")
@role_required(ADMIN)
def user_create() -> Page:
    form = _user_form(formdata=True)

    def change(session: Session) -> research_access.AccountChange:
        navigator_id: int | None = None
        roles = set(form.roles.data or ())
        if "navigator" in roles:
            if form.navigator.data:
                navigator_id = int(form.navigator.data)
            else:
                navigator_id = navigators.add_navigator(
                    session,
                    accounts.normalize_username(form.username.data),
                    form.display_name.data or "",
                    form.phone_endpoint.data,
                    form.queue_interface.data or None,
                ).id
        user = accounts.create_user(
            session,
            form.username.data,
            form.password.data,
            roles,
            display_name=form.display_name.data or "",
            language=form.language.data,
            navigator_id=navigator_id,
            now=db.now(),
        )
        return research_access.record_research_account_created(
            session, user, by=current_user.username, by_role=ADMIN, at=db.now()
        )

    def created(change: research_access.AccountChange | None) -> WerkzeugResponse:
        name = change.account if change else None
        current_app.logger.info("user %s created by %s", name, by())
        tell_research_team(change)
        return done("admin.user", username=name)

    def again() -> Page:
        form.password.data = form.confirm.data = ""
        return users(400, form)

    return post(form, change, created, again)


def _user_or_404(username: str) -> accounts.User:
    user = accounts.user_by_username(db.read_session(), username)
    if user is None:
        abort(404)
    return user


@bp.get("/users/<username>")
@role_required(ADMIN)
def user(
    username: str,
    status: int = 200,
    form: PasswordResetForm | None = None,
    roles_form: RolesForm | None = None,
    twilio_form: TwilioPhoneForm | None = None,
) -> Page:
    """The page; after a refused POST, shown again with its form and status 400."""
    user = _user_or_404(username)
    session = db.read_session()
    navigator = None
    if user.navigator_id is not None:
        navigator = navigators.navigator_by_id(session, user.navigator_id)
    return page(
        "admin/user.html",
        status,
        user=user,
        navigator=navigator,
        locked_until=login_throttle.lock_of(session, user.username, db.now()),
        unlock_form=UnlockForm(formdata=None),
        research_apart_text=RESEARCH_APART,
        form=form or PasswordResetForm(formdata=None),
        roles_form=roles_form or RolesForm(formdata=None, data={"roles": sorted(user.roles)}),
        twilio_form=twilio_form
        or TwilioPhoneForm(
            formdata=None, data={"address": navigator.twilio_address if navigator else ""}
        ),
        twilio=db.options().twilio_enabled,
        plain=CsrfOnlyForm(formdata=None),
    )


@bp.post("/users/<username>/twilio")
@role_required(ADMIN)
def user_twilio(username: str) -> Page:
    """The navigator's phone on the Twilio line (empty: none)."""
    target = _user_or_404(username)
    form = TwilioPhoneForm()

    def change(session: Session) -> navigators.Navigator:
        navigator = (
            None
            if target.navigator_id is None
            else navigators.navigator_by_id(session, target.navigator_id)
        )
        if navigator is None:
            raise navigators.NavigatorError(
                f"no navigator {username!r}", "no_navigator", username=username
            )
        return navigators.set_twilio_address(session, navigator.username, form.address.data)

    def saved(navigator: navigators.Navigator | None) -> WerkzeugResponse:
        address = navigator.twilio_address if navigator else None
        current_app.logger.info(
            "Twilio phone of %s set to %s by %s", username, address or "none", by()
        )
        flash(
            _("Téléphone sur la ligne Twilio enregistré.")
            if address
            else _("Ce navigateur ne prend plus d'appels sur la ligne Twilio."),
            "success",
        )
        return redirect(url_for("admin.user", username=username))

    return post(form, change, saved, lambda: user(username, 400, twilio_form=form))


@bp.post("/users/<username>/password")
@role_required(ADMIN)
def user_password(username: str) -> Page:
    _user_or_404(username)
    form = PasswordResetForm()

    def changed(change: research_access.AccountChange | None) -> WerkzeugResponse:
        current_app.logger.info("password of %s reset by %s", username, by())
        tell_research_team(change)
        flash(_("Mot de passe changé : les sessions de cet utilisateur sont fermées."), "info")
        return redirect(url_for("admin.user", username=username))

    def again() -> Page:
        form.password.data = form.confirm.data = ""
        return user(username, 400, form)

    return post(
        form,
        lambda session: research_access.reset_password(
            session,
            username,
            form.password.data,
            by=current_user.username,
            by_role=ADMIN,
            at=db.now(),
        ),
        changed,
        again,
    )


@bp.post("/users/<username>/roles")
@role_required(ADMIN)
def user_roles(username: str) -> Page:
    target = _user_or_404(username)
    form = RolesForm()

    def check(session: Session) -> research_access.AccountChange:
        roles = set(form.roles.data or ())
        if target.id == current_user.id and ADMIN not in roles:
            raise accounts.AccountError(
                "an administrator cannot remove their own administrator role", "own_admin_role"
            )
        return research_access.change_roles(
            session, username, roles, by=current_user.username, by_role=ADMIN, at=db.now()
        )

    def changed(change: research_access.AccountChange | None) -> WerkzeugResponse:
        current_app.logger.info(
            "roles of %s set to %s by %s", username, change.role if change else "?", by()
        )
        tell_research_team(change)
        flash(_("Rôles enregistrés."), "success")
        return redirect(url_for("admin.user", username=username))

    return post(form, check, changed, lambda: user(username, 400, roles_form=form))


def _set_user_active(session: Session, username: str, active: bool) -> None:
    user = accounts.user_by_username(session, username)
    if user is not None and not active and user.id == current_user.id:
        raise accounts.AccountError(
            "an administrator cannot disable their own account", "own_account_disable"
        )
    accounts.set_user_active(session, username, active)


@bp.post("/users/<username>/disable")
@role_required(ADMIN)
def user_disable(username: str) -> Page:
    return _user_active(username, False)


@bp.post("/users/<username>/enable")
@role_required(ADMIN)
def user_enable(username: str) -> Page:
    return _user_active(username, True)


def _user_active(username: str, active: bool) -> Page:
    _user_or_404(username)

    def changed(_none: None) -> WerkzeugResponse:
        current_app.logger.info(
            "user %s %s by %s", username, "enabled" if active else "disabled", by()
        )
        flash(
            _("Compte réactivé.")
            if active
            else _("Compte désactivé : il ne peut plus se connecter."),
            "info",
        )
        return redirect(url_for("admin.user", username=username))

    return post(
        CsrfOnlyForm(),
        lambda session: _set_user_active(session, username, active),
        changed,
        lambda: user(username, 400),
    )


@bp.post("/users/locks/unlock")
@role_required(ADMIN)
def user_unlock() -> Page:
    """Lift the login lock of a name or of a client address; back to where it was shown."""
    form = UnlockForm()
    scope, key = form.scope.data or "", form.key.data or ""
    back = (
        url_for("admin.user", username=key)
        if scope == "user" and request.form.get("back") == "user"
        else url_for("admin.users")
    )

    def lift(session: Session) -> bool:
        if scope == "address":
            return login_throttle.unlock_address(session, key)
        return login_throttle.unlock(session, key)

    def lifted(_was_locked: bool | None) -> WerkzeugResponse:
        current_app.logger.info("login lock of %s %r lifted by %s", scope, key, by())
        flash(_("Blocage levé : la connexion est de nouveau possible."), "info")
        return redirect(back)

    return post(form, lift, lifted, lambda: users(400))
