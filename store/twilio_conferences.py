"""A navigator's call on the Twilio back end: the conference the caller was taken into.

On Asterisk a navigator's call is a bridge the listener watches; on Twilio it is a
conference, named after the caller's ``CallSid`` (``ivr211-<CallSid>``), with the
caller, the navigator (dialled at the phone number or SIP address of their navigator
record, ``navigators.twilio_address``) and, during a bascule, the service. Twilio tells
what happens there with separate callbacks (the conference's ``participant-join`` /
``participant-leave``, the service leg's call progress): each is one HTTP request, so
what a later one needs to know of an earlier one is kept here, one row per taken call:

- who took the call (``navigator_user``, emptied once the navigator left the conference,
  so they are free for the next caller; and the navigator's Asterisk endpoint the
  transfer record names them by, ``navigator_endpoint``) and the navigator's leg;
- the consultation under way, if any: the service's leg (``service_sid``), its
  destination, the mode (``attended``, ``blind``, ``three_way``), the number dialled,
  when it was dialled and answered, and its state: ``ringing`` (dialled), ``answered``,
  ``completed`` (the caller was joined to the service), ``abandoned`` (the navigator
  removed the service), ``caller_gone`` (the caller hung up during it), ``ended`` (the
  service did not answer, or hung up during it).

The transfer record itself is written once, on the service leg's id
(``twilio:<service CallSid>``, ``store.transfers``), so a callback Twilio repeats
changes nothing. No personal data here: the caller's number stays in ``twilio_calls``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Index, Select, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ivr.dialplan import Route
from store.models import Base, UTCDateTime
from store.twilio_calls import SID_LENGTH, TwilioCall

__all__ = [
    "CONFERENCE_PREFIX",
    "CONSULT_STATES",
    "TwilioConference",
    "add_conference",
    "conference_by_caller",
    "conference_by_name",
    "conference_by_navigator_leg",
    "conference_by_service",
    "conference_name",
    "conference_of_navigator",
    "queued_calls",
    "waiting_callers",
]

CONFERENCE_PREFIX = "ivr211-"
CONSULT_STATES = ("ringing", "answered", "completed", "abandoned", "caller_gone", "ended")


def conference_name(caller_sid: str) -> str:
    return f"{CONFERENCE_PREFIX}{caller_sid}"


class TwilioConference(Base):
    """One caller taken by a navigator, from the take to the end of the conference."""

    __tablename__ = "twilio_conferences"
    __table_args__ = (
        Index("ix_twilio_conferences_navigator_user", "navigator_user"),
        Index("ix_twilio_conferences_service_sid", "service_sid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    caller_sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    conference_sid: Mapped[str | None] = mapped_column(String(SID_LENGTH))
    navigator_user: Mapped[str] = mapped_column(String(100))
    navigator_endpoint: Mapped[str] = mapped_column(String(120))
    navigator_sid: Mapped[str | None] = mapped_column(String(SID_LENGTH))
    line_number: Mapped[str] = mapped_column(String(40))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    service_sid: Mapped[str | None] = mapped_column(String(SID_LENGTH))
    destination: Mapped[str | None] = mapped_column(String(40))
    mode: Mapped[str | None] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(40))
    consult_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    service_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consult_state: Mapped[str | None] = mapped_column(String(16))

    @property
    def name(self) -> str:
        return conference_name(self.caller_sid)

    @property
    def consulting(self) -> bool:
        """A consultation is under way (dialled or answered, not concluded)."""
        return self.service_sid is not None and self.consult_state in ("ringing", "answered")

    def start_consultation(
        self, service_sid: str, destination: str, mode: str, target: str, at: datetime
    ) -> None:
        self.service_sid = service_sid
        self.destination = destination
        self.mode = mode
        self.target = target
        self.consult_started_at = at
        self.service_answered_at = None
        self.consult_state = "ringing"


def add_conference(
    session: Session,
    *,
    caller_sid: str,
    navigator_user: str,
    navigator_endpoint: str,
    line_number: str,
    at: datetime,
) -> TwilioConference:
    row = TwilioConference(
        caller_sid=caller_sid,
        navigator_user=navigator_user,
        navigator_endpoint=navigator_endpoint,
        line_number=line_number,
        taken_at=at,
    )
    session.add(row)
    session.flush()
    return row


def _one(session: Session, query: Select[TwilioConference], lock: bool) -> Any:
    """The first row of ``query``; ``lock`` holds it until the transaction ends (``FOR
    UPDATE`` on PostgreSQL), for the callbacks and commands of one call that race."""
    return session.scalar(query.with_for_update() if lock else query)


def conference_by_caller(
    session: Session, caller_sid: str, *, lock: bool = False
) -> TwilioConference | None:
    query = select(TwilioConference).where(TwilioConference.caller_sid == caller_sid)
    return cast(TwilioConference | None, _one(session, query, lock))


def conference_by_name(
    session: Session, name: str, *, lock: bool = False
) -> TwilioConference | None:
    if not name.startswith(CONFERENCE_PREFIX):
        return None
    return conference_by_caller(session, name.removeprefix(CONFERENCE_PREFIX), lock=lock)


def conference_by_service(
    session: Session, service_sid: str, *, lock: bool = False
) -> TwilioConference | None:
    query = select(TwilioConference).where(TwilioConference.service_sid == service_sid)
    return cast(TwilioConference | None, _one(session, query, lock))


def conference_by_navigator_leg(
    session: Session, navigator_sid: str, *, lock: bool = False
) -> TwilioConference | None:
    query = select(TwilioConference).where(TwilioConference.navigator_sid == navigator_sid)
    return cast(TwilioConference | None, _one(session, query, lock))


def conference_of_navigator(
    session: Session, username: str, *, lock: bool = False
) -> TwilioConference | None:
    """The navigator's live conference (the latest one not ended)."""
    query = (
        select(TwilioConference)
        .where(TwilioConference.navigator_user == username, TwilioConference.ended_at.is_(None))
        .order_by(TwilioConference.taken_at.desc(), TwilioConference.id.desc())
        .limit(1)
    )
    return cast(TwilioConference | None, _one(session, query, lock))


def queued_calls(session: Session) -> list[tuple[TwilioCall, dict[str, Any]]]:
    """The calls waiting for a navigator on the Twilio line right now, longest wait
    first, with their decision: calls not ended whose flow sent them to the queue, and
    that no navigator took (the one rule of the console's count and the live pages).
    They joined the queue when the flow decided (the row's last write before the wait)."""
    taken = select(TwilioConference.id).where(TwilioConference.caller_sid == TwilioCall.call_sid)
    rows = session.scalars(
        select(TwilioCall)
        .where(TwilioCall.ended_at.is_(None), TwilioCall.decision.is_not(None), ~taken.exists())
        .order_by(TwilioCall.updated_at, TwilioCall.id)
    )
    found = []
    for row in rows:
        try:
            data = row.decision_data()
        except ValueError:
            continue
        if data is not None and data.get("route") == Route.QUEUE.value:
            found.append((row, data))
    return found


def waiting_callers(session: Session) -> int:
    """How many callers wait for a navigator on the Twilio line right now."""
    return len(queued_calls(session))
