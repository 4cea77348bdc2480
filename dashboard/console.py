"""The navigator's console: presence, the current call, and one click per transfer.

Everything that acts on a call goes through the command table (``store.commands``):
the listener is the only AMI client, claims the command within its short expiry (never
later: a warm transfer sent late would put a stranger on hold), runs the action, judges
it from the events that follow, and stores the result. The page posts (CSRF-checked),
gets the command's id back at once, and polls ``/console/commands/<id>.json`` until the
result is in, which it shows in plain words.

The caller's number is shown plainly: a consultation call to 911 reaches the 911 centre
with the 211 centre's own number, so the navigator reads the caller's to 911. What the
console knows about calls comes from the listener's live tables (``store.live``).
Nothing is sent when the listener is not connected to Asterisk; the page says so. The
kinds of command, and the verbs of presence (login, pause, unpause, logout), are the
command table's (``store.commands``), shared with the listener and the CLI.

When the line also runs on Twilio (``[twilio] enabled``), the navigator takes the next
waiting caller from here (``twilio_take``: Twilio calls the navigator's phone number or
SIP address, ``navigators.twilio_address``), and while they are in such a call
(``store.twilio_conferences``) the transfer, cancel and referral buttons send the
``twilio_*`` commands, which the Twilio back end's runner executes; "complete" leaves
an answered warm transfer (the navigator hangs up, the caller stays with the service).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import db
from dashboard.callpath import path_in_words
from dashboard.i18n import current_language
from dashboard.roles import role_required
from store import commands, live, navigators
from store.models import Navigator
from store.twilio_calls import call_by_sid
from store.twilio_conferences import conference_of_navigator, waiting_callers

bp = Blueprint("console", __name__, url_prefix="/console")

__all__ = ["COMMAND_TTL_S", "bp"]

#: A command not claimed by the listener within this many seconds is never sent.
COMMAND_TTL_S = 5.0
_LINKEDID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ConsoleRefused(Exception):
    """A request the console will not turn into a command; the message is for the user."""

    status = 409


# ---- what the page shows ---------------------------------------------------------------


@dataclass(frozen=True)
class DestinationButton:
    key: str
    label: str
    emergency: bool
    has_number: bool = True

    @property
    def button_label(self) -> str:
        """The label, and a word when the number is still to fill in (a transfer there is
        refused: nothing can be dialled)."""
        if self.has_number:
            return self.label
        return f"{self.label} ({_('numéro à inscrire')})"


def phone_label(endpoint: str) -> str:
    """``PJSIP/201`` -> ``201``; ``Local/nav-alice@navigators`` -> ``nav-alice``: the
    navigator's phone as they know it, without the channel technology and the dialplan
    context."""
    return endpoint.split("/", 1)[-1].split("@", 1)[0]


@dataclass(frozen=True)
class TwilioCallView:
    """The navigator's call on the Twilio back end (a conference with the caller)."""

    caller_sid: str
    caller_number: str | None
    consult_state: str | None
    mode: str | None

    @property
    def consulting(self) -> bool:
        return self.consult_state in ("ringing", "answered")

    @property
    def can_complete(self) -> bool:
        return self.consult_state == "answered" and self.mode == commands.ATTENDED


@dataclass(frozen=True)
class ConsoleView:
    now: datetime
    navigator: Navigator | None
    listener_up: bool
    listener_text: str
    live_known: bool
    presence: live.LiveMember | None
    destinations: tuple[DestinationButton, ...]
    twilio: bool = False
    twilio_call: TwilioCallView | None = None
    #: Callers waiting for a navigator on the Twilio line.
    twilio_waiting: int = 0

    @property
    def phone(self) -> str:
        return "" if self.navigator is None else phone_label(self.navigator.phone_endpoint)

    @property
    def can_take(self) -> bool:
        """The Twilio back end can call this navigator and they are on no Twilio call."""
        return (
            self.twilio
            and self.navigator is not None
            and bool(self.navigator.twilio_address)
            and self.twilio_call is None
        )

    @property
    def can_act(self) -> bool:
        return self.navigator is not None and (self.listener_up or self.twilio_call is not None)

    @property
    def consulting(self) -> bool:
        """A transfer under way, on either back end (the cancel button)."""
        if self.twilio_call is not None:
            return self.twilio_call.consulting
        return self.call is not None and self.call.consulting

    @property
    def call(self) -> live.LiveCall | None:
        return self.presence.call if self.presence is not None else None

    @property
    def on_call(self) -> bool:
        return self.twilio_call is not None or (self.presence is not None and self.presence.on_call)

    def call_path_text(self) -> str:
        """The current call's path in words ("Ouvert · français · navigateur")."""
        call = self.call
        names = {d.key: d.label for d in self.destinations}
        return path_in_words(call.path if call is not None else None, names)

    def presence_text(self) -> str:
        if not self.live_known:
            return str(_("inconnue"))
        if self.presence is None:
            return str(_("Déconnecté de la file"))
        if self.presence.on_call:
            return str(_("En appel"))
        if self.presence.paused:
            return str(_("En pause"))
        return str(_("Disponible"))


