"""The research inbox: the messages of the research voicemail box, for the research role only.

Messages are sensitive health information (Loi 25, DOMAIN.md "The research voicemail
box"): every view here is ``@role_required("research")`` — an administrator reads the
audit log (dashboard/audit.py), never a message — and every access writes exactly one
:class:`~store.voicemail.AuditEntry`: the list ("list"), a message's page ("view"), a
play, a download, a note, a status change, a deletion.

An administrator who resets a research member's password could log in as that member;
the team's own page ``/research/accounts`` shows every such reset and every research
account created (who, whom, when: ``store.research_access``), and
:func:`tell_research_team` sends the team a notice once the change is committed.

Playing goes through a short-lived signed link, made when the message page is shown and
bound to the message, the user and a random nonce. A browser fetches audio in several
HTTP range requests (``Range: bytes=0-``, then more); the first request on a link writes
the single "play" row (its ``detail`` names the nonce), the others find it and write
nothing. The row is written under a lock on the message row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction is ``BEGIN IMMEDIATE``), so two range
requests arriving together still make one row. The link carries its own expiry, judged
by the app's clock; an expired link is refused (410) and the page makes a new one.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import BooleanField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from dashboard import db
from dashboard.roles import role_label, role_required
from store.research_access import AccountChange, account_changes
from store.voicemail import (
    MESSAGE_STATUSES,
    VoiceMessage,
    add_message_note,
    audit,
    erase_message,
    has_audit_entry,
    list_messages,
    live_message,
    set_message_status,
)

log = logging.getLogger(__name__)

bp = Blueprint("research", __name__, url_prefix="/research")

RESEARCH = "research"
#: How long a play link stays valid after the message page made it.
PLAY_LINK_TTL_S = 300
PLAY_SALT = "ivr211-research-play"
AUDIO_MIMETYPE = "audio/wav"
NOTE_MAX = 4000

STATUS_LABELS: dict[str, Any] = {
    "new": _l("Nouveau"),
    "in_progress": _l("En cours"),
    "called_back": _l("Rappelé"),
    "closed": _l("Fermé"),
}
LANGUAGE_LABELS: dict[str, Any] = {"fr": _l("français"), "en": _l("anglais")}
ACCOUNT_CHANGE_LABELS: dict[str, Any] = {
    "password reset": _l("mot de passe réinitialisé"),
    "created": _l("compte créé"),
    "roles changed": _l("rôles changés"),
}

__all__ = [
    "AUDIO_MIMETYPE",
    "PLAY_LINK_TTL_S",
    "STATUS_LABELS",
    "PlayLink",
    "bp",
    "message_object",
    "read_play_link",
    "tell_research_team",
]

Page = str | WerkzeugResponse | tuple[str, int]


# ---- forms -----------------------------------------------------------------------------


class StatusForm(FlaskForm):  # type: ignore[misc]
    status = SelectField(
        _l("Nouvel état"),
        choices=[SelectChoice(value, label) for value, label in STATUS_LABELS.items()],
        validators=[InputRequired(_l("Choisissez un état."))],
    )


class NoteForm(FlaskForm):  # type: ignore[misc]
    text = TextAreaField(
        _l("Note"),
        validators=[
            DataRequired(_l("Écrivez la note.")),
            Length(max=NOTE_MAX, message=_l("Au plus %(n)s caractères.", n=NOTE_MAX)),
        ],
    )


class DeleteForm(FlaskForm):  # type: ignore[misc]
    confirm = BooleanField(
        _l("Je confirme : l'enregistrement et ses données seront effacés pour de bon."),
        validators=[DataRequired(_l("Cochez la case pour confirmer."))],
    )


# ---- the play link ---------------------------------------------------------------------


@dataclass(frozen=True)
class PlayLink:
    """What a signed play link says: which message, for whom, until when, and its nonce."""

    message_id: int
    user_id: int
    nonce: str
    expires: datetime

    @property
    def detail(self) -> str:
        """The audit row's ``detail`` that marks this link as used."""
        return f"link {self.nonce}"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=PLAY_SALT)


