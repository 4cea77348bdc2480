"""A change the storage refused, said in the page's language.

``store`` raises its refusals (``SettingsChangeError``, ``NavigatorError``,
``AccountError``) with an English message for the logs and the CLI, and a code with the
values the sentence repeats (``store.refusal``). Here each code has its French text,
translated by the catalogue like every other string; a destination's key reads as its
name, a date or a time in the Québec format, what the user typed cut to a readable
length. A refusal
without a known code still says what it means first, with the storage's own words as
a technical detail (only administrators change what the storage checks).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from flask_babel import format_date, format_decimal, format_time
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dashboard import db
from dashboard.echoes import echo, shorten_echoes
from dashboard.i18n import current_language

__all__ = ["REFUSALS", "refusal_text"]

log = logging.getLogger(__name__)

REFUSALS: Mapping[str, Any] = {
    # the line settings' checks (store/linesettings/rules.py)
    "not_dialable": _l(
        "« %(number)s » n'est pas un numéro que la ligne peut composer : des chiffres, "
        "avec un + au début au besoin."
    ),
    "territory_format": _l(
        "Territoire « %(territory)s » : des lettres minuscules, des chiffres et des tirets "
        "seulement."
    ),
    "territory_format_any": _l(
        "Territoire « %(territory)s » : des lettres minuscules, des chiffres et des tirets "
        "seulement, ou « * » pour tous les territoires."
    ),
    "label_empty": _l("%(field)s : ce champ est requis."),
    "label_long": _l("%(field)s : 200 caractères au plus."),
    # the line's state, closures, hours, holidays and options (store/linesettings/change.py)
    "override_mode": _l("Choix inconnu : « %(mode)s » (ouverte, fermée ou aucun)."),
    "exceptional_needs_closed": _l("Seule une fermeture forcée peut être exceptionnelle."),
    "reason_tag": _l("Le motif ne peut pas commencer par « %(tag)s »."),
    "until_needs_mode": _l("Une heure de fin demande une ouverture ou une fermeture forcée."),
    "until_past": _l("L'heure de fin (%(until)s) est déjà passée."),
    "closure_order": _l("La fermeture doit se terminer après son début."),
    "closure_past": _l("La fermeture se terminerait dans le passé (%(ends)s)."),
    "closure_reason": _l("Une fermeture demande un motif."),
    "no_closure": _l("Cette fermeture n'existe plus : elle a peut-être déjà été supprimée."),
    "unknown_day": _l("Jour inconnu : « %(day)s »."),
    "unknown_country": _l("Pays inconnu pour les jours fériés : « %(country)s »."),
    "no_category": _l("Choisissez au moins une catégorie de jours fériés."),
    "unknown_category": _l("Catégorie de jours fériés inconnue pour %(country)s : %(categories)s."),
    "unknown_subdivision": _l("Province ou État inconnu pour %(country)s : « %(subdivision)s »."),
    "not_a_holiday": _l("Le %(day)s n'est pas un jour férié du calendrier : rien à retirer."),
    "holiday_not_changed": _l("Le %(day)s n'est ni un jour ajouté ni un jour retiré."),
    "territory_missing_numbers": _l(
        "Aucun numéro pour le territoire « %(territory)s » pour : %(destinations)s. "
        "Inscrivez-les d'abord."
    ),
    "queue_name_format": _l(
        "Nom de file d'attente refusé : « %(value)s » (lettres, chiffres, _ . - ; 80 au plus)."
    ),
    "mailbox_format": _l(
        "Boîte vocale refusée : « %(value)s ». Forme attendue : numéro de la boîte, @, "
        "contexte (par exemple 1000@recherche)."
    ),
    "consent_notice": _l(
        "Avis de consentement refusé : vérifiez les deux textes et la durée de conservation."
    ),
    "menu_attempts": _l("Le nombre d'essais au menu va de 1 à 9 (et non %(value)s)."),
    "digit_timeout": _l(
        "L'attente d'une touche va de 1 à 30 secondes (et non %(seconds)s secondes)."
    ),
    "research_key_format": _l(
        "La touche de la boîte de recherche (« %(key)s ») n'est pas une touche du "
        "téléphone (0 à 9, *, #)."
    ),
    "phone_key_format": _l("« %(key)s » n'est pas une touche du téléphone (0 à 9, *, #)."),
    "key_destination_inactive": _l(
        "Touche %(key)s : la destination « %(destination)s » n'est pas active."
    ),
    "key_both": _l(
        "La touche %(key)s ne peut pas mener à la fois à la boîte de recherche et à un transfert."
    ),
    # the directory of destinations (store/linesettings/directory.py)
    "no_destination": _l("Aucune destination « %(destination)s »."),
    "destination_kind": _l("Type de destination inconnu : « %(kind)s » (urgence ou partenaire)."),
    "report_group_format": _l(
        "Groupe des rapports « %(group)s » : des lettres minuscules, des chiffres et des "
        "tirets, 40 au plus."
    ),
    "short_code_format": _l("Code abrégé « %(code)s » : de 1 à 16 chiffres."),
    "short_code_taken": _l(
        "Le code abrégé %(code)s est déjà celui de la destination « %(destination)s »."
    ),
    "destination_key_format": _l(
        "Identifiant « %(key)s » : une lettre minuscule ou un chiffre, puis des lettres, "
        "des chiffres ou des tirets, 40 au plus."
    ),
    "destination_exists": _l("La destination « %(key)s » existe déjà."),
    "active_needs_number": _l(
        "Une destination active demande un numéro pour le territoire « %(territory)s »."
    ),
    "destination_in_menu": _l(
        "« %(destination)s » est la touche %(keys)s du menu des heures de fermeture : "
        "changez d'abord le menu."
    ),
    "no_number_for_territory": _l(
        "« %(destination)s » n'a pas de numéro pour le territoire « %(territory)s » : "
        "ajoutez-en un d'abord."
    ),
    "no_number_to_remove": _l(
        "« %(destination)s » n'a pas de numéro pour le territoire « %(territory)s »."
    ),
    "last_number": _l(
        "« %(destination)s » n'aurait plus de numéro pour le territoire de la ligne "
        "(« %(territory)s ») : inscrivez un autre numéro, ou désactivez-la d'abord."
    ),
    # navigators (store/navigators.py)
    "endpoint_format": _l(
        "%(field)s « %(value)s » : un poste s'écrit technologie/nom, par exemple PJSIP/nav-alice."
    ),
    "navigator_name_empty": _l("Le nom du navigateur est requis."),
    "navigator_exists": _l("Le navigateur « %(username)s » existe déjà."),
    "endpoint_taken": _l("%(endpoint)s appartient déjà au navigateur « %(username)s »."),
    "no_navigator": _l("Aucun navigateur « %(username)s »."),
    "twilio_address_format": _l(
        "« %(value)s » : inscrivez un numéro de téléphone au format international "
        "(+14185550101) ou une adresse SIP (sip:nom@domaine)."
    ),
    # accounts (store/accounts.py, and the admin's own account in dashboard/admin/users.py)
    "password_short": _l("Le mot de passe doit compter au moins %(min)s caractères."),
    "password_long": _l("Le mot de passe doit compter au plus %(max)s caractères."),
    "password_is_username": _l("Le mot de passe ne peut pas être le nom d'utilisateur."),
    "role_unknown": _l(
        "Rôle inconnu : « %(role)s » (Gestion, Navigation, Recherche ou Administration)."
    ),
    "no_role": _l("Un compte doit avoir au moins un rôle."),
    "research_apart": _l(
        "Le rôle Recherche ne se combine avec aucun autre : un compte de l'équipe de "
        "recherche n'a que ce rôle."
    ),
    "language_unknown": _l("Langue inconnue : « %(language)s » (français ou anglais)."),
    "username_format": _l("Le nom d'utilisateur compte de 1 à 100 caractères, sans espaces."),
    "navigator_needs_role": _l(
        "Seul un compte qui a le rôle Navigation peut être lié à un navigateur."
    ),
    "user_exists": _l("Le nom d'utilisateur « %(username)s » est déjà pris."),
    "navigator_taken": _l("Ce navigateur est déjà lié au compte « %(username)s »."),
    "no_user": _l("Aucun compte « %(username)s »."),
    "navigator_keeps_role": _l(
        "Ce compte est lié au téléphone d'un navigateur : il garde le rôle Navigation."
    ),
    "own_admin_role": _l("Vous ne pouvez pas retirer votre propre rôle Administration."),
    "own_account_disable": _l("Vous ne pouvez pas désactiver votre propre compte."),
    "internal": _l("Erreur inattendue. Réessayez; si elle persiste, avisez un administrateur."),
}

#: The fields a refusal names (``field``), as the storage names them.
FIELDS: Mapping[str, Any] = {
    "French label": _l("Nom en français"),
    "English label": _l("Nom en anglais"),
    "a holiday's name": _l("Nom du jour férié"),
    "phone endpoint": _l("Poste du navigateur"),
    "queue interface": _l("Poste dans la file d'attente"),
}


def _destination_names() -> dict[str, str]:
    english = current_language() == "en"
    try:
        destinations = db.line_settings().destinations
    except Exception:  # the refusal still reads, with the key
        log.exception("cannot read the destinations' names for a refusal")
        return {}
    return {d.key: d.label_en if english else d.label_fr for d in destinations}


def _shown(name: str, value: object, names: Mapping[str, str]) -> str:
    """One value of a refusal as the sentence repeats it."""
    if name == "field" and isinstance(value, str) and value in FIELDS:
        return str(FIELDS[value])
    if name in ("destination", "destinations"):
        keys = value if isinstance(value, tuple | list) else (value,)
        return ", ".join(names.get(str(k), echo(k)) for k in keys)
    if isinstance(value, datetime):
        return f"{format_date(value, 'medium')}, {format_time(value, 'short')}"
    if isinstance(value, date):
        return str(format_date(value, "long"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(format_decimal(value))
    return echo(value)


def refusal_text(exc: Exception) -> str:
    """Why the storage refused a change, in the page's language."""
    code = str(getattr(exc, "code", "") or "")
    template = REFUSALS.get(code)
    if template is None:
        log.warning("a refusal without a known code (%r): %s", code, exc)
        return str(
            _(
                "la valeur n'est pas acceptée (détail technique : %(detail)s)",
                detail=shorten_echoes(str(exc)),
            )
        )
    params: Mapping[str, object] = getattr(exc, "params", {})
    names = _destination_names() if {"destination", "destinations"} & set(params) else {}
    return str(template) % {name: _shown(name, value, names) for name, value in params.items()}