def _destinations() -> tuple[DestinationButton, ...]:
    """The directory's destinations, emergency services first, in the directory's order."""
    english = current_language() == "en"
    settings = db.line_settings()
    found = [
        DestinationButton(
            d.key,
            d.label_en if english else d.label_fr,
            d.kind == "emergency",
            d.number_for(settings.territory) is not None,
        )
        for d in settings.destinations
    ]
    return tuple(sorted(found, key=lambda d: not d.emergency))


def _navigator() -> Navigator | None:
    nav_id = getattr(current_user, "navigator_id", None)
    if nav_id is None:
        return None
    return navigators.navigator_by_id(db.read_session(), nav_id)


def _listener(now: datetime) -> tuple[bool, str]:
    status = navigators.get_status(db.read_session())
    if status is None:
        return False, _(
            "Le lien avec le système téléphonique n'a jamais été établi : aucune action "
            "n'est possible."
        )
    if status.stale(now, db.options().heartbeat_stale_s):
        return False, _(
            "Le lien avec le système téléphonique ne donne plus signe de vie : aucune "
            "action n'est possible."
        )
    if status.state != "connected":
        return False, _(
            "Le lien avec le système téléphonique est coupé : aucune action n'est possible."
        )
    return True, _("Lien avec le système téléphonique établi.")


def current_view() -> ConsoleView:
    now = db.now()
    session = db.read_session()
    navigator = _navigator()
    up, text = _listener(now)
    stale = db.options().heartbeat_stale_s
    view = live.read_live(session, now=now, stale_after_s=stale)
    presence = live.presence_for(session, navigator) if navigator and view.known else None
    twilio = db.options().twilio_enabled
    return ConsoleView(
        now,
        navigator,
        up,
        text,
        view.known,
        presence,
        _destinations(),
        twilio=twilio,
        twilio_call=_twilio_call(navigator) if twilio else None,
        twilio_waiting=waiting_callers(session) if twilio else 0,
    )


def _twilio_call(navigator: Navigator | None) -> TwilioCallView | None:
    if navigator is None:
        return None
    session = db.read_session()
    row = conference_of_navigator(session, navigator.username)
    if row is None:
        return None
    caller = call_by_sid(session, row.caller_sid)
    return TwilioCallView(
        row.caller_sid,
        None if caller is None else caller.caller_number,
        row.consult_state,
        row.mode,
    )


# ---- commands ----------------------------------------------------------------------------


def _requester() -> str:
    return f"dashboard:{current_user.username}"


def _submit(kind: str, args: dict[str, Any]) -> int:
    view = current_view()
    if view.navigator is None:
        raise ConsoleRefused(_no_phone_text())
    if kind not in commands.TWILIO_KINDS and not view.listener_up:
        raise ConsoleRefused(view.listener_text)
    with db.write() as session:
        return commands.submit(
            session,
            kind,
            {"user": view.navigator.username, **args},
            _requester(),
            COMMAND_TTL_S,
            now=view.now,
        )


def _no_phone_text() -> str:
    return str(
        _(
            "Votre compte n'est lié à aucun poste téléphonique : demandez à un administrateur "
            "de l'associer à votre navigateur."
        )
    )


def _destination(key: str) -> DestinationButton:
    for dest in _destinations():
        if dest.key == key:
            return dest
    raise ConsoleRefused(_("Destination inconnue : %(key)s.", key=key[:40]))


def _answer(command_id: int) -> WerkzeugResponse:
    url = url_for("console.result", command_id=command_id)
    if _wants_json():
        response = jsonify(command_id=command_id, result_url=url, message=_("Demande envoyée…"))
        response.status_code = 202
        return response
    return redirect(url_for("console.index", command=command_id), code=303)


def _refused(exc: ConsoleRefused) -> WerkzeugResponse:
    if _wants_json():
        response = jsonify(error="refused", message=str(exc))
        response.status_code = exc.status
        return response
    flash(str(exc), "error")
    return redirect(url_for("console.index"), code=303)


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    )


def _form(name: str) -> str:
    return (request.form.get(name) or "").strip()


# ---- results in plain words -----------------------------------------------------------

