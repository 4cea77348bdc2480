"""What is happening on the line right now, as the AMI listener sees it (issue 4: the
navigators' presence and current calls, calls waiting), for the console and the status page.

The listener is the only AMI client, so it owns this state: its tracker
(``listener.live.LiveTracker``) follows the queue events and, at most a few times a
second, :func:`write_snapshot` replaces these tables with what it sees. They are a
mirror, never history: a member's row exists while it is logged in to a queue, a
waiting caller's row while it waits, and everything is cleared when the link to
Asterisk drops (``live_state.connected`` is then false and the tables say nothing).
The dashboard only reads them (:func:`read_live`).

On a line that also runs on Twilio (``[twilio] enabled``), the readers ask for Twilio's
side too (``twilio=True``): the navigators logged in on Twilio (``store.twilio_presence``,
a table of its own that the snapshot never replaces) and the callers waiting in Twilio's
queue are listed beside Asterisk's, with the same fields, so the pages say the same
words for both; each member and caller says which line it is on (``line``).

The caller's number is kept here because the navigator handling the call must be able
to give it to 911; it is gone as soon as the call ends (the next snapshot), and the
numbers of callers still waiting are not stored at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, Double, ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ivr.actions import PATH_SEPARATOR
from store import twilio_presence
from store.models import SINGLETON_ID, Base, Navigator, UTCDateTime
from store.rows import update_or_insert
from store.twilio_calls import call_by_sid

__all__ = [
    "ASTERISK",
    "TWILIO",
    "CurrentCall",
    "LiveCall",
    "LiveMember",
    "LiveSnapshot",
    "LiveState",
    "LiveView",
    "MemberPresence",
    "NavigatorPresence",
    "QueueCaller",
    "WaitingCall",
    "WaitingCaller",
    "clear",
    "presence_for",
    "read_live",
    "twilio_presence_for",
    "write_snapshot",
]


#: The line a member or a waiting caller is on.
ASTERISK, TWILIO = "asterisk", "twilio"


class NavigatorPresence(Base):
    """A queue member that is logged in (no row: logged out), with its current call.

    Keyed by the member's queue interface as Asterisk names it (``QueueMemberAdded
    Interface: Local/nav2@queue-agents/n``); ``navigator_id`` is the navigator account
    whose ``queue_interface`` (or phone endpoint) that is, None for a member that no
    account claims (a static member of queues.conf, for instance).
    """

    __tablename__ = "navigator_presence"

    interface: Mapped[str] = mapped_column(String(120), primary_key=True)
    navigator_id: Mapped[int | None] = mapped_column(
        ForeignKey("navigators.id", ondelete="SET NULL"), index=True
    )
    member_name: Mapped[str] = mapped_column(String(200), default="")
    queues: Mapped[str] = mapped_column(String(500), default="")
    paused: Mapped[bool] = mapped_column(default=False)
    pause_reason: Mapped[str] = mapped_column(String(200), default="")
    on_call: Mapped[bool] = mapped_column(default=False)
    consulting: Mapped[bool] = mapped_column(default=False)
    navigator_channel: Mapped[str | None] = mapped_column(String(200))
    call_linkedid: Mapped[str | None] = mapped_column(String(64))
    call_uniqueid: Mapped[str | None] = mapped_column(String(64))
    caller_number: Mapped[str | None] = mapped_column(
        String(40), comment="personal data: shown to the navigator on the call only"
    )
    language: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str | None] = mapped_column(String(80))
    interpreter: Mapped[bool] = mapped_column(default=False)
    waited_s: Mapped[float | None] = mapped_column(Double())
    call_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QueueCaller(Base):
    """A caller waiting in a queue (``QueueCallerJoin`` until ``QueueCallerLeave``)."""

    __tablename__ = "queue_callers"

    uniqueid: Mapped[str] = mapped_column(String(64), primary_key=True)
    linkedid: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column()
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    language: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str | None] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LiveState(Base):
    """One row: whether the tables above mean anything right now.

    ``connected``: the listener is logged in to Asterisk; ``synced``: it has also read
    the queues' state (``QueueStatus``) since it connected, so members and callers that
    were there before it started are listed too. ``changed_at`` is the time of the last
    event that changed something, ``written_at`` when the listener last wrote.
    """

    __tablename__ = "live_state"
    __table_args__ = (CheckConstraint(f"id = {SINGLETON_ID}", name="singleton"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connected: Mapped[bool] = mapped_column(default=False)
    synced: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    written_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---- the snapshot (what the listener sees, written as one) -----------------------------


@dataclass(frozen=True)
class CurrentCall:
    """A navigator's call from the queue, with what the navigator needs to know."""

    navigator_channel: str | None
    caller_channel: str | None
    caller_uniqueid: str | None
    linkedid: str | None
    caller_number: str | None
    language: str | None
    path: str | None
    interpreter: bool
    queue: str | None
    waited_s: float | None
    connected_at: datetime | None
    consulting: bool = False


