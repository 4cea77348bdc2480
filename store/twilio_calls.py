"""The state of a call on the Twilio back end between two of its webhooks.

Twilio asks the line what to do next with one HTTP request per step of the call (a key
pressed, a prompt played to its end, a recording made); nothing of the call stays in the
web process between two requests. What the next request needs is kept here, one row per
``CallSid``: when the call (and the current pass through the flow) started, what the flow
knows of the caller, and the events the caller sent so far. The adapter rebuilds the flow
by replaying those events (``twilio_line.replay``), so the row survives a restart of the
web process and serves a second one (waitress threads, two processes behind a proxy)
exactly as it serves the first.

``caller_number`` and the callback number inside ``decision`` are personal data: a
finished call's row is deleted by the retention job (:func:`purge_calls`, after
``[twilio] state_days``), except while a research message recorded in it is not yet in
the inbox (:data:`PENDING`): its caller's number and callback number go with the
message, so the row stays until the message is taken or known lost.

What became of each recording of the research box (``twilio_line.recordings``) is kept
in the same row, under the ``research`` key of ``decision`` (the flow's decision is
final on that route, so nothing rewrites it): ``{"recordings": {RecordingSid: state},
"round": n}``, ``n`` counting the review menus played (``twilio_line.calls``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import CheckConstraint, Index, String, Text, and_, delete, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base, UTCDateTime
from store.voicemail import audit

__all__ = [
    "DISCARDED",
    "GONE",
    "KEPT",
    "PENDING",
    "REVIEW",
    "TAKEN",
    "TwilioCall",
    "add_call",
    "call_by_sid",
    "calls_with_pending_recordings",
    "purge_calls",
]

#: Twilio's ids are 34 characters ("CA" + 32 hex digits); room for a longer form.
SID_LENGTH = 64

#: A research recording's states: the caller is reviewing it; kept (by the caller, or by
#: hanging up during the review), to be taken into the inbox; discarded (recorded
#: again), to be deleted from Twilio and never taken; taken (in the inbox, deleted from
#: Twilio); gone (discarded and deleted, or no longer on Twilio when taken).
REVIEW: Final = "review"
KEPT: Final = "kept"
DISCARDED: Final = "discarded"
TAKEN: Final = "taken"
GONE: Final = "gone"
#: Still to be done with at Twilio.
PENDING: Final = frozenset({REVIEW, KEPT, DISCARDED})
_RESEARCH: Final = "research"


class TwilioCall(Base):
    """One call carried by Twilio, while its flow runs and until it is purged.

    ``events`` is a JSON list of the events sent to the flow in the current pass (see
    ``twilio_line.replay`` for their form); ``action_digest`` a SHA-256 of every action
    the pass played so far, so a replay that no longer leads through them (the line
    settings changed in between) is noticed. ``passes`` counts the flow's passes: the
    first one, then one per ``queue-exit`` after a wait in the queue. ``decision`` is
    the JSON of the flow's last decision, once it has one.
    """

    __tablename__ = "twilio_calls"
    __table_args__ = (
        CheckConstraint("passes >= 1", name="passes"),
        Index("ix_twilio_calls_ended_at", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pass_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    passes: Mapped[int] = mapped_column(default=1)
    entry: Mapped[str] = mapped_column(String(32), default="")
    entry_language: Mapped[str] = mapped_column(String(8), default="")
    caller_number: Mapped[str | None] = mapped_column(
        String(40), comment="personal data: purged with the row"
    )
    dialed_number: Mapped[str | None] = mapped_column(String(40))
    events: Mapped[str] = mapped_column(Text(), default="[]")
    action_digest: Mapped[str] = mapped_column(String(64), default="")
    decision: Mapped[str | None] = mapped_column(
        Text(), comment="personal data (the callback number): purged with the row"
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_status: Mapped[str | None] = mapped_column(String(16))

    def event_list(self) -> list[dict[str, Any]]:
        loaded = json.loads(self.events or "[]")
        if not isinstance(loaded, list):
            raise ValueError(f"twilio_calls.events of {self.call_sid} is not a list")
        return [dict(item) for item in loaded]

    def set_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.events = json.dumps([dict(e) for e in events], separators=(",", ":"))

    def decision_data(self) -> dict[str, Any] | None:
        if self.decision is None:
            return None
        loaded = json.loads(self.decision)
        return dict(loaded) if isinstance(loaded, dict) else None

    def _research(self) -> dict[str, Any]:
        data = self.decision_data() or {}
        research = data.get(_RESEARCH)
        return dict(research) if isinstance(research, dict) else {}

    def _set_research(self, research: Mapping[str, Any]) -> None:
        data = self.decision_data()
        if data is None:
            raise ValueError(f"call {self.call_sid} has no decision to keep recordings beside")
        data[_RESEARCH] = dict(research)
        self.decision = json.dumps(data, separators=(",", ":"), sort_keys=True)

    def recordings(self) -> dict[str, str]:
        """Each research recording of the call (by ``RecordingSid``) and its state."""
        found = self._research().get("recordings")
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def set_recording(self, recording_sid: str, state: str) -> None:
        research = self._research()
        research["recordings"] = {**self.recordings(), recording_sid: state}
        self._set_research(research)

    def review(self) -> tuple[str | None, int, int]:
        """The recording the caller is reviewing (None when none), how many review menus
        the call has played, and how many of them went unanswered."""
        research = self._research()
        sid = research.get("review")
        return (
            sid if isinstance(sid, str) else None,
            int(research.get("round", 0)),
            int(research.get("silent", 0)),
        )

    def set_review(self, recording_sid: str | None, rounds: int, silent: int) -> None:
        self._set_research(
            {**self._research(), "review": recording_sid, "round": rounds, "silent": silent}
        )

    def has_pending_recordings(self) -> bool:
        return any(state in PENDING for state in self.recordings().values())


def call_by_sid(session: Session, call_sid: str, *, lock: bool = False) -> TwilioCall | None:
    """The call's row; ``lock`` holds it until the transaction ends (``FOR UPDATE`` on
    PostgreSQL; SQLite's write transaction is already exclusive), so two requests of one
    call (a status callback racing a step) take turns."""
    query = select(TwilioCall).where(TwilioCall.call_sid == call_sid)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def add_call(
    session: Session,
    *,
    call_sid: str,
    at: datetime,
    caller_number: str | None,
    dialed_number: str | None,
) -> TwilioCall:
    """A new call, first pass, no event yet (flushed: a CallSid already there raises
    ``IntegrityError``)."""
    row = TwilioCall(
        call_sid=call_sid,
        arrived_at=at,
        pass_started_at=at,
        passes=1,
        entry="",
        entry_language="",
        caller_number=caller_number,
        dialed_number=dialed_number,
        events="[]",
        action_digest="",
        updated_at=at,
    )
    session.add(row)
    session.flush()
    return row


def calls_with_pending_recordings(session: Session) -> list[TwilioCall]:
    """The calls with a research recording still to be taken or deleted (:data:`PENDING`),
    oldest first. Only research calls carry recordings, so the text filter is narrow."""
    rows = session.scalars(
        select(TwilioCall)
        .where(TwilioCall.decision.like(f'%"{_RESEARCH}":%'))
        .order_by(TwilioCall.arrived_at, TwilioCall.id)
    )
    return [row for row in rows if row.has_pending_recordings()]


def purge_calls(session: Session, cutoff: datetime, now: datetime, *, dry_run: bool) -> int:
    """Delete the rows of calls that ended before ``cutoff``, and of calls never heard
    of since (their status callback lost), with their conferences
    (``store.twilio_conferences``); commits and audits once. A call with a research
    recording not yet taken into the inbox stays (:data:`PENDING`). Returns how many
    calls' rows (would) go."""
    due = or_(
        TwilioCall.ended_at < cutoff,
        and_(TwilioCall.ended_at.is_(None), TwilioCall.updated_at < cutoff),
    )
    waiting = {row.id for row in calls_with_pending_recordings(session)}
    # Here, not above: store.privacy exports these rows with a caller's data.
    from store.privacy import SYSTEM_ROLE, SYSTEM_USER

    # Here too: store.twilio_conferences takes its id length from this module.
    from store.twilio_conferences import TwilioConference

    ids = [i for i in session.scalars(select(TwilioCall.id).where(due)) if i not in waiting]
    if dry_run or not ids:
        return len(ids)
    sids = select(TwilioCall.call_sid).where(TwilioCall.id.in_(ids)).scalar_subquery()
    # The conference a navigator took the call into goes with it.
    session.execute(delete(TwilioConference).where(TwilioConference.caller_sid.in_(sids)))
    session.execute(delete(TwilioCall).where(TwilioCall.id.in_(ids)))
    audit(
        session,
        SYSTEM_USER,
        SYSTEM_ROLE,
        "purge",
        TwilioCall.__tablename__,
        f"{len(ids)} Twilio calls' state deleted (ended before {cutoff:%Y-%m-%d %H:%M} UTC)",
        at=now,
    )
    session.commit()
    return len(ids)
