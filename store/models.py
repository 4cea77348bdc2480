"""The declarative base and the tables of the line settings (what an administrator
changes without the dialplan), the navigators, the transfer records and the listener's
command and status rows.

The other tables (``accounts``, ``live``, ``voicemail``) are declared beside the code that
reads and writes them, on this ``Base``; ``store.tables`` lists every one.

Constraint names follow one convention so Alembic can alter them by name on PostgreSQL
and recreate them in SQLite's batch mode. Every timestamp is stored in UTC and comes
back timezone-aware on both databases (``UTCDateTime``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    Time,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from ivr.times import require_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY_DAY = "holiday"
SINGLETON_ID = 1


def one_of(column: str, values: tuple[str, ...]) -> str:
    """The SQL of a CHECK constraint: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zone, so the value is stored
    as naive UTC and made aware again on the way out. Naive input is refused: a
    naive time in a phone line's schedule is a bug waiting for the next DST change.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = require_utc(value, "a stored time")
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SettingsVersion(Base):
    """One row; bumped in the same transaction as every settings change.

    Servers cache the settings and compare this number to know when to reload,
    and the AstDB mirror is rewritten when it moves.
    """

    __tablename__ = "settings_version"
    __table_args__ = (CheckConstraint(f"id = {SINGLETON_ID}", name="singleton"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    changed_by: Mapped[str] = mapped_column(String(100))


class LineOptions(Base):
    __tablename__ = "line_options"
    __table_args__ = (
        CheckConstraint(f"id = {SINGLETON_ID}", name="singleton"),
        CheckConstraint("menu_max_attempts >= 1", name="menu_max_attempts"),
        CheckConstraint(
            "menu_digit_timeout_ms BETWEEN 1000 AND 30000", name="menu_digit_timeout_ms"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    queue_name: Mapped[str] = mapped_column(String(80))
    research_mailbox: Mapped[str] = mapped_column(String(80))
    menu_max_attempts: Mapped[int]
    menu_digit_timeout_ms: Mapped[int]
    closed_research_key: Mapped[str] = mapped_column(String(1))
    # The research box's consent notice (Loi 25); NULL = the default text of
    # ivr.settings.ResearchConsent. ``{days}`` in a text is the retention period.
    consent_text_fr: Mapped[str | None] = mapped_column(Text())
    consent_text_en: Mapped[str | None] = mapped_column(Text())
    consent_retention_days: Mapped[int | None]


class OpeningHours(Base):
    """One row per weekday ("mon".."sun") and one for holidays; no times = closed."""

    __tablename__ = "opening_hours"
    __table_args__ = (
        CheckConstraint(
            "day IN ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'holiday')", name="day"
        ),
        CheckConstraint(
            "(opens IS NULL AND closes IS NULL)"
            " OR (opens IS NOT NULL AND closes IS NOT NULL AND closes > opens)",
            name="times",
        ),
    )

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    opens: Mapped[time | None] = mapped_column(Time())
    closes: Mapped[time | None] = mapped_column(Time())


class HolidayRule(Base):
    """Which ``holidays`` calendar closes the line to holiday hours (one row)."""

    __tablename__ = "holiday_rules"
    __table_args__ = (CheckConstraint(f"id = {SINGLETON_ID}", name="singleton"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(8))
    subdivision: Mapped[str | None] = mapped_column(String(16))
    categories: Mapped[str] = mapped_column(String(200))  # comma-separated


class HolidayDate(Base):
    """A day added to the holidays (``name`` required) or removed from them."""

    __tablename__ = "holiday_dates"
    __table_args__ = (CheckConstraint("action IN ('add', 'remove')", name="action"),)

    day: Mapped[date] = mapped_column(Date(), primary_key=True)
    action: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200), default="")


class Closure(Base):
    """An exceptional closure (storm, team meeting): closed in [starts_at, ends_at)."""

    __tablename__ = "closures"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text())
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LineOverride(Base):
    """The day/night switch (one row): ``mode`` open/closed, or None for no override."""

    __tablename__ = "line_override"
    __table_args__ = (
        CheckConstraint(f"id = {SINGLETON_ID}", name="singleton"),
        CheckConstraint("mode IS NULL OR mode IN ('open', 'closed')", name="mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str | None] = mapped_column(String(8))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text(), default="")
    set_by: Mapped[str] = mapped_column(String(100), default="")
    set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Destination(Base):
    """A transfer destination of the directory.

    ``report_group`` is the line of the annual report it counts in: 988 counts with
    the suicide-prevention line ("cps") unless the centre separates it.
    """

    __tablename__ = "destinations"
    __table_args__ = (CheckConstraint("kind IN ('emergency', 'partner')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label_fr: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    report_group: Mapped[str] = mapped_column(String(40))
    short_code: Mapped[str] = mapped_column(String(16), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    numbers: Mapped[list[DestinationNumber]] = relationship(
        back_populates="destination", cascade="all, delete-orphan", passive_deletes=True
    )


class DestinationNumber(Base):
    """The full number the trunk dials for a destination in one territory ("*" = any).

    ``verified`` stays False until someone at the centre has checked the number.
    """

    __tablename__ = "destination_numbers"

    destination_id: Mapped[int] = mapped_column(
        ForeignKey("destinations.id", ondelete="CASCADE"), primary_key=True
    )
    territory: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(32))
    verified: Mapped[bool] = mapped_column(default=False)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    destination: Mapped[Destination] = relationship(back_populates="numbers")


class ClosedMenuKey(Base):
    """A key of the closed-hours menu that transfers to a destination."""

    __tablename__ = "closed_menu_keys"

    digit: Mapped[str] = mapped_column(String(1), primary_key=True)
    destination_key: Mapped[str] = mapped_column(
        ForeignKey("destinations.key", ondelete="RESTRICT")
    )


# ---- issue 3: navigators, transfer records, the listener's command table ---------------


class Navigator(Base):
    """A navigator account, tied to one phone endpoint and one queue member.

    ``phone_endpoint`` is the channel name without Asterisk's ``-XXXXXXXX[;N]``
    suffix ("PJSIP/nav-alice"), which is how a transfer record names its navigator.
    """

    __tablename__ = "navigators"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    phone_endpoint: Mapped[str] = mapped_column(String(120), unique=True)
    queue_interface: Mapped[str] = mapped_column(String(120), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    #: Where the Twilio back end calls the navigator: a phone number (E.164) or a SIP
    #: address; none when the navigator takes no call on Twilio.
    twilio_address: Mapped[str | None] = mapped_column(String(120), default=None)


TRANSFER_KINDS = ("attended", "blind", "threeway", "referral")
TRANSFER_OUTCOMES = ("completed", "abandoned", "busy", "not_answered", "failed", "caller_hung_up")
TRANSFER_SOURCES = ("ami", "cel", "action", "twilio")


class TransferRecord(Base):
    """One transfer or referral (``store.facts.TransferFact``), written once.

    ``key`` is the fact's idempotency key: a replay, a reconnect or a CEL
    reconciliation inserts with ON CONFLICT DO NOTHING on it. ``local_date``,
    ``local_hour`` and ``fiscal_year`` are computed at write time in the line's time
    zone, so reports group without time-zone arithmetic in SQL.
    """

    __tablename__ = "transfer_records"
    __table_args__ = (
        CheckConstraint(one_of("kind", TRANSFER_KINDS), name="kind"),
        CheckConstraint(one_of("outcome", TRANSFER_OUTCOMES), name="outcome"),
        CheckConstraint(one_of("source", TRANSFER_SOURCES), name="source"),
        CheckConstraint("local_hour BETWEEN 0 AND 23", name="local_hour"),
        Index(
            "ix_transfer_records_fiscal_year_destination_kind", "fiscal_year", "destination", "kind"
        ),
        Index("ix_transfer_records_navigator_id_local_date", "navigator_id", "local_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    local_date: Mapped[date] = mapped_column(Date(), index=True)
    local_hour: Mapped[int]
    fiscal_year: Mapped[int]
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    navigator_id: Mapped[int | None] = mapped_column(
        ForeignKey("navigators.id", ondelete="SET NULL")
    )
    navigator_channel: Mapped[str] = mapped_column(String(200))
    destination: Mapped[str | None] = mapped_column(String(40))
    target_exten: Mapped[str] = mapped_column(String(80))
    target_context: Mapped[str] = mapped_column(String(80))
    answer_delay_s: Mapped[float | None]
    caller_uniqueid: Mapped[str | None] = mapped_column(String(64))
    caller_number: Mapped[str | None] = mapped_column(
        String(40),
        comment="personal data: for the console and the retention job only, never reports",
    )
    language: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str | None] = mapped_column(String(80))
    interpreter: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


COMMAND_STATUSES = ("pending", "running", "ok", "error", "expired")


class ListenerCommand(Base):
    """A request from the dashboard or the CLI to the listener, the only AMI client.

    A command past ``expires_at`` is never sent: panoramisk re-sends actions queued
    while disconnected, and a stale Atxfer must not fire after a reconnect.
    ``args`` and ``result`` are JSON text.
    """

    __tablename__ = "commands"
    __table_args__ = (
        CheckConstraint(one_of("status", COMMAND_STATUSES), name="status"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        Index("ix_commands_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    args: Mapped[str] = mapped_column(Text())
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[str | None] = mapped_column(Text())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


LISTENER_STATES = ("connecting", "connected", "disconnected", "stopped")


class ListenerStatus(Base):
    """The listener's link to AMI right now (one row), for the dashboard and the CLI.

    ``since`` moves when ``state`` changes; ``heartbeat_at`` at every report, so a
    listener that died without saying so shows as a stale heartbeat.
    """

    __tablename__ = "listener_status"
    __table_args__ = (
        CheckConstraint(f"id = {SINGLETON_ID}", name="singleton"),
        CheckConstraint(one_of("state", LISTENER_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text(), default="")
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
