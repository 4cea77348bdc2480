"""The forms of the users' pages (dashboard/admin/users.py): a new account, its roles, a
new password, a lifted login lock, a navigator's phone on the Twilio line. The line's
forms are in dashboard/admin/forms.py, whose helpers these share."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import (
    AnyOf,
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    Optional,
    Regexp,
)

from dashboard.admin.forms import (
    ENDPOINT,
    STALE,
    ChoiceField,
    MultiCheckboxField,
    at_most,
    choices,
)
from dashboard.roles import ROLE_LABELS
from store import accounts


def _new_password(label: Any, again: Any) -> tuple[PasswordField, PasswordField]:
    """A new password and the same again (fields named ``password`` and ``confirm``)."""
    password = PasswordField(
        label,
        validators=[
            InputRequired(_l("Obligatoire.")),
            Length(
                min=accounts.MIN_PASSWORD_LENGTH,
                max=1024,
                message=_l("Au moins %(n)s caractères.", n=accounts.MIN_PASSWORD_LENGTH),
            ),
        ],
    )
    confirm = PasswordField(
        again,
        validators=[EqualTo("password", message=_l("Les deux mots de passe diffèrent."))],
    )
    return password, confirm


class UserCreateForm(FlaskForm):  # type: ignore[misc]
    username = StringField(
        _l("Nom d'utilisateur"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            at_most(100),
            Regexp(r"^\S+$", message=_l("Sans espaces.")),
        ],
    )
    display_name = StringField(_l("Nom affiché"), validators=[Optional(), at_most(200)])
    roles = MultiCheckboxField(
        _l("Rôles"),
        choices=choices(ROLE_LABELS.items()),
        validators=[DataRequired(_l("Cochez au moins un rôle."))],
    )
    language = ChoiceField(_l("Langue"), choices=choices([("fr", "Français"), ("en", "English")]))
    password, confirm = _new_password(_l("Mot de passe"), _l("Mot de passe (encore)"))
    navigator = ChoiceField(_l("Compte de navigation existant"), default="", validate_choice=True)
    phone_endpoint = StringField(
        _l("Poste téléphonique (nouveau compte)"),
        validators=[Optional(), at_most(120), ENDPOINT],
    )
    queue_interface = StringField(
        _l("Interface dans la file (vide = le poste)"),
        validators=[Optional(), at_most(120), ENDPOINT],
    )

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        ok = research_apart(self.roles) and ok
        if "navigator" in (self.roles.data or ()):
            if not self.navigator.data and not self.phone_endpoint.data:
                self.phone_endpoint.errors = [
                    *self.phone_endpoint.errors,
                    _("Un navigateur a besoin d'un poste : choisissez un compte ou donnez-en un."),
                ]
                ok = False
            if self.navigator.data and self.phone_endpoint.data:
                self.phone_endpoint.errors = [
                    *self.phone_endpoint.errors,
                    _("Choisissez un compte existant ou un nouveau poste, pas les deux."),
                ]
                ok = False
        elif self.navigator.data or self.phone_endpoint.data or self.queue_interface.data:
            self.roles.errors = [
                *self.roles.errors,
                _("Seul un navigateur est lié à un poste téléphonique."),
            ]
            ok = False
        return ok


def research_apart(field: MultiCheckboxField) -> bool:
    """The research role is held alone (``store.accounts.check_roles``): say so on the
    field rather than let the store refuse it."""
    chosen = set(field.data or ())
    if accounts.RESEARCH_ROLE in chosen and len(chosen) > 1:
        field.errors = [
            *field.errors,
            _("Le rôle Recherche ne se combine avec aucun autre : décochez les autres rôles."),
        ]
        return False
    return True


class RolesForm(FlaskForm):  # type: ignore[misc]
    """The roles of an existing account (check boxes)."""

    roles = MultiCheckboxField(
        _l("Rôles"),
        choices=choices(ROLE_LABELS.items()),
        validators=[DataRequired(_l("Cochez au moins un rôle."))],
    )

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        return research_apart(self.roles) and ok


class PasswordResetForm(FlaskForm):  # type: ignore[misc]
    password, confirm = _new_password(
        _l("Nouveau mot de passe"), _l("Nouveau mot de passe (encore)")
    )


class TwilioPhoneForm(FlaskForm):  # type: ignore[misc]
    """Where the Twilio line calls a navigator; empty: no call on Twilio. The format is
    the store's to check (``store.navigators.set_twilio_address``)."""

    address = StringField(
        _l("Téléphone sur la ligne Twilio"),
        validators=[Optional(), at_most(120)],
        description=_l(
            "Un numéro au format international (+14185550101) ou une adresse SIP "
            "(sip:nom@domaine). Laissez vide si ce navigateur ne prend pas d'appels Twilio."
        ),
    )


class UnlockForm(FlaskForm):  # type: ignore[misc]
    """Lift the login lock of a user name or of a client address (hidden fields)."""

    scope = HiddenField(
        validators=[InputRequired(STALE), AnyOf(("user", "address"), message=STALE)]
    )
    key = HiddenField(validators=[InputRequired(STALE), at_most(100)])
