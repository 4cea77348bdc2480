"""The line's status for everyone logged in: is the line open and why, is the link with
the phone system up (the AMI listener), is the voice menu's server up (FastAGI), how many
calls wait, how many navigators are logged in, paused or on a call.

Each service says how it is doing in the database, and a silent one counts as down:
the AMI listener writes its link state every 10 s (``listener_status``), ``ivr211
serve`` writes the FastAGI server's heartbeat (``service_heartbeats``), and the
listener mirrors the queue (``store/live.py``). The page polls ``/status.json``.

When the line also runs on Twilio (``[twilio] enabled``), a tile says whether the Twilio
line can take the navigators' actions (the runner of its commands beats
``store.twilio_presence.RUNNER_HEARTBEAT``) and when a call last reached it (the calls'
state, ``twilio_calls``); the waiting callers and the navigators counted include
Twilio's (``store.live.read_live(twilio=True)``).

Everyone reads each service in the centre's words; only an administrator also reads
the technical name and what the service itself reported (``ServiceState.technical``:
the listener's own detail, the server's host and process id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, jsonify, render_template
from flask_babel import format_date, format_time
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import db
from dashboard.i18n import format_duration
from dashboard.roles import ALL_ROLES, has_role, role_required
from ivr.schedule import LineState, compute_state
from store import heartbeats, live, navigators, twilio_presence

bp = Blueprint("status", __name__)

FASTAGI = "fastagi"
ADMIN = "admin"

REASONS: dict[str, Any] = {
    "hours": _l("Heures d'ouverture"),
    "after_hours": _l("En dehors des heures d'ouverture"),
    "holiday": _l("Horaire des jours fériés"),
    "closure": _l("Fermeture exceptionnelle"),
    "override_open": _l("Ouverture forcée"),
    "override_closed": _l("Fermeture forcée"),
}


@dataclass(frozen=True)
class ServiceState:
    """``detail`` is for everyone; ``technical`` only for the administrators."""

    up: bool
    label: str
    detail: str
    since: datetime | None
    heard_at: datetime | None
    technical: str = ""


@dataclass(frozen=True)
class StatusView:
    now: datetime
    line: LineState
    ami: ServiceState
    fastagi: ServiceState
    live: live.LiveView
    #: The Twilio line, when the line runs on Twilio (None otherwise).
    twilio: ServiceState | None = None
    #: Whether the line runs on Asterisk too: a centre on Twilio alone (no connection to
    #: a telephone exchange configured, no voice-menu server ever heard from) is not shown
    #: Asterisk's services as if they were down.
    asterisk: bool = True

    @property
    def calls_waiting(self) -> int | None:
        return len(self.live.waiting) if self.live.known else None

    @property
    def longest_wait_s(self) -> float | None:
        waits = [w for c in self.live.waiting if (w := c.waited_s(self.now)) is not None]
        return max(waits) if waits else None


def _not_followed() -> str:
    return str(
        _(
            "Les transferts, la file d'attente et les navigateurs ne sont pas suivis pendant "
            "ce temps; les appels sont quand même répondus."
        )
    )


def _not_configured(since: datetime | None, heard_at: datetime | None) -> ServiceState:
    return ServiceState(
        False,
        _("non configuré"),
        _(
            "non configuré : le mot de passe de la connexion au central téléphonique n'est "
            "pas inscrit dans la configuration. Les transferts, la file d'attente et les "
            "navigateurs ne sont pas suivis; les appels sont quand même répondus. Un "
            "administrateur doit l'inscrire."
        ),
        since,
        heard_at,
    )


def _ami_state(
    session: Session, now: datetime, stale: timedelta, configured: bool = True
) -> ServiceState:
    """What the listener last wrote; a listener that cannot have started (no AMI secret in
    the configuration) says so, unless it is plainly running."""
    state = navigators.get_status(session)
    if state is None:
        if not configured:
            return _not_configured(None, None)
        return ServiceState(False, _("jamais démarré"), "", None, None)
    silent = now - state.heartbeat_at > stale
    if not configured and (silent or state.state == "stopped"):
        return _not_configured(state.since, state.heartbeat_at)
    if silent:
        return ServiceState(
            False,
            _("aucune nouvelle"),
            _("Le lien avec le système téléphonique ne donne plus signe de vie."),
            state.since,
            state.heartbeat_at,
            state.detail,
        )
    labels = {
        "connected": _("connecté"),
        "connecting": _("connexion en cours"),
        "disconnected": _("déconnecté"),
        "stopped": _("arrêté"),
    }
    up = state.state == "connected"
    return ServiceState(
        up,
        labels.get(state.state, state.state),
        "" if up else _not_followed(),
        state.since,
        state.heartbeat_at,
        state.detail,
    )


def _fastagi_state(session: Session, now: datetime, stale: timedelta) -> ServiceState:
    beat = heartbeats.get_heartbeat(session, FASTAGI)
    if beat is None:
        return ServiceState(False, _("jamais démarré"), "", None, None)
    process = f"{beat.host} (pid {beat.pid})"
    if now - beat.heartbeat_at > stale:
        return ServiceState(
            False,
            _("aucune nouvelle"),
            _("Le serveur du menu vocal ne donne plus signe de vie."),
            beat.started_at,
            beat.heartbeat_at,
            process,
        )
    return ServiceState(True, _("en marche"), "", beat.started_at, beat.heartbeat_at, process)


def _when(moment: datetime) -> str:
    return f"{format_date(moment, 'medium')}, {format_time(moment, 'short')}"


def _twilio_state(session: Session, now: datetime, stale: timedelta) -> ServiceState:
    """The Twilio line: whether its runner is alive (the navigators' actions on Twilio
    wait for it), and when a call last reached the line, in a manager's words."""
    beat = heartbeats.get_heartbeat(session, twilio_presence.RUNNER_HEARTBEAT)
    activity = twilio_presence.line_activity(session)
    if activity.last_call_at is None:
        calls = _("Aucun appel reçu récemment.")
    else:
        calls = _("Dernier appel reçu : %(when)s.", when=_when(activity.last_call_at))
    heard = activity.last_heard_at.isoformat(timespec="seconds") if activity.last_heard_at else "–"
    technical = f"last webhook {heard}"
    if beat is None:
        detail = _("Les navigateurs ne peuvent pas prendre les appels de la ligne Twilio.")
        return ServiceState(False, _("jamais démarré"), f"{calls} {detail}", None, None, technical)
    technical = f"{twilio_presence.RUNNER_HEARTBEAT} {beat.host} (pid {beat.pid}); {technical}"
    if now - beat.heartbeat_at > stale:
        detail = _("Les navigateurs ne peuvent pas prendre les appels de la ligne Twilio.")
        return ServiceState(
            False,
            _("aucune nouvelle"),
            f"{calls} {detail}",
            beat.started_at,
            beat.heartbeat_at,
            technical,
        )
    return ServiceState(
        True, _("reçoit les appels"), calls, beat.started_at, beat.heartbeat_at, technical
    )