def make_play_link(message_id: int, user_id: int, now: datetime) -> str:
    expires = now + timedelta(seconds=PLAY_LINK_TTL_S)
    payload = [message_id, user_id, secrets.token_urlsafe(12), int(expires.timestamp())]
    token: str = _serializer().dumps(payload)
    return token


def read_play_link(token: str) -> PlayLink | None:
    """The link's content, or None when the signature or the shape is wrong."""
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        return None
    if not (isinstance(payload, list) and len(payload) == 4):
        return None
    message_id, user_id, nonce, expires = payload
    if not (
        isinstance(message_id, int)
        and isinstance(user_id, int)
        and isinstance(nonce, str)
        and isinstance(expires, int)
    ):
        return None
    return PlayLink(message_id, user_id, nonce, datetime.fromtimestamp(expires, db.now().tzinfo))


# ---- helpers ---------------------------------------------------------------------------


def message_object(message_id: int) -> str:
    """The audit ``object`` of a message (as store.voicemail's docstring names it)."""
    return f"voice_message:{message_id}"


def _audit(session: Session, action: str, obj: str, detail: str = "") -> None:
    audit(session, current_user.username, RESEARCH, action, obj, detail, at=db.now())


def _storage_dir() -> Path:
    storage: Path = db.options().voicemail_storage_dir
    return storage.resolve()


def _audio_file(message: VoiceMessage) -> Path:
    """The message's audio in the storage folder; 404 when it has none or it is gone."""
    if not message.audio_path:
        abort(404)
    storage = _storage_dir()
    path = (storage / message.audio_path).resolve()
    if not path.is_relative_to(storage) or not path.is_file():
        log.error("research: audio of message %s missing (%s)", message.id, message.audio_path)
        abort(404)
    return path


def _live_message(session: Session, message_id: int, *, lock: bool = False) -> VoiceMessage:
    """The message, unless deleted (404)."""
    message = live_message(session, message_id, lock=lock)
    if message is None:
        abort(404)
    return message


