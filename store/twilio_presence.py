"""The navigators' presence on the Twilio back end, and what the live pages read of it.

On Asterisk a navigator's presence is a queue member, which Asterisk keeps and the AMI
listener mirrors (``store.live``: its tables are replaced wholesale at every snapshot and
emptied when the link drops). On Twilio there is no member to log in: the line's queue
holds the callers only, and a navigator takes the next one from the console
(``twilio_take``). Whether they are logged in, paused (and why) or logged out is
therefore the line's own state, kept here, one row per logged-in navigator (no row:
logged out). It is written directly by the console (:func:`set_presence`; there is no
phone system to ask and nothing to wait for), survives a restart, and is never touched
by the listener's snapshot, which only replaces its own tables.

The same reading gives the live pages what Twilio knows right now (:func:`members`,
:func:`waiting`) and when the line last heard from Twilio (:func:`line_activity`). The
Twilio command runner (``twilio_line.console``) beats :data:`RUNNER_HEARTBEAT` in
``service_heartbeats``: the console and the status page read it to tell whether the
Twilio actions (take, transfer, cancel, complete, referral) can run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ForeignKey, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ivr.times import require_utc
from store.models import Base, Navigator, UTCDateTime
from store.twilio_calls import TwilioCall
from store.twilio_conferences import TwilioConference, queued_calls

__all__ = [
    "LOGIN",
    "LOGOUT",
    "PAUSE",
    "PRESENCE_ACTIONS",
    "RUNNER_HEARTBEAT",
    "UNPAUSE",
    "LineActivity",
    "TwilioMember",
    "TwilioPresence",
    "TwilioWaiting",
    "line_activity",
    "members",
    "presence_of",
    "set_presence",
    "waiting",
]

#: The Twilio command runner's row in ``service_heartbeats``.
RUNNER_HEARTBEAT: Final = "twilio-console"

LOGIN, PAUSE, UNPAUSE, LOGOUT = "login", "pause", "unpause", "logout"
#: The console's verbs, the same as the queue's (``store.commands.PRESENCE_KINDS``).
PRESENCE_ACTIONS: Final = (LOGIN, PAUSE, UNPAUSE, LOGOUT)


class TwilioPresence(Base):
    """A navigator logged in on the Twilio line (no row: logged out).

    ``logged_in_at``: when they logged in; ``since``: when their state last changed
    (logged in, paused, back from a pause), which the wallboard counts from.
    """

    __tablename__ = "twilio_presence"

    navigator_id: Mapped[int] = mapped_column(
        ForeignKey("navigators.id", ondelete="CASCADE"), primary_key=True
    )
    paused: Mapped[bool] = mapped_column(default=False)
    pause_reason: Mapped[str] = mapped_column(String(200), default="")
    logged_in_at: Mapped[datetime] = mapped_column(UTCDateTime())
    since: Mapped[datetime] = mapped_column(UTCDateTime())


def presence_of(session: Session, navigator_id: int) -> TwilioPresence | None:
    return session.get(TwilioPresence, navigator_id, populate_existing=True)


def set_presence(
    session: Session, navigator_id: int, action: str, at: datetime, *, reason: str = ""
) -> bool:
    """Log in, pause (with ``reason``), unpause or log out; True when the state changed.

    Logging in twice, or out while logged out, changes nothing; a pause or an unpause
    of a navigator who is not logged in changes nothing either (the console says why
    before asking). The pause reason is kept to 200 characters, as on Asterisk.
    """
    if action not in PRESENCE_ACTIONS:
        raise ValueError(f"unknown presence action {action!r}")
    at = require_utc(at, "the presence change's time")
    row = presence_of(session, navigator_id)
    if action == LOGOUT:
        if row is None:
            return False
        session.execute(delete(TwilioPresence).where(TwilioPresence.navigator_id == navigator_id))
        session.flush()
        return True
    if action == LOGIN:
        if row is not None:
            return False
        session.add(
            TwilioPresence(
                navigator_id=navigator_id,
                paused=False,
                pause_reason="",
                logged_in_at=at,
                since=at,
            )
        )
        session.flush()
        return True
    if row is None:
        return False
    pausing = action == PAUSE
    if row.paused == pausing and (not pausing or row.pause_reason == reason[:200]):
        return False
    if row.paused != pausing:
        row.since = at
    row.paused = pausing
    row.pause_reason = reason.strip()[:200] if pausing else ""
    session.flush()
    return True


# ---- what the live pages read --------------------------------------------------------


@dataclass(frozen=True)
class TwilioMember:
    """A navigator logged in on the Twilio line, with the call they took, if any."""

    navigator_id: int
    username: str
    name: str
    paused: bool
    pause_reason: str
    since: datetime
    conference: TwilioConference | None


@dataclass(frozen=True)
class TwilioWaiting:
    """A caller waiting for a navigator on the Twilio line (never their number)."""

    call_sid: str
    joined_at: datetime
    language: str | None


def members(session: Session) -> list[TwilioMember]:
    """The active navigators logged in on Twilio, by user name, each with their live
    conference (``store.twilio_conferences``), if any."""
    rows = session.execute(
        select(TwilioPresence, Navigator)
        .join(Navigator, Navigator.id == TwilioPresence.navigator_id)
        .where(Navigator.active.is_(True))
        .order_by(Navigator.username)
        .execution_options(populate_existing=True)
    ).all()
    users = [navigator.username for _presence, navigator in rows]
    calls: dict[str, TwilioConference] = {}
    if users:
        for conference in session.scalars(
            select(TwilioConference)
            .where(TwilioConference.navigator_user.in_(users), TwilioConference.ended_at.is_(None))
            .order_by(TwilioConference.taken_at, TwilioConference.id)
        ):
            calls[conference.navigator_user] = conference  # the latest wins
    return [
        TwilioMember(
            navigator_id=navigator.id,
            username=navigator.username,
            name=navigator.display_name,
            paused=presence.paused,
            pause_reason=presence.pause_reason,
            since=presence.since,
            conference=calls.get(navigator.username),
        )
        for presence, navigator in rows
    ]


def waiting(session: Session) -> list[TwilioWaiting]:
    """The callers waiting for a navigator on Twilio, longest wait first
    (``store.twilio_conferences.queued_calls``), with when they joined the queue and
    their language."""
    out = []
    for row, data in queued_calls(session):
        language = data.get("language")
        out.append(TwilioWaiting(row.call_sid, row.updated_at, str(language) if language else None))
    return out


@dataclass(frozen=True)
class LineActivity:
    """When a call last reached the Twilio line, and when Twilio last told the line
    anything about a call (a step of the menu, the end of a call); None: not since the
    retention job last purged the calls' state."""

    last_call_at: datetime | None
    last_heard_at: datetime | None


def line_activity(session: Session) -> LineActivity:
    last_call, last_heard = session.execute(
        select(func.max(TwilioCall.arrived_at), func.max(TwilioCall.updated_at))
    ).one()
    # max() keeps its column's type, so the values come back in UTC on both databases.
    return LineActivity(last_call, last_heard)