@dataclass(frozen=True)
class MemberPresence:
    """A logged-in queue member (absent from the snapshot: logged out)."""

    interface: str
    name: str
    queues: tuple[str, ...]
    paused: bool
    pause_reason: str
    on_call: bool
    call: CurrentCall | None
    since: datetime


@dataclass(frozen=True)
class WaitingCaller:
    uniqueid: str
    linkedid: str | None
    channel: str
    queue: str
    position: int
    joined_at: datetime | None
    language: str | None
    path: str | None


@dataclass(frozen=True)
class LiveSnapshot:
    """``version`` moves at every change; ``synced`` once the queues' state was read
    after connecting; ``changed_at`` is the time of the last change."""

    version: int
    synced: bool
    changed_at: datetime | None
    members: tuple[MemberPresence, ...]
    callers: tuple[WaitingCaller, ...]

    @classmethod
    def empty(cls) -> LiveSnapshot:
        return cls(0, False, None, (), ())

    def member(self, interface: str) -> MemberPresence | None:
        return next((m for m in self.members if m.interface == interface), None)


# ---- writing (the listener) -----------------------------------------------------------


def _navigator_ids(session: Session) -> dict[str, int]:
    """Queue interface (and phone endpoint) -> navigator id; ``Local/x@ctx/n`` also
    answers for ``Local/x@ctx`` (the ``/n`` is a Local channel option, not a name)."""
    ids: dict[str, int] = {}
    for nav_id, interface, endpoint in session.execute(
        select(Navigator.id, Navigator.queue_interface, Navigator.phone_endpoint)
    ):
        for name in (endpoint, interface):
            ids[name] = nav_id
            ids[name.removesuffix("/n")] = nav_id
    return ids


def write_snapshot(
    session: Session, snapshot: LiveSnapshot, *, connected: bool, at: datetime
) -> None:
    """Replace the live tables with ``snapshot`` (one transaction: readers see the old
    state or the new one, never half of each)."""
    ids = _navigator_ids(session)
    session.execute(delete(NavigatorPresence).execution_options(synchronize_session=False))
    session.execute(delete(QueueCaller).execution_options(synchronize_session=False))
    for member in snapshot.members if connected else ():
        call = member.call
        session.add(
            NavigatorPresence(
                interface=member.interface[:120],
                navigator_id=ids.get(
                    member.interface, ids.get(member.interface.removesuffix("/n"))
                ),
                member_name=member.name[:200],
                queues=",".join(member.queues)[:500],
                paused=member.paused,
                pause_reason=member.pause_reason[:200],
                on_call=member.on_call,
                consulting=call.consulting if call else False,
                navigator_channel=call.navigator_channel if call else None,
                call_linkedid=call.linkedid if call else None,
                call_uniqueid=call.caller_uniqueid if call else None,
                caller_number=call.caller_number if call else None,
                language=(call.language or None) if call else None,
                path=call.path if call else None,
                interpreter=call.interpreter if call else False,
                waited_s=call.waited_s if call else None,
                call_started_at=call.connected_at if call else None,
                since=member.since,
                updated_at=at,
            )
        )
    for caller in snapshot.callers if connected else ():
        session.add(
            QueueCaller(
                uniqueid=caller.uniqueid,
                linkedid=caller.linkedid,
                queue=caller.queue[:80],
                position=caller.position,
                joined_at=caller.joined_at,
                language=caller.language,
                path=caller.path,
                updated_at=at,
            )
        )
    values = {
        "connected": connected,
        "synced": connected and snapshot.synced,
        "changed_at": snapshot.changed_at,
        "written_at": at,
    }
    update_or_insert(session, LiveState, {"id": SINGLETON_ID}, values)
    session.flush()