_ERRORS: dict[str, Any] = {
    "no_such_channel": _l(
        "Aucun appel en cours sur votre poste (ou l'appel vient de se terminer)."
    ),
    "unknown_destination": _l("Cette destination n'est pas dans l'annuaire."),
    "not_permitted": _l("Le système téléphonique n'autorise pas cette action au tableau de bord."),
    "link_down": _l("Le lien avec le système téléphonique est coupé : rien n'a été fait."),
    "timeout": _l("Le système téléphonique n'a pas confirmé l'action à temps."),
    "transfer_not_available": _l(
        "Cet appel ne peut pas être transféré depuis la console : transférez-le avec le téléphone."
    ),
    "rejected": _l("Le système téléphonique a refusé l'action."),
    "no_consultation": _l(
        "Aucun transfert en cours sur cet appel : rien n'a été envoyé (l'appelant "
        "aurait entendu les touches d'annulation)."
    ),
    "internal": _l("Erreur inattendue du lien avec le système téléphonique."),
    "no_twilio_address": _l(
        "Aucun numéro de téléphone ni adresse SIP n'est inscrit pour vous joindre par "
        "Twilio : demandez à un administrateur de l'inscrire."
    ),
    "queue_empty": _l("Personne n'attend dans la file."),
    "busy": _l("Vous êtes déjà en appel, ou un transfert est déjà en cours."),
    "taken": _l("Un autre navigateur vient de prendre cet appel."),
}


def _destination_label(key: str | None) -> str:
    if not key:
        return ""
    for dest in _destinations():
        if dest.key == key:
            return dest.label
    return key


#: The Twilio commands said as their Asterisk counterparts are.
_AS_ASTERISK = {
    commands.TWILIO_TRANSFER: commands.TRANSFER,
    commands.TWILIO_CANCEL: commands.CANCEL,
    commands.TWILIO_REFERRAL: commands.REFERRAL,
}


def describe(command: commands.Command, now: datetime) -> tuple[str, str]:
    """(state, text): pending / ok / error / expired and what happened, for the navigator."""
    status = command.status
    if status == commands.PENDING and now >= command.expires_at:
        status = commands.EXPIRED
    args = command.args
    dest = _destination_label(args.get("destination"))
    if status in (commands.PENDING, commands.RUNNING):
        return "pending", _("En cours…")
    if status == commands.EXPIRED:
        return "expired", _(
            "Le lien avec le système téléphonique n'a pas pris la demande à temps : rien n'a "
            "été fait. Réessayez."
        )
    result = command.result or {}
    if status == commands.ERROR:
        if result.get("code") == "no_number":
            return "error", _(
                "Aucun numéro n'est encore inscrit pour %(dest)s : rien n'a été composé et "
                "l'appelant est toujours avec vous. La tentative est notée. Donnez-lui le "
                "numéro si vous le connaissez, et demandez à un administrateur de l'inscrire.",
                dest=dest,
            )
        text = _ERRORS.get(str(result.get("code", "")), _l("L'action a échoué."))
        return "error", str(text)
    kind, mode = _AS_ASTERISK.get(command.kind, command.kind), args.get("mode", commands.ATTENDED)
    texts = {
        commands.QUEUE_LOGIN: _("Vous êtes connecté à la file d'attente."),
        commands.QUEUE_PAUSE: _("Vous êtes en pause."),
        commands.QUEUE_UNPAUSE: _("Vous êtes de retour de pause."),
        commands.QUEUE_LOGOUT: _("Vous êtes déconnecté de la file d'attente."),
        commands.CANCEL: _("Transfert annulé : vous êtes de retour avec l'appelant."),
        commands.TWILIO_TAKE: _("Votre téléphone sonne : l'appelant vous rejoint."),
        commands.TWILIO_COMPLETE: _("L'appelant est avec le service; vous avez quitté l'appel."),
    }
    if kind == commands.TRANSFER and mode == commands.BLIND:
        return "ok", _("Appel transféré à %(dest)s.", dest=dest)
    if kind == commands.TRANSFER and mode == commands.THREE_WAY:
        return "ok", _("Conférence à trois avec %(dest)s.", dest=dest)
    if kind == commands.TRANSFER:
        return "ok", _("Appel de %(dest)s en cours; l'appelant est en attente.", dest=dest)
    if kind == commands.REFERRAL:
        if "already" in str(result.get("message", "")):
            return "ok", _("Cette référence à %(dest)s était déjà notée.", dest=dest)
        return "ok", _("Référence sans transfert à %(dest)s notée.", dest=dest)
    return "ok", texts.get(kind, _("Fait."))


# ---- views ---------------------------------------------------------------------------


@bp.get("/")
@role_required("navigator")
def index() -> str:
    view = current_view()
    pending = request.args.get("command", type=int)
    return render_template("console/index.html", view=view, pending=pending)


