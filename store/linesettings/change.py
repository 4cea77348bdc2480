"""Changing the line settings: each function runs in the caller's transaction
(``SettingsStore.change()``) and bumps the settings version in it.

Here: the version, the day/night switch, closures, opening hours, holidays, the line's
options (territory, queue, research box and its consent notice, menus). The directory of
destinations is ``directory``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

import holidays
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from ivr import settings as s
from ivr.schedule import holidays_in_year
from ivr.times import require_utc
from store import models as m
from store.linesettings.rules import (
    EXCEPTIONAL_TAG,
    NOT_SEEDED,
    SettingsChangeError,
    SettingsNotFound,
    check_label,
    check_territory,
    override_reason_to_store,
    reaches,
)

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]
_QUEUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_MAILBOX_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}(@[A-Za-z0-9_-]{1,38})?$")
_PHONE_KEY_RE = re.compile(r"^[0-9*#]$")


def bump_version(session: Session, by: str, now: datetime | None = None) -> int:
    """Increment the settings version (atomically in SQL) and return the new number."""
    result = session.execute(
        update(m.SettingsVersion)
        .where(m.SettingsVersion.id == m.SINGLETON_ID)
        .values(
            version=m.SettingsVersion.version + 1,
            changed_at=now or datetime.now(UTC),
            changed_by=by,
        )
        .returning(m.SettingsVersion.version)
    )
    new = result.scalar_one_or_none()
    if new is None:
        raise SettingsNotFound(NOT_SEEDED)
    return new


def options_row(session: Session) -> m.LineOptions:
    options = session.get(m.LineOptions, m.SINGLETON_ID)
    if options is None:
        raise SettingsNotFound(NOT_SEEDED)
    return options


def set_override(
    session: Session,
    mode: s.OverrideMode | None,
    until: datetime | None,
    reason: str,
    by: str,
    *,
    now: datetime | None = None,
    exceptional: bool = False,
) -> int:
    """Force the line open or closed (until ``until``, or until lifted); None lifts it.

    A forced closure is the night switch (callers hear "closed now" and the opening
    hours) unless ``exceptional`` (a storm, an outage: callers hear that the line is
    exceptionally closed).
    """
    now = now or datetime.now(UTC)
    if mode not in (None, "open", "closed"):
        raise SettingsChangeError(
            f"override mode must be open, closed or none, not {mode!r}", "override_mode", mode=mode
        )
    if exceptional and mode != "closed":
        raise SettingsChangeError(
            "only a forced closure can be exceptional", "exceptional_needs_closed"
        )
    if reason.startswith(EXCEPTIONAL_TAG):
        raise SettingsChangeError(
            f"a reason cannot start with {EXCEPTIONAL_TAG}", "reason_tag", tag=EXCEPTIONAL_TAG
        )
    if until is not None:
        until = require_utc(until, "until")
        if mode is None:
            raise SettingsChangeError("an end time needs an override mode", "until_needs_mode")
        if until <= now:
            raise SettingsChangeError(
                f"until {until.isoformat()} is already past", "until_past", until=until
            )
    row = session.get(m.LineOverride, m.SINGLETON_ID)
    if row is None:
        row = m.LineOverride(id=m.SINGLETON_ID)
        session.add(row)
    row.mode = mode
    row.until = until
    row.reason = override_reason_to_store(reason, exceptional) if mode else ""
    row.set_by = by
    row.set_at = now
    session.flush()
    return bump_version(session, by, now)


@dataclass(frozen=True)
class ClosureRecord:
    id: int
    starts: datetime
    ends: datetime
    reason: str
    created_by: str
    created_at: datetime


def add_closure(
    session: Session,
    starts: datetime,
    ends: datetime,
    reason: str,
    by: str,
    *,
    now: datetime | None = None,
) -> int:
    """Add an exceptional closure [starts, ends); returns its id."""
    now = now or datetime.now(UTC)
    starts, ends = require_utc(starts, "start"), require_utc(ends, "end")
    if ends <= starts:
        raise SettingsChangeError("a closure must end after it starts", "closure_order")
    if ends <= now:
        raise SettingsChangeError(
            f"the closure would end in the past ({ends.isoformat()})", "closure_past", ends=ends
        )
    if not reason.strip():
        raise SettingsChangeError("a closure needs a reason", "closure_reason")
    row = m.Closure(
        starts_at=starts, ends_at=ends, reason=reason.strip(), created_by=by, created_at=now
    )
    session.add(row)
    session.flush()
    bump_version(session, by, now)
    return row.id


def remove_closure(session: Session, closure_id: int, by: str) -> None:
    row = session.get(m.Closure, closure_id)
    if row is None:
        raise SettingsChangeError(f"no closure with id {closure_id}", "no_closure")
    session.delete(row)
    session.flush()
    bump_version(session, by)


def list_closures(session: Session, *, ending_after: datetime | None = None) -> list[ClosureRecord]:
    """Closures by start time; only those ending after ``ending_after`` when given."""
    query = select(m.Closure).order_by(m.Closure.starts_at, m.Closure.id)
    if ending_after is not None:
        query = query.where(m.Closure.ends_at > require_utc(ending_after, "ending_after"))
    return [
        ClosureRecord(c.id, c.starts_at, c.ends_at, c.reason, c.created_by, c.created_at)
        for c in session.scalars(query)
    ]


def set_hours(session: Session, day: DayName, hours: s.DayHours | None, by: str) -> int:
    """Set one weekday's hours ("mon".."sun") or the holiday hours; None = closed all day."""
    if day not in (*m.DAY_NAMES, m.HOLIDAY_DAY):
        raise SettingsChangeError(
            f"unknown day {day!r} (mon..sun or holiday)", "unknown_day", day=day
        )
    row = session.get(m.OpeningHours, day)
    if row is None:
        row = m.OpeningHours(day=day)
        session.add(row)
    row.opens = hours.opens if hours else None
    row.closes = hours.closes if hours else None
    session.flush()
    return bump_version(session, by)