def clear(session: Session, at: datetime) -> None:
    """Nothing is known (the listener lost Asterisk, or stopped)."""
    write_snapshot(session, LiveSnapshot.empty(), connected=False, at=at)


# ---- reading (the dashboard) ----------------------------------------------------------


@dataclass(frozen=True)
class LiveCall:
    linkedid: str | None
    caller_uniqueid: str | None
    caller_number: str | None
    language: str | None
    path: str | None
    interpreter: bool
    waited_s: float | None
    started_at: datetime | None
    consulting: bool


@dataclass(frozen=True)
class LiveMember:
    interface: str
    navigator_id: int | None
    name: str
    queues: tuple[str, ...]
    paused: bool
    pause_reason: str
    on_call: bool
    since: datetime
    call: LiveCall | None
    line: str = ASTERISK


@dataclass(frozen=True)
class WaitingCall:
    uniqueid: str
    queue: str
    position: int
    joined_at: datetime | None
    language: str | None
    line: str = ASTERISK

    def waited_s(self, now: datetime) -> float | None:
        if self.joined_at is None:
            return None
        return max(0.0, (now - self.joined_at).total_seconds())


@dataclass(frozen=True)
class LiveView:
    """What the dashboard shows; ``connected`` is False when no listener has a live link
    (then Asterisk's members and callers are missing because nothing is known, not
    because nobody is there). ``twilio``: Twilio's side is listed too; it is always
    known (the line's own tables), so the view is ``known`` when either side is."""

    connected: bool
    synced: bool
    written_at: datetime | None
    members: tuple[LiveMember, ...]
    waiting: tuple[WaitingCall, ...]
    twilio: bool = False

    @property
    def known(self) -> bool:
        return self.connected or self.twilio

    @property
    def logged_in(self) -> int:
        return len(self.members)

    @property
    def paused(self) -> int:
        return sum(1 for m in self.members if m.paused)

    @property
    def on_call(self) -> int:
        return sum(1 for m in self.members if m.on_call)


def _member(row: NavigatorPresence) -> LiveMember:
    call = None
    if row.on_call and (row.call_linkedid or row.call_uniqueid or row.caller_number):
        call = LiveCall(
            linkedid=row.call_linkedid,
            caller_uniqueid=row.call_uniqueid,
            caller_number=row.caller_number,
            language=row.language,
            path=row.path,
            interpreter=row.interpreter,
            waited_s=row.waited_s,
            started_at=row.call_started_at,
            consulting=row.consulting,
        )
    return LiveMember(
        interface=row.interface,
        navigator_id=row.navigator_id,
        name=row.member_name,
        queues=tuple(q for q in row.queues.split(",") if q),
        paused=row.paused,
        pause_reason=row.pause_reason,
        on_call=row.on_call,
        since=row.since,
        call=call,
    )


def read_live(
    session: Session,
    *,
    now: datetime | None = None,
    stale_after_s: float | None = None,
    twilio: bool = False,
) -> LiveView:
    """The live state; Asterisk's side is not known when the listener is not connected
    or, with ``stale_after_s``, has not written for that long before ``now`` (it rewrites
    at least every 10 s: a listener killed without clearing the tables must not leave a
    frozen picture). With ``twilio``, Twilio's navigators and waiting callers follow
    Asterisk's."""
    view = _read_asterisk(session, now, stale_after_s)
    if not twilio:
        return view
    members = tuple(_twilio_member(m) for m in twilio_presence.members(session))
    waiting = tuple(
        WaitingCall(w.call_sid, TWILIO, n, w.joined_at, w.language, TWILIO)
        for n, w in enumerate(twilio_presence.waiting(session), start=1)
    )
    return LiveView(
        view.connected,
        view.synced,
        view.written_at,
        view.members + members,
        view.waiting + waiting,
        twilio=True,
    )


