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
Those actions depend on that runner being alive (its heartbeat), not on the listener: a
centre on Twilio only has no listener at all.

A navigator with a Twilio address logs in, pauses, resumes and logs out on Twilio with
the same buttons. There is no phone system to change on Twilio (its queue holds callers,
not navigators), so the console writes that presence itself, at once
(``store.twilio_presence``), and the answer comes back with the request; when the
listener is up too, the queue command is sent as well, so both lines agree. Taking the
next caller is refused to a navigator logged out or paused on Twilio.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import db
from dashboard.console_view import (
    ConsoleView,
    DestinationButton,
    current_view,
    describe,
    destinations,
    phone_label,
    presence_texts,
)
from dashboard.roles import role_required
from store import commands, twilio_presence
from store.models import Navigator

bp = Blueprint("console", __name__, url_prefix="/console")

__all__ = ["COMMAND_TTL_S", "bp", "phone_label"]

#: A command not claimed by the listener within this many seconds is never sent.
COMMAND_TTL_S = 5.0
_LINKEDID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ConsoleRefused(Exception):
    """A request the console will not turn into a command; the message is for the user."""

    status = 409


# ---- commands ----------------------------------------------------------------------------


def _requester() -> str:
    return f"dashboard:{current_user.username}"


def _submit(kind: str, args: dict[str, Any]) -> int:
    view = current_view()
    if view.navigator is None:
        raise ConsoleRefused(_no_phone_text())
    if kind in commands.TWILIO_KINDS and not view.twilio_up:
        raise ConsoleRefused(view.twilio_text)
    if kind not in commands.TWILIO_KINDS and not view.listener_up:
        raise ConsoleRefused(view.listener_text or _no_listener_text())
    with db.write() as session:
        return commands.submit(
            session,
            kind,
            {"user": view.navigator.username, **args},
            _requester(),
            COMMAND_TTL_S,
            now=view.now,
        )


def _no_listener_text() -> str:
    return str(
        _(
            "Le lien avec le système téléphonique n'a jamais été établi : aucune action "
            "n'est possible."
        )
    )


def _no_phone_text() -> str:
    return str(
        _(
            "Votre compte n'est lié à aucun poste téléphonique : demandez à un administrateur "
            "de l'associer à votre navigateur."
        )
    )


def _destination(key: str) -> DestinationButton:
    for dest in destinations():
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


def _done(message: str) -> WerkzeugResponse:
    """An action done at once (a presence change on Twilio): its result now."""
    if _wants_json():
        return jsonify(state="ok", finished=True, ok=True, message=message)
    flash(message, "ok")
    return redirect(url_for("console.index"), code=303)


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
        view = current_view()
        if view.on_twilio and view.navigator is not None:
            _twilio_presence(view, view.navigator, _form("action"), args.get("reason", ""))
            if not view.listener_up:
                return _done(presence_texts()[kind])
        return _answer(_submit(kind, args))
    except ConsoleRefused as exc:
        return _refused(exc)


def _twilio_presence(view: ConsoleView, navigator: Navigator, action: str, reason: str) -> None:
    """The navigator's presence on Twilio, written at once; a pause or a return refused
    to a navigator logged out of it (unless the listener's queue still has them)."""
    with db.write() as session:
        twilio_presence.set_presence(session, navigator.id, action, view.now, reason=reason)
        logged_in = twilio_presence.presence_of(session, navigator.id) is not None
    if not logged_in and action in ("pause", "unpause") and not view.listener_up:
        raise ConsoleRefused(_("Vous n'êtes pas connecté à la file : connectez-vous d'abord."))


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
        if view.navigator is not None and view.take_refusal():
            raise ConsoleRefused(view.take_refusal())
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