# -- holidays --


def holiday_categories(country: str) -> tuple[str, ...]:
    """The categories the ``holidays`` package knows for ``country`` (e.g. optional)."""
    try:
        cls = holidays.country_holidays(country).__class__
    except NotImplementedError:
        raise SettingsChangeError(
            f"unknown holiday country {country!r}", "unknown_country", country=country
        ) from None
    return tuple(sorted(cls.supported_categories))


def holiday_subdivisions(country: str) -> tuple[str, ...]:
    try:
        cls = holidays.country_holidays(country).__class__
    except NotImplementedError:
        raise SettingsChangeError(
            f"unknown holiday country {country!r}", "unknown_country", country=country
        ) from None
    return tuple(cls.subdivisions)


def set_holiday_rules(
    session: Session,
    categories: tuple[str, ...] | list[str],
    subdivision: str | None,
    by: str,
    *,
    country: str | None = None,
) -> int:
    """Choose the ``holidays`` calendar: its categories (Québec's Easter Monday is in
    ``optional``) and subdivision ("QC"; None or "" = the country's national days)."""
    rules = session.get(m.HolidayRule, m.SINGLETON_ID)
    if rules is None:
        raise SettingsNotFound(NOT_SEEDED)
    country = (country or rules.country).strip().upper()
    known = holiday_categories(country)
    chosen = sorted({c.strip() for c in categories if c.strip()})
    if not chosen:
        raise SettingsChangeError("choose at least one holiday category", "no_category")
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise SettingsChangeError(
            f"unknown holiday categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}"
            f" for {country} (known: {', '.join(known)})",
            "unknown_category",
            country=country,
            categories=", ".join(unknown),
        )
    subdivision = (subdivision or "").strip().upper() or None
    if subdivision is not None and subdivision not in holiday_subdivisions(country):
        raise SettingsChangeError(
            f"unknown subdivision {subdivision!r} for {country}"
            f" (known: {', '.join(holiday_subdivisions(country))})",
            "unknown_subdivision",
            country=country,
            subdivision=subdivision,
        )
    rules.country = country
    rules.subdivision = subdivision
    rules.categories = ",".join(chosen)
    session.flush()
    return bump_version(session, by)


def add_holiday_date(session: Session, day: date, name: str, by: str) -> int:
    """Count ``day`` as a holiday (holiday hours), e.g. a day the centre closes each year."""
    name = check_label("a holiday's name", name)
    row = session.get(m.HolidayDate, day)
    if row is None:
        session.add(m.HolidayDate(day=day, action="add", name=name))
    else:
        row.action, row.name = "add", name
    session.flush()
    return bump_version(session, by)


def remove_holiday_date(session: Session, day: date, by: str) -> int:
    """Do not count ``day`` as a holiday even though the calendar does (normal hours)."""
    rules = session.get(m.HolidayRule, m.SINGLETON_ID)
    if rules is None:
        raise SettingsNotFound(NOT_SEEDED)
    calendar = holidays_in_year(
        s.HolidayRules(
            country=rules.country,
            subdivision=rules.subdivision or "",
            categories=tuple(c for c in rules.categories.split(",") if c),
        ),
        day.year,
    )
    if day not in calendar:
        raise SettingsChangeError(
            f"{day.isoformat()} is not a holiday of the calendar: nothing to remove",
            "not_a_holiday",
            day=day,
        )
    row = session.get(m.HolidayDate, day)
    if row is None:
        session.add(m.HolidayDate(day=day, action="remove", name=""))
    else:
        row.action, row.name = "remove", ""
    session.flush()
    return bump_version(session, by)


def forget_holiday_date(session: Session, day: date, by: str) -> int:
    """Undo an added or removed day: the calendar decides again."""
    row = session.get(m.HolidayDate, day)
    if row is None:
        raise SettingsChangeError(
            f"{day.isoformat()} is neither an added nor a removed day",
            "holiday_not_changed",
            day=day,
        )
    session.delete(row)
    session.flush()
    return bump_version(session, by)