def _read_asterisk(session: Session, now: datetime | None, stale_after_s: float | None) -> LiveView:
    state = session.get(LiveState, SINGLETON_ID, populate_existing=True)
    if state is not None and stale_after_s is not None:
        moment = now or datetime.now(UTC)
        if (moment - state.written_at).total_seconds() > stale_after_s:
            return LiveView(False, False, state.written_at, (), ())
    members = tuple(
        _member(row)
        for row in session.scalars(select(NavigatorPresence).order_by(NavigatorPresence.interface))
    )
    waiting = tuple(
        WaitingCall(row.uniqueid, row.queue, row.position, row.joined_at, row.language)
        for row in session.scalars(
            select(QueueCaller).order_by(QueueCaller.queue, QueueCaller.position)
        )
    )
    if state is None or not state.connected:
        return LiveView(False, False, state.written_at if state else None, (), ())
    return LiveView(True, state.synced, state.written_at, members, waiting)


def _twilio_member(
    member: twilio_presence.TwilioMember, session: Session | None = None
) -> LiveMember:
    """A navigator logged in on Twilio, as a queue member is shown; with ``session``, the
    call they took carries what the navigator needs to know (the caller's number, for
    911; the language and path the flow decided), as on Asterisk."""
    conference = member.conference
    call = None
    if conference is not None:
        row = None if session is None else call_by_sid(session, conference.caller_sid)
        try:
            decision = (None if row is None else row.decision_data()) or {}
        except ValueError:
            decision = {}
        path = decision.get("path")
        call = LiveCall(
            linkedid=conference.caller_sid,
            caller_uniqueid=conference.caller_sid,
            caller_number=None if row is None else row.caller_number,
            language=str(decision["language"]) if decision.get("language") else None,
            path=PATH_SEPARATOR.join(map(str, path))[:80] if isinstance(path, list) else None,
            interpreter=bool(decision.get("interpreter")),
            waited_s=None,
            started_at=conference.taken_at,
            consulting=conference.consulting,
        )
    return LiveMember(
        interface=f"{TWILIO}:{member.username}",
        navigator_id=member.navigator_id,
        name=member.name,
        queues=(),
        paused=member.paused,
        pause_reason=member.pause_reason,
        on_call=conference is not None,
        since=conference.taken_at if conference is not None else member.since,
        call=call,
        line=TWILIO,
    )


def twilio_presence_for(session: Session, navigator: Navigator) -> LiveMember | None:
    """The navigator's presence on the Twilio line, None when logged out of it."""
    for member in twilio_presence.members(session):
        if member.navigator_id == navigator.id:
            return _twilio_member(member, session)
    return None


def presence_for(
    session: Session, navigator: Navigator, *, twilio: bool = False
) -> LiveMember | None:
    """The navigator's presence row (by account, else by its interface), None when it is
    logged out of every queue. With ``twilio``, their presence on Twilio instead when
    they are logged out of Asterisk's queues, or on a Twilio call and not on Asterisk's."""
    found = _asterisk_presence(session, navigator)
    if not twilio:
        return found
    on_twilio = twilio_presence_for(session, navigator)
    if found is None or (on_twilio is not None and on_twilio.on_call and not found.on_call):
        return on_twilio
    return found


def _asterisk_presence(session: Session, navigator: Navigator) -> LiveMember | None:
    row = session.scalars(
        select(NavigatorPresence).where(NavigatorPresence.navigator_id == navigator.id)
    ).first()
    if row is None:
        names = {
            navigator.queue_interface,
            navigator.queue_interface.removesuffix("/n"),
            f"{navigator.queue_interface}/n",
        }
        row = session.scalars(
            select(NavigatorPresence).where(NavigatorPresence.interface.in_(names))
        ).first()
    return None if row is None else _member(row)
