"""The wallboard: the line right now, for a big screen in the navigators' room.

Callers waiting and their waits (never their number or name: the screen is read across
the room), the longest wait, the navigators by state with how long they have been in
it, and today's received / answered / abandoned / service level. The live part comes
from the tables the listener keeps (``store.live``), today's figures from the call
records (``store.wallboard``).

It is honest about what it does not know: when the listener has no link to the phone
system (or has gone silent, or has not yet read the queues since it connected), the
page says so in words and shows no figures at all, not the last ones it had. Today's
figures are hidden too: while the link is down, the calls that end are not counted
yet (they are completed later from Asterisk's own logs), so they would be too low.

On a line that also runs on Twilio, the callers waiting in Twilio's queue and the
navigators logged in there are shown with Asterisk's, in the same words
(``store.live.read_live(twilio=True)``). Twilio's side is the line's own state, always
known: on a centre on Twilio only (no AMI secret) the board is live without a listener;
on a centre with both, a link down shows Twilio's side and says Asterisk's is missing.

Refresh: the page polls ``/wallboard/state.json`` every second (``wallboard.js``)
rather than holding a server-sent-events stream open. The dashboard runs on waitress,
whose small pool of worker threads (``[dashboard] threads``, eight by default) also
serves the consoles and the reports: a stream holds one thread for as long as a screen
is on, so a few wallboards would leave the navigators' consoles waiting, while a poll
holds one for milliseconds.
The live state is in the database, so a stream would have to poll it anyway, once per
open screen. Proxies in front of the dashboard buffer responses and cut idle
connections unless told otherwise; a short GET passes any of them unchanged. And
there is nothing to reconnect: after a network cut, a dashboard restart or a lost
session, the next poll simply answers again (or sends the screen to the login page),
and the page marks its figures as not current as soon as polls stop succeeding. With
the listener writing its tables within a fraction of a second of an event, a
one-second poll shows a change within two seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, render_template
from flask_babel import format_decimal, format_percent, format_time
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import db
from dashboard.i18n import format_duration
from dashboard.roles import role_required
from store import live, wallboard
from store.wallboard import DayFigures

bp = Blueprint("wallboard", __name__, url_prefix="/wallboard")

__all__ = ["POLL_MS", "STALE_MS", "WallboardView", "bp", "current_view"]

#: How often the page asks for the state.
POLL_MS = 1000
#: After this long without an answer, the page stops showing its figures as current.
STALE_MS = 5000

AVAILABLE, ON_CALL, AFTER_CALL_WORK, PAUSED = "available", "on_call", "after_call_work", "paused"
_STATE_ORDER = {AVAILABLE: 0, ON_CALL: 1, AFTER_CALL_WORK: 2, PAUSED: 3}


@dataclass(frozen=True)
class Caller:
    """A caller waiting: how long, and in which language (nothing that names them)."""

    wait_s: float | None
    language: str | None


@dataclass(frozen=True)
class NavigatorState:
    name: str
    state: str
    reason: str
    for_s: float


@dataclass(frozen=True)
class WallboardView:
    """``current`` is False when nothing live is known; then ``callers``, ``navigators``
    and ``today`` are empty / None, and ``message`` says why."""

    now: datetime
    current: bool
    message: str
    callers: tuple[Caller, ...]
    navigators: tuple[NavigatorState, ...]
    today: DayFigures | None

    @property
    def longest_wait_s(self) -> float | None:
        waits = [c.wait_s for c in self.callers if c.wait_s is not None]
        return max(waits) if waits else None

    def count(self, state: str) -> int:
        return sum(1 for n in self.navigators if n.state == state)


def _state(member: live.LiveMember, wrapping_up: datetime | None) -> tuple[str, datetime]:
    """The member's state and since when. After-call work (the wrap-up time after a
    call, from ``navigator_activity``) counts only while the member is neither on a
    call nor paused: a pause or a new call ends it."""
    if member.on_call:
        return ON_CALL, member.since
    if member.paused:
        return PAUSED, member.since
    if wrapping_up is not None:
        return AFTER_CALL_WORK, wrapping_up
    return AVAILABLE, member.since


def _reason(member: live.LiveMember) -> str:
    """The pause reason when it says more than "pause" (the console's own word)."""
    reason = member.pause_reason.strip()
    return reason if member.paused and reason.lower() not in ("", "pause") else ""


def current_view() -> WallboardView:
    now = db.now()
    session = db.read_session()
    options = db.options()
    view = live.read_live(
        session, now=now, stale_after_s=options.heartbeat_stale_s, twilio=options.twilio_enabled
    )
    if not view.known:
        message = _(
            "Le lien avec le système téléphonique est coupé : les appels en attente, les "
            "navigateurs et les chiffres du jour ne peuvent pas être affichés."
        )
        return WallboardView(now, False, message, (), (), None)
    if view.connected and not view.synced:
        message = _("Lecture de l'état de la file d'attente en cours…")
        return WallboardView(now, False, message, (), (), None)
    asterisk_missing = not view.connected and options.ami_configured
    callers = sorted(
        (Caller(w.waited_s(now), w.language) for w in view.waiting),
        key=lambda c: -(c.wait_s or 0.0),
    )
    zone = db.line_settings().zone
    ids = [m.navigator_id for m in view.members if m.navigator_id is not None]
    names = wallboard.navigator_names(session, ids)
    wrapping = wallboard.after_call_work(session, ids, now, zone)
    navigators = []
    for m in view.members:
        state, since = _state(m, wrapping.get(m.navigator_id) if m.navigator_id else None)
        name = names.get(m.navigator_id, m.name) if m.navigator_id is not None else m.name
        seconds = max(0.0, (now - since).total_seconds())
        navigators.append(NavigatorState(name, state, _reason(m), seconds))
    navigators.sort(key=lambda n: (_STATE_ORDER[n.state], -n.for_s, n.name))
    day = wallboard.local_day(now, zone)
    today = None
    message = _(
        "Le lien avec le système téléphonique est coupé : seuls les appels en attente et "
        "les navigateurs de la ligne Twilio sont affichés."
    )
    if not asterisk_missing:
        today = wallboard.day_figures(session, day, within_s=options.service_level_s)
        message = _("En direct")
    return WallboardView(now, True, message, tuple(callers), tuple(navigators), today)


# ---- words ---------------------------------------------------------------------------


def language_text(code: str | None) -> str:
    if code == "fr":
        return str(_("français"))
    if code == "en":
        return str(_("anglais"))
    return ""


def state_text(state: str) -> str:
    texts = {
        AVAILABLE: _("Disponible"),
        ON_CALL: _("En appel"),
        AFTER_CALL_WORK: _("Après-appel"),
        PAUSED: _("En pause"),
    }
    return str(texts[state])


def percent_text(share: float | None) -> str:
    return "–" if share is None else str(format_percent(share))


def updated_text(view: WallboardView) -> str:
    return str(_("Mis à jour à %(time)s", time=format_time(view.now, "medium")))


def as_dict(view: WallboardView) -> dict[str, Any]:
    """The page's payload: numbers for scripts and tests, texts in the user's language."""
    today = view.today
    return {
        "now": view.now.isoformat(),
        "current": view.current,
        "message": view.message,
        "updated_text": updated_text(view),
        "waiting": None
        if not view.current
        else {
            "count": len(view.callers),
            "longest_s": view.longest_wait_s,
            "longest_text": format_duration(view.longest_wait_s),
            "callers": [
                {
                    "wait_s": c.wait_s,
                    "wait_text": format_duration(c.wait_s),
                    "language": c.language,
                    "language_text": language_text(c.language),
                }
                for c in view.callers
            ],
        },
        "navigators": None
        if not view.current
        else {
            "available": view.count(AVAILABLE),
            "on_call": view.count(ON_CALL),
            "after_call_work": view.count(AFTER_CALL_WORK),
            "paused": view.count(PAUSED),
            "members": [
                {
                    "name": n.name,
                    "state": n.state,
                    "state_text": state_text(n.state),
                    "reason": n.reason,
                    "for_s": n.for_s,
                    "for_text": format_duration(n.for_s),
                }
                for n in view.navigators
            ],
        },
        "today": None
        if today is None
        else {
            "date": today.day.isoformat(),
            "received": today.received,
            "answered": today.answered,
            "abandoned": today.abandoned,
            "service_level": today.service_level,
            "service_level_text": percent_text(today.service_level),
            "within_s": today.within_s,
        },
    }


# ---- views ---------------------------------------------------------------------------


@bp.get("/")
@role_required("manager", "navigator")
def index() -> str:
    view = current_view()
    return render_template(
        "wallboard/index.html",
        view=view,
        data=as_dict(view),
        poll_ms=POLL_MS,
        stale_ms=STALE_MS,
        service_level_s=format_decimal(db.options().service_level_s),
    )


@bp.get("/state.json")
@role_required("manager", "navigator")
def state() -> WerkzeugResponse:
    return jsonify(as_dict(current_view()))
