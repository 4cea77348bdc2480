"""A call's path in words, for the navigator who answers it.

The flow writes what the caller did as ``open/lang:fr/main:1`` (``ivr.actions``,
``Decision.path_text``); the listener keeps it with the live call. The console reads it
as "Ouvert · français · navigateur" ("Open · French · navigator"). A step this module
does not know (a newer flow, a path cut short by the listener) is shown as written,
so nothing is hidden.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from ivr.actions import path_steps

__all__ = ["path_in_words"]

SEPARATOR = " · "

_PLAIN: Mapping[tuple[str, str], LazyString] = {
    ("open", ""): _l("ouvert"),
    ("queue-exit", ""): _l("revenu de la file d'attente"),
    ("hangup", ""): _l("raccroché"),
    ("research", ""): _l("recherche"),
    ("lang", "fr"): _l("français"),
    ("lang", "en"): _l("anglais"),
    ("lang", "other"): _l("interprète"),
    ("lang", "default"): _l("français par défaut"),
    ("main", "1"): _l("navigateur"),
    ("main", "2"): _l("recherche"),
    ("main", "default"): _l("navigateur par défaut"),
    ("menu", "default"): _l("fin de l'appel par défaut"),
    ("callback", "withheld"): _l("numéro masqué"),
    ("callback", "entered"): _l("numéro de rappel tapé"),
    ("callback", "confirmed"): _l("numéro de rappel confirmé"),
    ("callback", "reenter"): _l("numéro de rappel à retaper"),
    ("callback", "skipped"): _l("sans numéro de rappel (choix de l'appelant)"),
    ("callback", "none"): _l("sans numéro de rappel"),
}
_CLOSED: Mapping[str, LazyString] = {
    "after_hours": _l("fermé (en dehors des heures d'ouverture)"),
    "holiday": _l("fermé (jour férié)"),
    "closure": _l("fermé (fermeture exceptionnelle)"),
    "override_closed": _l("fermé (fermeture forcée)"),
}
# The menus a timeout or a wrong key is counted in.
_MENUS: Mapping[str, LazyString] = {
    "lang": _l("langue"),
    "main": _l("menu"),
    "menu": _l("menu"),
    "callback": _l("numéro de rappel"),
    "confirm": _l("confirmation"),
}


def _step(what: str, which: str, destinations: Mapping[str, str]) -> str | None:
    """The step in words, or None for a step not known here."""
    known = _PLAIN.get((what, which))
    if known is not None:
        return str(known)
    if what == "closed" and which in _CLOSED:
        return str(_CLOSED[which])
    if what in _MENUS and which == "timeout":
        return str(_("%(menu)s : aucune touche", menu=_MENUS[what]))
    if what in _MENUS and which == "invalid":
        return str(_("%(menu)s : touche invalide", menu=_MENUS[what]))
    if what == "menu" and len(which) == 1 and which in "0123456789*#":
        return str(_("touche %(key)s", key=which))
    if what == "transfer" and which:
        return str(_("transfert : %(dest)s", dest=destinations.get(which, which)))
    if what == "transfer-failed" and which:
        return str(_("transfert impossible : %(dest)s", dest=destinations.get(which, which)))
    return None


def path_in_words(path: str | None, destinations: Mapping[str, str]) -> str:
    """``open/lang:fr/main:1`` -> ``Ouvert · français · navigateur`` in the page's
    language; ``destinations`` names the directory's keys (``transfer:cps``). ``–`` for
    no path."""
    steps = path_steps(path or "")
    if not steps:
        return "–"
    words = []
    for what, which in steps:
        word = _step(what, which, destinations)
        if word is None:
            words.append(f"{what}:{which}" if which else what)
        else:
            words.append(word if words else word[:1].upper() + word[1:])
    return SEPARATOR.join(words)