def _matching(pattern: re.Pattern[str], value: str, problem: str, refusal: str) -> str:
    """``value`` stripped, refused with ``problem`` (``{!r}`` is the value) and the
    ``refusal`` code unless it matches ``pattern``."""
    value = value.strip()
    if not pattern.match(value):
        raise SettingsChangeError(problem.format(value), refusal, value=value)
    return value


def set_line_options(
    session: Session,
    by: str,
    *,
    territory: str | None = None,
    queue_name: str | None = None,
    research_mailbox: str | None = None,
) -> int:
    """The centre's territory (picks each destination's number), the Asterisk queue of
    the navigators (queues.conf) and the research voicemail box ("mailbox@context")."""
    options = options_row(session)
    if territory is not None:
        territory = check_territory(territory, allow_any=False)
        missing = [
            d.key
            for d in session.scalars(
                select(m.Destination)
                .where(m.Destination.active.is_(True))
                .options(selectinload(m.Destination.numbers))
            )
            if not reaches({n.territory: n for n in d.numbers}, territory)
        ]
        if missing:
            raise SettingsChangeError(
                f"no number for territory {territory!r} for: {', '.join(missing)}",
                "territory_missing_numbers",
                territory=territory,
                destinations=tuple(missing),
            )
        options.territory = territory
    if queue_name is not None:
        options.queue_name = _matching(
            _QUEUE_RE,
            queue_name,
            "queue name {!r} must be letters, digits, '_', '.' or '-' (max 80)",
            "queue_name_format",
        )
    if research_mailbox is not None:
        options.research_mailbox = _matching(
            _MAILBOX_RE,
            research_mailbox,
            "mailbox {!r} must look like 1000@recherche (mailbox@context)",
            "mailbox_format",
        )
    session.flush()
    return bump_version(session, by)


def set_research_consent(
    session: Session,
    text_fr: str | None,
    text_en: str | None,
    retention_days: int | None,
    by: str,
) -> int:
    """The consent notice played before the beep of the research box, and how long its
    messages are kept (the retention job reads the same number). ``None`` (or an empty
    text) goes back to the default; ``{days}`` in a text is replaced by the period."""
    texts = [t.strip() if t else None for t in (text_fr, text_en)]
    try:
        s.ResearchConsent(
            text_fr=texts[0] or s.ResearchConsent().text_fr,
            text_en=texts[1] or s.ResearchConsent().text_en,
            retention_days=(
                s.ResearchConsent().retention_days if retention_days is None else retention_days
            ),
        )
    except ValueError as exc:
        raise SettingsChangeError(f"consent notice: {exc}", "consent_notice") from None
    options = options_row(session)
    options.consent_text_fr, options.consent_text_en = texts
    options.consent_retention_days = retention_days
    session.flush()
    return bump_version(session, by)


def set_menu(session: Session, max_attempts: int, digit_timeout_ms: int, by: str) -> int:
    """How patient the menus are: attempts before the default route, and the wait
    for a key."""
    if not 1 <= max_attempts <= 9:
        raise SettingsChangeError(
            f"menu attempts must be between 1 and 9, not {max_attempts}",
            "menu_attempts",
            value=max_attempts,
        )
    if not 1000 <= digit_timeout_ms <= 30000:
        raise SettingsChangeError(
            f"the wait for a key must be between 1000 and 30000 ms, not {digit_timeout_ms}",
            "digit_timeout",
            seconds=digit_timeout_ms / 1000,
        )
    options = options_row(session)
    options.menu_max_attempts = max_attempts
    options.menu_digit_timeout_ms = digit_timeout_ms
    session.flush()
    return bump_version(session, by)


def set_closed_menu(
    session: Session, transfer_keys: Mapping[str, str], research_key: str, by: str
) -> int:
    """The closed-hours menu: phone key -> active destination key, and the key of the
    research voicemail box (it must not also be a transfer key)."""
    if not _PHONE_KEY_RE.match(research_key):
        raise SettingsChangeError(
            f"research key {research_key!r} is not a phone key (0-9, *, #)",
            "research_key_format",
            key=research_key,
        )
    active = set(session.scalars(select(m.Destination.key).where(m.Destination.active.is_(True))))
    for digit, key in transfer_keys.items():
        if not _PHONE_KEY_RE.match(digit):
            raise SettingsChangeError(
                f"{digit!r} is not a phone key (0-9, *, #)", "phone_key_format", key=digit
            )
        if key not in active:
            raise SettingsChangeError(
                f"key {digit}: no active destination {key!r}",
                "key_destination_inactive",
                key=digit,
                destination=key,
            )
    if research_key in transfer_keys:
        raise SettingsChangeError(
            f"key {research_key} cannot be both the research box and a transfer",
            "key_both",
            key=research_key,
        )
    for row in session.scalars(select(m.ClosedMenuKey)):
        session.delete(row)
    session.flush()
    for digit, key in sorted(transfer_keys.items()):
        session.add(m.ClosedMenuKey(digit=digit, destination_key=key))
    options_row(session).closed_research_key = research_key
    session.flush()
    return bump_version(session, by)
