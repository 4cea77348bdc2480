"""Reading the line settings: the immutable ``LineSettings`` built from the rows, the
store of one database, and the cache the FastAGI server and the listener ask on each call.

Every change bumps the settings version in its transaction (``change.bump_version``), so
``CachedSettings`` sees it at its next version check.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from ivr import settings as s
from store import models as m
from store.db import readonly, session_factory
from store.linesettings.rules import (
    NOT_SEEDED,
    SettingsNotFound,
    is_to_fill,
    read_override_reason,
)

log = logging.getLogger("store.linesettings")

#: The zone of the packaged seed (store/defaults/line-settings.toml).
UNSEEDED_TIMEZONE = "America/Toronto"


def _day_hours(row: m.OpeningHours | None) -> s.DayHours | None:
    if row is None or row.opens is None or row.closes is None:
        return None
    return s.DayHours(opens=row.opens, closes=row.closes)


def settings_version(session: Session) -> m.SettingsVersion | None:
    """The settings' version row (number, when and by whom it last changed), or None
    before the database is seeded."""
    return session.get(m.SettingsVersion, m.SINGLETON_ID)


def load_settings(session: Session, now: datetime | None = None) -> s.LineSettings:
    """Build the immutable ``LineSettings`` from the rows, as of ``now``.

    Closures already over and an expired override are left out: the call flow
    only needs what still matters.
    """
    now = now or datetime.now(UTC)
    version = session.get(m.SettingsVersion, m.SINGLETON_ID)
    options = session.get(m.LineOptions, m.SINGLETON_ID)
    rules = session.get(m.HolidayRule, m.SINGLETON_ID)
    if version is None or options is None or rules is None:
        raise SettingsNotFound(NOT_SEEDED)
    hours = {row.day: row for row in session.scalars(select(m.OpeningHours))}
    extra_days = list(session.scalars(select(m.HolidayDate)))
    closures = session.scalars(
        select(m.Closure).where(m.Closure.ends_at > now).order_by(m.Closure.starts_at)
    )
    override_row = session.get(m.LineOverride, m.SINGLETON_ID)
    override = None
    if (
        override_row is not None
        and override_row.mode in ("open", "closed")
        and (override_row.until is None or override_row.until > now)
    ):
        mode: s.OverrideMode = "open" if override_row.mode == "open" else "closed"
        reason, exceptional = read_override_reason(override_row.reason)
        override = s.Override(
            mode=mode,
            until=override_row.until,
            reason=reason,
            set_by=override_row.set_by,
            exceptional=exceptional and mode == "closed",
        )
    schedule = s.Schedule(
        timezone=options.timezone,
        weekly=s.WeeklyHours(
            days={i: _day_hours(hours.get(day)) for i, day in enumerate(m.DAY_NAMES)},
            holiday=_day_hours(hours.get(m.HOLIDAY_DAY)),
        ),
        holidays=s.HolidayRules(
            country=rules.country,
            subdivision=rules.subdivision or "",
            categories=tuple(c for c in rules.categories.split(",") if c),
            added={d.day: d.name for d in extra_days if d.action == "add"},
            removed=frozenset(d.day for d in extra_days if d.action == "remove"),
        ),
        closures=tuple(
            s.Closure(starts=c.starts_at, ends=c.ends_at, reason=c.reason) for c in closures
        ),
        override=override,
    )
    destinations = session.scalars(
        select(m.Destination)
        .where(m.Destination.active.is_(True))
        .order_by(m.Destination.sort_order, m.Destination.key)
        .options(selectinload(m.Destination.numbers))
    )
    return s.LineSettings(
        schedule=schedule,
        destinations=tuple(
            s.Destination(
                key=d.key,
                label_fr=d.label_fr,
                label_en=d.label_en,
                kind="partner" if d.kind == "partner" else "emergency",
                short_code=d.short_code,
                numbers={
                    n.territory: n.number
                    for n in d.numbers
                    if not is_to_fill(n.number, n.verified, n.updated_by)
                },
            )
            for d in destinations
        ),
        territory=options.territory,
        menu=s.MenuSettings(
            max_attempts=options.menu_max_attempts,
            digit_timeout_ms=options.menu_digit_timeout_ms,
        ),
        queue_name=options.queue_name,
        research_mailbox=options.research_mailbox,
        research_consent=_consent(options),
        closed_transfer_keys={
            k.digit: k.destination_key
            for k in session.scalars(select(m.ClosedMenuKey).order_by(m.ClosedMenuKey.digit))
        },
        closed_research_key=options.closed_research_key,
        version=version.version,
    )


def _consent(options: m.LineOptions) -> s.ResearchConsent:
    default = s.ResearchConsent()
    return s.ResearchConsent(
        text_fr=options.consent_text_fr or default.text_fr,
        text_en=options.consent_text_en or default.text_en,
        retention_days=(
            default.retention_days
            if options.consent_retention_days is None
            else options.consent_retention_days
        ),
    )


def line_zone(session: Session) -> ZoneInfo:
    """The line's time zone (``LineSettings.zone``), for what is dated in it: transfer
    records, report exports. Before the line is seeded, ``UNSEEDED_TIMEZONE``: a record is
    never refused for want of settings. One query (the listener's writer asks it for
    every transaction), seeded meaning what ``load_settings`` requires."""
    seeded = (
        select(m.LineOptions.timezone)
        .where(m.LineOptions.id == m.SINGLETON_ID)
        .where(select(m.SettingsVersion.id).where(m.SettingsVersion.id == m.SINGLETON_ID).exists())
        .where(select(m.HolidayRule.id).where(m.HolidayRule.id == m.SINGLETON_ID).exists())
    )
    timezone = session.scalar(seeded)
    return ZoneInfo(UNSEEDED_TIMEZONE if timezone is None else timezone)


class SettingsStore:
    """Reads and changes the line settings of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._reads = session_factory(readonly(engine))

    def load(self, now: datetime | None = None) -> s.LineSettings:
        """The effective settings, read in one short transaction (one snapshot)."""
        with self._reads.begin() as session:
            return load_settings(session, now)

    def version(self) -> int | None:
        """The settings version: one indexed single-row read, cheap enough per call."""
        with self._reads.begin() as session:
            return session.scalar(
                select(m.SettingsVersion.version).where(m.SettingsVersion.id == m.SINGLETON_ID)
            )

    @contextmanager
    def change(self) -> Iterator[Session]:
        """A write transaction for the change functions below (commit on success)."""
        with self._sessions.begin() as session:
            yield session


