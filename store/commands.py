"""The command table: how the dashboard and the CLI ask the listener to act on AMI.

The listener is the only process connected to AMI. Others insert a command with a
short expiry; the listener claims the due ones, runs them and stores the result;
the requester polls for it. A command past its expiry is never claimed, so never
sent late: panoramisk 1.4 re-sends actions queued while disconnected, and a stale
``Atxfer`` arriving after a reconnect would put a stranger's call on hold. The
table is where we refuse instead.

Statuses: pending -> running -> ok | error, or pending -> expired.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, select, update
from sqlalchemy.orm import Session

from ivr.times import require_utc
from store import models as m
from store.rows import changed_rows

PENDING = "pending"
RUNNING = "running"
OK = "ok"
ERROR = "error"
EXPIRED = "expired"
FINAL_STATUSES = frozenset({OK, ERROR, EXPIRED})
DEFAULT_TTL_S = 10.0

# ---- the kinds of command: the one table the listener, the CLI and the console share ----

QUEUE_LOGIN = "queue_login"
QUEUE_PAUSE = "queue_pause"
QUEUE_UNPAUSE = "queue_unpause"
QUEUE_LOGOUT = "queue_logout"
TRANSFER = "transfer"
CANCEL = "cancel"
REFERRAL = "referral"
#: A navigator's presence in the queue, by the verb that asks for it (``ivr211 nav
#: unpause``): log in, pause, come back from a pause, log out.
PRESENCE_KINDS: dict[str, str] = {
    "login": QUEUE_LOGIN,
    "pause": QUEUE_PAUSE,
    "unpause": QUEUE_UNPAUSE,
    "logout": QUEUE_LOGOUT,
}
#: Every kind the listener runs; any other is refused as unknown.
KINDS: frozenset[str] = frozenset({*PRESENCE_KINDS.values(), TRANSFER, CANCEL, REFERRAL})
#: The navigators' commands on the Twilio back end, run by its own command runner
#: (``twilio_line.console``), never by the listener: take the caller at the front of the
#: queue (or ``call_sid``) into a conference; transfer (``destination``, ``mode``);
#: cancel a consultation (the service removed, back with the caller); complete an
#: attended one (the navigator leaves the conference); a referral without transfer
#: (``destination``, ``linkedid``: the caller's CallSid).
TWILIO_TAKE = "twilio_take"
TWILIO_TRANSFER = "twilio_transfer"
TWILIO_CANCEL = "twilio_cancel"
TWILIO_COMPLETE = "twilio_complete"
TWILIO_REFERRAL = "twilio_referral"
TWILIO_KINDS: frozenset[str] = frozenset(
    {TWILIO_TAKE, TWILIO_TRANSFER, TWILIO_CANCEL, TWILIO_COMPLETE, TWILIO_REFERRAL}
)
#: A ``transfer`` command's ``mode`` argument (``attended`` when absent).
ATTENDED = "attended"
BLIND = "blind"
THREE_WAY = "three_way"
TRANSFER_MODES = (ATTENDED, BLIND, THREE_WAY)


class CommandError(Exception):
    """A command cannot be submitted, found or completed."""


class CommandNotFound(CommandError):
    pass


@dataclass(frozen=True)
class Command:
    id: int
    kind: str
    args: dict[str, Any]
    requested_by: str
    created_at: datetime
    expires_at: datetime
    status: str
    result: dict[str, Any] | None
    completed_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else require_utc(now, "now")


def _dumps(name: str, value: dict[str, Any]) -> str:
    if not isinstance(value, dict):
        raise CommandError(f"command {name} must be a JSON object, got {type(value).__name__}")
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"command {name} are not JSON: {exc}") from None


def _view(row: m.ListenerCommand) -> Command:
    return Command(
        id=row.id,
        kind=row.kind,
        args=json.loads(row.args),
        requested_by=row.requested_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=row.status,
        result=None if row.result is None else json.loads(row.result),
        completed_at=row.completed_at,
    )


def submit(
    session: Session,
    kind: str,
    args: dict[str, Any],
    requested_by: str,
    ttl_s: float = DEFAULT_TTL_S,
    *,
    now: datetime | None = None,
) -> int:
    """Queue a command for the listener; it is refused if not claimed within ``ttl_s``.

    Runs in the caller's transaction: the listener sees it once that commits.
    """
    if not kind:
        raise CommandError("command kind must not be empty")
    if not ttl_s > 0:
        raise CommandError(f"ttl_s must be positive, got {ttl_s}")
    created = _now(now)
    row = m.ListenerCommand(
        kind=kind,
        args=_dumps("args", args),
        requested_by=requested_by,
        created_at=created,
        expires_at=created + timedelta(seconds=ttl_s),
        status=PENDING,
    )
    session.add(row)
    session.flush()
    return row.id


def get(session: Session, command_id: int) -> Command:
    row = session.get(m.ListenerCommand, command_id, populate_existing=True)
    if row is None:
        raise CommandNotFound(f"no command {command_id}")
    return _view(row)


def claim_due(
    session: Session,
    now: datetime,
    limit: int | None = None,
    *,
    kinds: frozenset[str] | None = None,
) -> list[Command]:
    """Mark the pending, unexpired commands running and return them, oldest first;
    only those of ``kinds`` when given (the listener and the Twilio back end's runner
    each claim their own, and leave the other's to expire).

    One conditional UPDATE (still pending, still unexpired) claims them, so two
    claimers never both get one and one that expired meanwhile is left out. Writing
    first also matters on SQLite: a transaction that reads and then writes fails at
    once ("database is locked") if another connection committed in between.
    """
    at = _now(now)
    due = (
        select(m.ListenerCommand.id)
        .where(m.ListenerCommand.status == PENDING, m.ListenerCommand.expires_at > at)
        .order_by(m.ListenerCommand.id)
    )
    if kinds is not None:
        due = due.where(m.ListenerCommand.kind.in_(sorted(kinds)))
    if limit is not None:
        due = due.limit(limit)
    claimed = session.scalars(
        update(m.ListenerCommand)
        .where(
            m.ListenerCommand.id.in_(due.scalar_subquery()),
            m.ListenerCommand.status == PENDING,
            m.ListenerCommand.expires_at > at,
        )
        .values(status=RUNNING)
        .returning(m.ListenerCommand.id)
        .execution_options(synchronize_session=False)
    ).all()
    return [get(session, command_id) for command_id in sorted(claimed)]


def expire_stale(session: Session, now: datetime) -> int:
    """Pending commands past their expiry -> expired (never sent late); how many."""
    return _expire(session, _now(now))


def abandon_running(session: Session, now: datetime, reason: str) -> int:
    """Running commands -> error: for a listener starting after a crash, which cannot
    know whether its predecessor sent them. Never re-sent."""
    at = _now(now)
    return changed_rows(
        session,
        update(m.ListenerCommand)
        .where(m.ListenerCommand.status == RUNNING)
        .values(status=ERROR, completed_at=at, result=_dumps("result", {"error": reason})),
    )


def complete(
    session: Session,
    command_id: int,
    status: Literal["ok", "error"],
    result: dict[str, Any],
    *,
    now: datetime | None = None,
) -> Command:
    """Store the outcome of a running command."""
    if status not in (OK, ERROR):
        raise CommandError(f"a command completes as 'ok' or 'error', not {status!r}")
    at = _now(now)
    payload = _dumps("result", result)
    done = changed_rows(
        session,
        update(m.ListenerCommand)
        .where(m.ListenerCommand.id == command_id, m.ListenerCommand.status == RUNNING)
        .values(status=status, result=payload, completed_at=at),
    )
    if done != 1:
        current = get(session, command_id)
        raise CommandError(f"command {command_id} is {current.status}, not running")
    return get(session, command_id)


def _expire(session: Session, now: datetime, *only: ColumnElement[bool]) -> int:
    """Pending commands past their expiry (and matching ``only``) -> expired; how many."""
    return changed_rows(
        session,
        update(m.ListenerCommand)
        .where(m.ListenerCommand.status == PENDING, m.ListenerCommand.expires_at <= now, *only)
        .values(
            status=EXPIRED,
            completed_at=now,
            result=_dumps("result", {"error": "expired before the listener could send it"}),
        ),
    )


def wait_result(
    engine: Engine, command_id: int, timeout_s: float, *, poll_s: float = 0.1
) -> Command:
    """Poll until the command is finished or ``timeout_s`` passed; return it as last seen.

    A command still pending past its expiry is marked expired here (the same
    conditional update as ``expire_stale``), so the requester gets a definite
    answer even when no listener is running.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        with Session(engine) as session, session.begin():
            _expire(session, _now(None), m.ListenerCommand.id == command_id)
            command = get(session, command_id)
        if command.finished or time.monotonic() >= deadline:
            return command
        time.sleep(max(0.0, min(poll_s, deadline - time.monotonic())))


def recent(session: Session, limit: int = 50) -> list[Command]:
    """The latest commands, newest first (for the console and ``listener status``)."""
    rows = session.scalars(
        select(m.ListenerCommand).order_by(m.ListenerCommand.id.desc()).limit(limit)
    )
    return [_view(row) for row in rows]