def _send_audio(path: Path, message: VoiceMessage, *, attachment: bool) -> WerkzeugResponse:
    response = send_file(
        path,
        mimetype=AUDIO_MIMETYPE,
        as_attachment=attachment,
        download_name=f"message-{message.msg_id}.wav",
        conditional=not attachment,
        etag=not attachment,
        max_age=None,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _message_page(message_id: int, status: int = 200, **forms: FlaskForm) -> tuple[str, int]:
    """The message page; shown (and audited as "view") after a refused form too."""
    now = db.now()
    with db.write() as session:
        message = _live_message(session, message_id)
        _audit(session, "view", message_object(message.id))
        notes = [(n.author, n.at, n.text) for n in message.notes]
    token = make_play_link(message.id, current_user.id, now)
    status_form = forms.get("status_form") or StatusForm(data={"status": message.status})
    return (
        render_template(
            "research/message.html",
            message=message,
            notes=notes,
            play_url=url_for("research.play", message_id=message.id, token=token),
            status_form=status_form,
            note_form=forms.get("note_form") or NoteForm(formdata=None),
            delete_form=forms.get("delete_form") or DeleteForm(formdata=None),
            status_labels=STATUS_LABELS,
            language_labels=LANGUAGE_LABELS,
        ),
        status,
    )


def tell_research_team(change: AccountChange | None) -> None:
    """After the commit of an account change: tell the research team ([notify]) when it
    touched a research account. A failure is logged; the audit row stays either way."""
    hook = db.options().on_research_account_change
    if change is None or not change.audited or hook is None:
        return
    try:
        hook(change)
    except Exception:
        log.exception("the research team could not be told of %s", change.object)


# ---- views -----------------------------------------------------------------------------


@bp.get("/")
@role_required(RESEARCH)
def index() -> Page:
    chosen = request.args.get("status", "")
    status = chosen if chosen in MESSAGE_STATUSES else None
    with db.write() as session:
        messages = list_messages(session, status)
        _audit(session, "list", "voice_messages", f"status={status or 'all'}")
    return render_template(
        "research/index.html",
        messages=messages,
        status=status,
        status_labels=STATUS_LABELS,
        language_labels=LANGUAGE_LABELS,
    )


def _account_change_words(detail: str) -> str:
    """ "password reset", "created", "roles changed: research -> manager" in words."""
    kind, _sep, change = detail.partition(": ")
    label = str(ACCOUNT_CHANGE_LABELS.get(kind, kind))
    if kind == "roles changed" and " -> " in change:
        before, _arrow, after = change.partition(" -> ")
        return f"{label} : {role_label(before)} → {role_label(after)}"
    return label


@bp.get("/accounts")
@role_required(RESEARCH)
def accounts() -> Page:
    """Who reset a research account's password or created one, and when."""
    entries = [
        (e.at, e.user, e.role, e.object.removeprefix("user:"), _account_change_words(e.detail))
        for e in account_changes(db.read_session())
    ]
    return render_template(
        "research/accounts.html", entries=entries, change_labels=ACCOUNT_CHANGE_LABELS
    )


@bp.get("/messages/<int:message_id>")
@role_required(RESEARCH)
def message(message_id: int) -> Page:
    return _message_page(message_id)


@bp.get("/messages/<int:message_id>/play/<token>")
@role_required(RESEARCH)
def play(message_id: int, token: str) -> Page:
    """The audio for the page's player; the link's first request writes the "play" row."""
    link = read_play_link(token)
    if link is None or link.message_id != message_id or link.user_id != current_user.id:
        abort(404)
    if db.now() >= link.expires:
        return render_template(
            "error.html",
            code=410,
            title=_("Lien expiré"),
            message=_("Ce lien d'écoute a expiré. Rouvrez le message pour l'écouter."),
        ), 410
    obj = message_object(message_id)
    with db.write() as session:
        message = _live_message(session, message_id, lock=True)
        if not has_audit_entry(session, "play", obj, link.detail):
            _audit(session, "play", obj, link.detail)
        path = _audio_file(message)
    return _send_audio(path, message, attachment=False)


@bp.get("/messages/<int:message_id>/download")
@role_required(RESEARCH)
def download(message_id: int) -> Page:
    with db.write() as session:
        message = _live_message(session, message_id)
        path = _audio_file(message)
        _audit(session, "download", message_object(message.id))
    return _send_audio(path, message, attachment=True)


@bp.post("/messages/<int:message_id>/status")
@role_required(RESEARCH)
def set_status(message_id: int) -> Page:
    form = StatusForm()
    if not form.validate_on_submit():
        return _message_page(message_id, 400, status_form=form)
    with db.write() as session:
        message = _live_message(session, message_id)
        before = set_message_status(
            session, message, form.status.data, current_user.username, db.now()
        )
        _audit(session, "status", message_object(message.id), f"{before} -> {message.status}")
    flash(_("État enregistré."), "success")
    return redirect(url_for("research.message", message_id=message_id))


@bp.post("/messages/<int:message_id>/notes")
@role_required(RESEARCH)
def add_note(message_id: int) -> Page:
    form = NoteForm()
    if not form.validate_on_submit():
        return _message_page(message_id, 400, note_form=form)
    with db.write() as session:
        message = _live_message(session, message_id)
        add_message_note(session, message, current_user.username, form.text.data, db.now())
        _audit(session, "note", message_object(message.id))
    flash(_("Note ajoutée."), "success")
    return redirect(url_for("research.message", message_id=message_id))


@bp.post("/messages/<int:message_id>/delete")
@role_required(RESEARCH)
def delete(message_id: int) -> Page:
    """Erase the audio, the notes and the personal fields; the row stays as a tombstone
    (``deleted_at``) so that the ingester never takes the same ``msg_id`` again."""
    form = DeleteForm()
    if not form.validate_on_submit():
        return _message_page(message_id, 400, delete_form=form)
    with db.write() as session:
        message = _live_message(session, message_id, lock=True)
        audio = erase_message(session, message, current_user.username, db.now())
        _audit(session, "delete", message_object(message.id))
        if audio:
            _remove_audio(audio)
    flash(_("Message effacé."), "success")
    return redirect(url_for("research.index"))


def _remove_audio(relative: str) -> None:
    """Remove the audio before the deletion commits: if the commit then fails, the message
    stays listed without its audio (and can be deleted again), never erased in the
    database while its recording stays on disk."""
    storage = _storage_dir()
    path = (storage / relative).resolve()
    if path.is_relative_to(storage):
        path.unlink(missing_ok=True)