@bp.post("/presence")
@role_required("navigator")
def presence() -> WerkzeugResponse:
    try:
        kind = commands.PRESENCE_KINDS.get(_form("action"))
        if kind is None:
            raise ConsoleRefused(_("Action inconnue."))
        args = {"reason": _form("reason")[:80]} if kind == commands.QUEUE_PAUSE else {}
        return _answer(_submit(kind, args))
    except ConsoleRefused as exc:
        return _refused(exc)


@bp.post("/transfer")
@role_required("navigator")
def transfer() -> WerkzeugResponse:
    try:
        dest = _destination(_form("destination"))
        mode = _form("mode") or commands.ATTENDED
        if mode not in commands.TRANSFER_MODES:
            raise ConsoleRefused(_("Type de transfert inconnu."))
        kind = commands.TWILIO_TRANSFER if _on_twilio() else commands.TRANSFER
        return _answer(_submit(kind, {"destination": dest.key, "mode": mode}))
    except ConsoleRefused as exc:
        return _refused(exc)


@bp.post("/cancel")
@role_required("navigator")
def cancel() -> WerkzeugResponse:
    try:
        return _answer(_submit(commands.TWILIO_CANCEL if _on_twilio() else commands.CANCEL, {}))
    except ConsoleRefused as exc:
        return _refused(exc)


def _on_twilio() -> bool:
    """The navigator is on a call the Twilio back end carries."""
    return current_view().twilio_call is not None


@bp.post("/take")
@role_required("navigator")
def take() -> WerkzeugResponse:
    """Twilio: the next waiting caller, to this navigator's phone."""
    try:
        view = current_view()
        if not view.twilio:
            raise ConsoleRefused(_("Action inconnue."))
        if view.navigator is not None and not view.navigator.twilio_address:
            raise ConsoleRefused(str(_ERRORS["no_twilio_address"]))
        return _answer(_submit(commands.TWILIO_TAKE, {}))
    except ConsoleRefused as exc:
        return _refused(exc)


@bp.post("/complete")
@role_required("navigator")
def complete() -> WerkzeugResponse:
    """Twilio: leave an answered warm transfer; the caller stays with the service."""
    try:
        if not _on_twilio():
            raise ConsoleRefused(_("Aucun transfert en cours."))
        return _answer(_submit(commands.TWILIO_COMPLETE, {}))
    except ConsoleRefused as exc:
        return _refused(exc)


@bp.post("/referral")
@role_required("navigator")
def referral() -> WerkzeugResponse:
    """A referral given without transfer, for the current call (or the call the page
    showed, when the caller has just hung up)."""
    try:
        dest = _destination(_form("destination"))
        view = current_view()
        call = view.call
        linkedid = call.linkedid if call is not None and call.linkedid else _form("linkedid")
        kind = commands.REFERRAL
        if view.twilio_call is not None:
            linkedid, kind = view.twilio_call.caller_sid, commands.TWILIO_REFERRAL
        if not _LINKEDID.match(linkedid or ""):
            raise ConsoleRefused(_("Aucun appel en cours : la référence se note pendant l'appel."))
        args = {"destination": dest.key, "linkedid": linkedid}
        return _answer(_submit(kind, args))
    except ConsoleRefused as exc:
        return _refused(exc)


@bp.get("/commands/<int:command_id>.json")
@role_required("navigator")
def result(command_id: int) -> WerkzeugResponse:
    try:
        command = commands.get(db.read_session(), command_id)
    except commands.CommandNotFound:
        abort(404)
    if command.requested_by != _requester() or command.kind not in (
        commands.KINDS | commands.TWILIO_KINDS
    ):
        abort(404)
    state, text = describe(command, db.now())
    return jsonify(
        command_id=command.id,
        kind=command.kind,
        state=state,
        finished=state != "pending",
        ok=state == "ok",
        message=text,
    )


@bp.get("/state.json")
@role_required("navigator")
def state() -> WerkzeugResponse:
    view = current_view()
    call = view.call
    return jsonify(
        now=view.now.isoformat(),
        navigator=view.navigator.username if view.navigator else None,
        listener={"up": view.listener_up, "message": view.listener_text},
        can_act=view.can_act,
        presence={
            "known": view.live_known,
            "logged_in": view.presence is not None,
            "paused": bool(view.presence and view.presence.paused),
            "on_call": view.on_call,
            "text": view.presence_text(),
        },
        call=None
        if call is None
        else {
            "caller_number": call.caller_number,
            "linkedid": call.linkedid,
            "language": call.language,
            "path": call.path,
            "interpreter": call.interpreter,
            "waited_s": call.waited_s,
            "started_at": call.started_at.isoformat() if call.started_at else None,
            "consulting": call.consulting,
        },
    )