def current_status() -> StatusView:
    now = db.now()
    stale = timedelta(seconds=db.options().heartbeat_stale_s)
    settings = db.line_settings()
    session = db.read_session()
    ami = _ami_state(session, now, stale, db.options().ami_configured)
    fastagi = _fastagi_state(session, now, stale)
    twilio = db.options().twilio_enabled
    view = live.read_live(session, twilio=twilio)
    twilio_only = (
        twilio
        and not db.options().ami_configured
        and navigators.get_status(session) is None
        and heartbeats.get_heartbeat(session, FASTAGI) is None
    )
    return StatusView(
        now,
        compute_state(settings.schedule, now),
        ami,
        fastagi,
        view,
        _twilio_state(session, now, stale) if twilio else None,
        asterisk=not twilio_only,
    )


def reason_text(state: LineState) -> str:
    text = str(REASONS.get(state.reason, state.reason))
    if state.holiday_name:
        text = f"{text} ({state.holiday_name})"
    return text


def _service_json(service: ServiceState) -> dict[str, Any]:
    """The technical detail only for an administrator, as on the page."""
    found = {
        "up": service.up,
        "label": service.label,
        "detail": service.detail,
        "since": service.since.isoformat() if service.since else None,
        "heard_at": service.heard_at.isoformat() if service.heard_at else None,
    }
    if has_role(ADMIN):
        found["technical"] = service.technical
    return found


@bp.get("/status")
@role_required(*ALL_ROLES)
def index() -> str:
    return render_template("status/index.html", status=current_status(), reason_text=reason_text)


@bp.get("/status.json")
@role_required(*ALL_ROLES)
def as_json() -> WerkzeugResponse:
    status = current_status()
    view = status.live
    return jsonify(
        now=status.now.isoformat(),
        line={
            "open": status.line.is_open,
            "reason": status.line.reason,
            "reason_text": reason_text(status.line),
            "detail": status.line.detail,
            "until": status.line.until.isoformat() if status.line.until else None,
        },
        ami=_service_json(status.ami) if status.asterisk else None,
        fastagi=_service_json(status.fastagi) if status.asterisk else None,
        twilio=None if status.twilio is None else _service_json(status.twilio),
        queue={
            "known": view.known,
            "calls_waiting": status.calls_waiting,
            "longest_wait_s": status.longest_wait_s,
            "longest_wait_text": format_duration(status.longest_wait_s),
        },
        navigators={
            "known": view.known,
            "logged_in": view.logged_in if view.known else None,
            "paused": view.paused if view.known else None,
            "on_call": view.on_call if view.known else None,
        },
    )