class CachedSettings:
    """A thread-safe ``settings_source`` for the FastAGI server.

    Within ``ttl_s`` it answers from memory; after that it reads the version
    number and reloads only when it moved. If the database cannot be read and a
    value is cached, the cached value is kept (the line goes on answering calls
    with the last known settings) and the failure is logged.
    """

    def __init__(
        self,
        store: SettingsStore,
        ttl_s: float = 5.0,
        *,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: s.LineSettings | None = None
        self._checked_at = 0.0

    def __call__(self) -> s.LineSettings:
        with self._lock:
            now = self._clock()
            if self._value is not None and now - self._checked_at < self._ttl_s:
                return self._value
            try:
                if self._value is None or self._store.version() != self._value.version:
                    self._value = self._store.load()
            except Exception:
                if self._value is None:
                    raise
                log.exception(
                    "line settings reload failed; keeping version %d", self._value.version
                )
            self._checked_at = now
            return self._value

    def fresh(self) -> s.LineSettings | None:
        """The cached value while it is within ``ttl_s``, else None (then call this
        source, which checks the version): never waits on the lock or the database, so
        the FastAGI server reads it on its event loop (``agi_scripts.runner``)."""
        value = self._value
        if value is not None and self._clock() - self._checked_at < self._ttl_s:
            return value
        return None

    def invalidate(self) -> None:
        """Force a version check on the next call."""
        with self._lock:
            self._checked_at = float("-inf")


def describe(settings: s.LineSettings) -> Mapping[str, Any]:
    """A plain, JSON-friendly view of the settings (``ivr211 settings show``)."""
    sched = settings.schedule

    def fmt(hours: s.DayHours | None) -> str:
        return f"{hours.opens:%H:%M}-{hours.closes:%H:%M}" if hours else "closed"

    return {
        "version": settings.version,
        "territory": settings.territory,
        "timezone": sched.timezone,
        "hours": {
            **{day: fmt(sched.weekly.for_weekday(i)) for i, day in enumerate(m.DAY_NAMES)},
            "holiday": fmt(sched.weekly.holiday),
        },
        "holidays": {
            "country": sched.holidays.country,
            "subdivision": sched.holidays.subdivision,
            "categories": list(sched.holidays.categories),
            "added": {d.isoformat(): n for d, n in sorted(sched.holidays.added.items())},
            "removed": sorted(d.isoformat() for d in sched.holidays.removed),
        },
        "override": None
        if sched.override is None
        else {
            "mode": sched.override.mode,
            "until": sched.override.until.isoformat() if sched.override.until else None,
            "reason": sched.override.reason,
            "exceptional": sched.override.exceptional,
            "set_by": sched.override.set_by,
        },
        "closures": [
            {"starts": c.starts.isoformat(), "ends": c.ends.isoformat(), "reason": c.reason}
            for c in sched.closures
        ],
        "menu": {
            "max_attempts": settings.menu.max_attempts,
            "digit_timeout_ms": settings.menu.digit_timeout_ms,
        },
        "queue_name": settings.queue_name,
        "research_mailbox": settings.research_mailbox,
        "closed_menu": {
            "transfer_keys": dict(settings.closed_transfer_keys),
            "research_key": settings.closed_research_key,
        },
        "destinations": [
            {
                "key": d.key,
                "label_fr": d.label_fr,
                "label_en": d.label_en,
                "kind": d.kind,
                "short_code": d.short_code,
                "numbers": dict(d.numbers),
                "number_here": d.number_for(settings.territory),
            }
            for d in settings.destinations
        ],
    }
