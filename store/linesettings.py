"""The line settings in the database: seeding, loading, caching, changing.

The database is the reference once seeded; the TOML seed only fills an empty
database. Every change goes through a function here that bumps the settings
version in the same transaction, so a server holding ``CachedSettings`` sees the
change at its next version check, and the AstDB mirror knows when to rewrite.
"""

from __future__ import annotations

import logging
import re
import threading
import time as _time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, selectinload

from ivr import settings as s
from ivr.dialplan import dest_token
from ivr.schedule import holidays_in_year
from store import models as m
from store.db import readonly, session_factory

log = logging.getLogger(__name__)

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]
_HOURS_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_NUMBER_RE = re.compile(r"^\+?\d{3,15}$")
_NUMBER_NOISE = re.compile(r"[\s().-]")
# North American numbers NXX-555-0100 to NXX-555-0199 are reserved for fiction.
_FICTIONAL_RE = re.compile(r"^(?:\+?1)?\d{3}55501\d{2}$")
SEED_FORMAT = 1


class SettingsError(Exception):
    """Line settings cannot be seeded, loaded or changed."""


class SeedError(SettingsError):
    """The seed file is unreadable or invalid; the message names the file and key."""


class SettingsNotFound(SettingsError):
    """The database holds no line settings yet: run ``ivr211 db upgrade``."""


class SettingsChangeError(SettingsError, ValueError):
    """A change was refused (bad value, unknown destination or closure)."""


# ---- the seed file ----------------------------------------------------------------


def normalize_number(number: str) -> str:
    """ "1 866 277-3553" -> "18662773553"; refuse anything a trunk could not dial."""
    cleaned = _NUMBER_NOISE.sub("", number)
    if not _NUMBER_RE.match(cleaned):
        raise ValueError(f"{number!r} is not a dialable number (digits, optional leading +)")
    return cleaned


def is_placeholder_number(number: str) -> bool:
    """``4185550101``: a fictional number (555-0100 to 555-0199, any area code), which a
    seed can only hold as a placeholder for a number still to get."""
    return bool(_FICTIONAL_RE.match(_NUMBER_NOISE.sub("", number)))


def _seed_number(number: str) -> str:
    """A seed number: ``""`` (still to fill in) stays empty, and so does a fictional
    placeholder, so that nothing dials it; anything else must be dialable."""
    if not number.strip():
        return ""
    cleaned = normalize_number(number)
    return "" if is_placeholder_number(cleaned) else cleaned


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SeedLine(_Strict):
    territory: str = Field(min_length=1, max_length=64)
    timezone: str
    queue_name: str = Field(min_length=1, max_length=80)
    research_mailbox: str = Field(min_length=1, max_length=80)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class _SeedMenu(_Strict):
    max_attempts: int = Field(default=3, ge=1, le=9)
    digit_timeout_ms: int = Field(default=5000, ge=1000, le=30000)


class _SeedClosedMenu(_Strict):
    research_key: str = Field(pattern=r"^[0-9*#]$")
    transfer_keys: dict[str, str]

    @field_validator("transfer_keys")
    @classmethod
    def _one_key_each(cls, value: dict[str, str]) -> dict[str, str]:
        for digit in value:
            if not re.fullmatch(r"[0-9*#]", digit):
                raise ValueError(f"{digit!r} is not a phone key (0-9, *, #)")
        return value


def _parse_hours(value: str) -> s.DayHours | None:
    if value == "closed":
        return None
    match = _HOURS_RE.match(value)
    if not match:
        raise ValueError(f'expected "HH:MM-HH:MM" or "closed", got {value!r}')
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    try:
        return s.DayHours(opens=time(h1, m1), closes=time(h2, m2))
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None


class _SeedHours(_Strict):
    mon: str
    tue: str
    wed: str
    thu: str
    fri: str
    sat: str
    sun: str
    holiday: str

    @field_validator("*")
    @classmethod
    def _valid(cls, value: str) -> str:
        _parse_hours(value)
        return value


class _SeedHolidays(_Strict):
    country: str = "CA"
    subdivision: str | None = "QC"
    categories: list[str] = Field(default_factory=lambda: ["public"], min_length=1)
    added: dict[date, str] = Field(default_factory=dict)
    removed: list[date] = Field(default_factory=list)


class _SeedDestination(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    label_fr: str = Field(min_length=1, max_length=200)
    label_en: str = Field(min_length=1, max_length=200)
    kind: s.DestinationKind
    report_group: str = Field(min_length=1, max_length=40)
    short_code: str = Field(pattern=r"^[0-9]{1,16}$")
    active: bool = True
    numbers: dict[str, Annotated[str, AfterValidator(_seed_number)]] = Field(min_length=1)


class _Seed(_Strict):
    format: Literal[1]
    line: _SeedLine
    menu: _SeedMenu = _SeedMenu()
    closed_menu: _SeedClosedMenu
    hours: _SeedHours
    holidays: _SeedHolidays = _SeedHolidays()
    destinations: list[_SeedDestination] = Field(min_length=1)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(text: str) -> str:
    return text.removeprefix("Value error, ")


def read_seed(path: Path) -> _Seed:
    """Parse and validate a seed file; every error names ``path`` and the dotted key."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise SeedError(f"{path}: seed file not found") from None
    except OSError as exc:
        raise SeedError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SeedError(f"{path}: invalid TOML: {exc}") from None
    try:
        seed = _Seed.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{path}: {_dotted(err['loc'])}: "
            + ("unknown key" if err["type"] == "extra_forbidden" else _message(err["msg"]))
            for err in exc.errors(include_url=False)
        ]
        raise SeedError("; ".join(problems)) from None
    _check_seed(path, seed)
    return seed


def _check_seed(path: Path, seed: _Seed) -> None:
    keys: set[str] = set()
    codes: set[str] = set()
    for i, dest in enumerate(seed.destinations):
        if dest.key in keys:
            raise SeedError(f"{path}: destinations[{i}].key: duplicate key {dest.key!r}")
        if dest.short_code in codes:
            raise SeedError(
                f"{path}: destinations[{i}].short_code: duplicate code {dest.short_code!r}"
            )
        keys.add(dest.key)
        codes.add(dest.short_code)
        territory = seed.line.territory
        if dest.active and territory not in dest.numbers and "*" not in dest.numbers:
            raise SeedError(
                f"{path}: destinations[{i}].numbers: no number for territory {territory!r}"
            )
    for digit, key in seed.closed_menu.transfer_keys.items():
        if key not in keys:
            raise SeedError(
                f"{path}: closed_menu.transfer_keys.{digit}: unknown destination {key!r}"
            )
    if seed.closed_menu.research_key in seed.closed_menu.transfer_keys:
        raise SeedError(
            f"{path}: closed_menu.research_key: key {seed.closed_menu.research_key!r} "
            "is also a transfer key"
        )


SEED_AUTHOR = "seed"


def seed_if_empty(session: Session, toml_path: Path, *, by: str = SEED_AUTHOR) -> bool:
    """On first run, write the seed into the database, in the caller's transaction.

    Returns False, without reading the file, when settings already exist: the
    database is the reference from then on. A number the seed leaves empty, or gives as
    a fictional placeholder, is stored empty: a transfer there fails cleanly until an
    administrator fills it in (``numbers_to_fill``).
    """
    if session.get(m.SettingsVersion, m.SINGLETON_ID) is not None:
        return False
    seed = read_seed(toml_path)
    now = datetime.now(UTC)
    session.add(
        m.LineOptions(
            id=m.SINGLETON_ID,
            territory=seed.line.territory,
            timezone=seed.line.timezone,
            queue_name=seed.line.queue_name,
            research_mailbox=seed.line.research_mailbox,
            menu_max_attempts=seed.menu.max_attempts,
            menu_digit_timeout_ms=seed.menu.digit_timeout_ms,
            closed_research_key=seed.closed_menu.research_key,
        )
    )
    for day in (*m.DAY_NAMES, m.HOLIDAY_DAY):
        hours = _parse_hours(getattr(seed.hours, day))
        session.add(
            m.OpeningHours(
                day=day,
                opens=hours.opens if hours else None,
                closes=hours.closes if hours else None,
            )
        )
    rules = seed.holidays
    session.add(
        m.HolidayRule(
            id=m.SINGLETON_ID,
            country=rules.country,
            subdivision=rules.subdivision,
            categories=",".join(rules.categories),
        )
    )
    for day_added, name in rules.added.items():
        session.add(m.HolidayDate(day=day_added, action="add", name=name))
    for day_removed in rules.removed:
        session.add(m.HolidayDate(day=day_removed, action="remove", name=""))
    session.add(m.LineOverride(id=m.SINGLETON_ID, mode=None, reason="", set_by=""))
    for order, dest in enumerate(seed.destinations):
        session.add(
            m.Destination(
                key=dest.key,
                label_fr=dest.label_fr,
                label_en=dest.label_en,
                kind=dest.kind,
                report_group=dest.report_group,
                short_code=dest.short_code,
                active=dest.active,
                sort_order=order * 10,
                numbers=[
                    m.DestinationNumber(
                        territory=territory,
                        number=number,
                        verified=False,
                        updated_by=by,
                        updated_at=now,
                    )
                    for territory, number in dest.numbers.items()
                ],
            )
        )
    session.flush()
    for digit, key in seed.closed_menu.transfer_keys.items():
        session.add(m.ClosedMenuKey(digit=digit, destination_key=key))
    session.add(m.SettingsVersion(id=m.SINGLETON_ID, version=1, changed_at=now, changed_by=by))
    session.flush()
    return True


# ---- loading ---------------------------------------------------------------------


def _day_hours(row: m.OpeningHours | None) -> s.DayHours | None:
    if row is None or row.opens is None or row.closes is None:
        return None
    return s.DayHours(opens=row.opens, closes=row.closes)


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
        raise SettingsNotFound("no line settings in the database: run `ivr211 db upgrade`")
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
        reason, exceptional = _read_override_reason(override_row.reason)
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
                    if not _is_to_fill(n.number, n.verified, n.updated_by)
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

    def invalidate(self) -> None:
        """Force a version check on the next call."""
        with self._lock:
            self._checked_at = float("-inf")


# ---- changes (each bumps the version in the same transaction) ---------------------


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise SettingsChangeError(f"{name} must include a UTC offset or time zone")
    return value.astimezone(UTC)


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
        raise SettingsNotFound("no line settings in the database: run `ivr211 db upgrade`")
    return new


# Whether a forced closure is the night switch or an exceptional closure has no column
# of its own in line_override (mode, until, reason, set_by, set_at): an exceptional one is
# stored with this tag in front of its reason, and only the two functions below read or
# write it. A column (line_override.kind) can replace it later without any change
# outside this module.
EXCEPTIONAL_TAG = "[exceptional]"


def _override_reason_to_store(reason: str, exceptional: bool) -> str:
    return f"{EXCEPTIONAL_TAG} {reason}".rstrip() if exceptional else reason


def _read_override_reason(stored: str) -> tuple[str, bool]:
    """``"[exceptional] panne"`` -> ``("panne", True)``; ``"soir"`` -> ``("soir", False)``."""
    if stored.startswith(EXCEPTIONAL_TAG):
        return stored.removeprefix(EXCEPTIONAL_TAG).strip(), True
    return stored, False


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
        raise SettingsChangeError(f"override mode must be open, closed or none, not {mode!r}")
    if exceptional and mode != "closed":
        raise SettingsChangeError("only a forced closure can be exceptional")
    if reason.startswith(EXCEPTIONAL_TAG):
        raise SettingsChangeError(f"a reason cannot start with {EXCEPTIONAL_TAG}")
    if until is not None:
        until = _aware("until", until)
        if mode is None:
            raise SettingsChangeError("an end time needs an override mode")
        if until <= now:
            raise SettingsChangeError(f"until {until.isoformat()} is already past")
    row = session.get(m.LineOverride, m.SINGLETON_ID)
    if row is None:
        row = m.LineOverride(id=m.SINGLETON_ID)
        session.add(row)
    row.mode = mode
    row.until = until
    row.reason = _override_reason_to_store(reason, exceptional) if mode else ""
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
    starts, ends = _aware("start", starts), _aware("end", ends)
    if ends <= starts:
        raise SettingsChangeError("a closure must end after it starts")
    if ends <= now:
        raise SettingsChangeError(f"the closure would end in the past ({ends.isoformat()})")
    if not reason.strip():
        raise SettingsChangeError("a closure needs a reason")
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
        raise SettingsChangeError(f"no closure with id {closure_id}")
    session.delete(row)
    session.flush()
    bump_version(session, by)


def list_closures(session: Session, *, ending_after: datetime | None = None) -> list[ClosureRecord]:
    """Closures by start time; only those ending after ``ending_after`` when given."""
    query = select(m.Closure).order_by(m.Closure.starts_at, m.Closure.id)
    if ending_after is not None:
        query = query.where(m.Closure.ends_at > _aware("ending_after", ending_after))
    return [
        ClosureRecord(c.id, c.starts_at, c.ends_at, c.reason, c.created_by, c.created_at)
        for c in session.scalars(query)
    ]


def set_hours(session: Session, day: DayName, hours: s.DayHours | None, by: str) -> int:
    """Set one weekday's hours ("mon".."sun") or the holiday hours; None = closed all day."""
    if day not in (*m.DAY_NAMES, m.HOLIDAY_DAY):
        raise SettingsChangeError(f"unknown day {day!r} (mon..sun or holiday)")
    row = session.get(m.OpeningHours, day)
    if row is None:
        row = m.OpeningHours(day=day)
        session.add(row)
    row.opens = hours.opens if hours else None
    row.closes = hours.closes if hours else None
    session.flush()
    return bump_version(session, by)


def set_destination_number(
    session: Session,
    key: str,
    territory: str,
    number: str,
    by: str,
    *,
    verified: bool = True,
) -> int:
    """Set the number a destination is dialled at in one territory ("*" = any)."""
    territory = _check_territory(territory, allow_any=True)
    try:
        number = normalize_number(number)
    except ValueError as exc:
        raise SettingsChangeError(str(exc)) from None
    dest = session.scalar(select(m.Destination).where(m.Destination.key == key))
    if dest is None:
        raise SettingsChangeError(f"no destination with key {key!r}")
    row = session.get(m.DestinationNumber, (dest.id, territory))
    if row is None:
        row = m.DestinationNumber(destination_id=dest.id, territory=territory)
        session.add(row)
    row.number = number
    row.verified = verified
    row.updated_by = by
    row.updated_at = datetime.now(UTC)
    session.flush()
    return bump_version(session, by)


def _is_to_fill(number: str, verified: bool, updated_by: str) -> bool:
    """Still to fill in, never dialled: an empty number, or a fictional placeholder that
    an older seed wrote (418 555-0101...) and nobody has touched since. A fictional number
    an administrator entered (a lab's test line) is theirs: it dials."""
    if not number:
        return True
    return updated_by == SEED_AUTHOR and not verified and is_placeholder_number(number)


def unverified_numbers(session: Session) -> list[tuple[str, str, str]]:
    """(destination key, territory, number) of every number that dials but that nobody
    has checked yet (the numbers still to fill in are ``numbers_to_fill``)."""
    rows = session.execute(
        select(
            m.Destination.key,
            m.DestinationNumber.territory,
            m.DestinationNumber.number,
            m.DestinationNumber.verified,
            m.DestinationNumber.updated_by,
        )
        .join(m.DestinationNumber)
        .where(m.DestinationNumber.verified.is_(False), m.Destination.active.is_(True))
        .order_by(m.Destination.sort_order, m.DestinationNumber.territory)
    )
    return [(k, t, n) for k, t, n, ok, by in rows if not _is_to_fill(n, ok, by)]


def numbers_to_fill(session: Session) -> list[tuple[str, str, str]]:
    """(destination key, territory, number) of every number still to fill in for an
    active destination, never dialled (a transfer there fails cleanly): empty, or a
    fictional placeholder (555-01xx) an older seed wrote, given as the number."""
    rows = session.execute(
        select(
            m.Destination.key,
            m.DestinationNumber.territory,
            m.DestinationNumber.number,
            m.DestinationNumber.verified,
            m.DestinationNumber.updated_by,
        )
        .join(m.DestinationNumber)
        .where(m.Destination.active.is_(True))
        .order_by(m.Destination.sort_order, m.DestinationNumber.territory)
    )
    return [(k, t, n) for k, t, n, ok, by in rows if _is_to_fill(n, ok, by)]


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


# ---- changes for the admin pages ----------------------------------------------------

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_SHORT_CODE_RE = re.compile(r"^[0-9]{1,16}$")
_TERRITORY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_GROUP_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_MAILBOX_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}(@[A-Za-z0-9_-]{1,38})?$")
_PHONE_KEY_RE = re.compile(r"^[0-9*#]$")
ANY_TERRITORY = "*"


def _check_territory(territory: str, *, allow_any: bool) -> str:
    territory = territory.strip()
    if allow_any and territory == ANY_TERRITORY:
        return territory
    if not _TERRITORY_RE.match(territory):
        raise SettingsChangeError(
            f"territory {territory!r} must be lower-case letters, digits and dashes"
            + (' (or "*" for any territory)' if allow_any else "")
        )
    return territory


def _label(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise SettingsChangeError(f"{name} must not be empty")
    if len(value) > 200:
        raise SettingsChangeError(f"{name} is longer than 200 characters")
    return value


def _options(session: Session) -> m.LineOptions:
    options = session.get(m.LineOptions, m.SINGLETON_ID)
    if options is None:
        raise SettingsNotFound("no line settings in the database: run `ivr211 db upgrade`")
    return options


def _destination(session: Session, key: str) -> m.Destination:
    dest = session.scalar(
        select(m.Destination)
        .where(m.Destination.key == key)
        .options(selectinload(m.Destination.numbers))
    )
    if dest is None:
        raise SettingsChangeError(f"no destination with key {key!r}")
    return dest


def _reaches(numbers: Mapping[str, object], territory: str) -> bool:
    return territory in numbers or ANY_TERRITORY in numbers


# -- holidays --


def holiday_categories(country: str) -> tuple[str, ...]:
    """The categories the ``holidays`` package knows for ``country`` (e.g. optional)."""
    try:
        cls = holidays.country_holidays(country).__class__
    except NotImplementedError:
        raise SettingsChangeError(f"unknown holiday country {country!r}") from None
    return tuple(sorted(cls.supported_categories))


def holiday_subdivisions(country: str) -> tuple[str, ...]:
    try:
        cls = holidays.country_holidays(country).__class__
    except NotImplementedError:
        raise SettingsChangeError(f"unknown holiday country {country!r}") from None
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
        raise SettingsNotFound("no line settings in the database: run `ivr211 db upgrade`")
    country = (country or rules.country).strip().upper()
    known = holiday_categories(country)
    chosen = sorted({c.strip() for c in categories if c.strip()})
    if not chosen:
        raise SettingsChangeError("choose at least one holiday category")
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise SettingsChangeError(
            f"unknown holiday categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}"
            f" for {country} (known: {', '.join(known)})"
        )
    subdivision = (subdivision or "").strip().upper() or None
    if subdivision is not None and subdivision not in holiday_subdivisions(country):
        raise SettingsChangeError(
            f"unknown subdivision {subdivision!r} for {country}"
            f" (known: {', '.join(holiday_subdivisions(country))})"
        )
    rules.country = country
    rules.subdivision = subdivision
    rules.categories = ",".join(chosen)
    session.flush()
    return bump_version(session, by)


def add_holiday_date(session: Session, day: date, name: str, by: str) -> int:
    """Count ``day`` as a holiday (holiday hours), e.g. a day the centre closes each year."""
    name = _label("a holiday's name", name)
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
        raise SettingsNotFound("no line settings in the database: run `ivr211 db upgrade`")
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
            f"{day.isoformat()} is not a holiday of the calendar: nothing to remove"
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
        raise SettingsChangeError(f"{day.isoformat()} is neither an added nor a removed day")
    session.delete(row)
    session.flush()
    return bump_version(session, by)


# -- destinations --


@dataclass(frozen=True)
class NumberRecord:
    territory: str
    number: str
    verified: bool
    updated_by: str
    updated_at: datetime | None

    @property
    def to_fill(self) -> bool:
        """Still to fill in (never dialled): empty, or an older seed's placeholder."""
        return _is_to_fill(self.number, self.verified, self.updated_by)


@dataclass(frozen=True)
class DestinationRecord:
    """A destination as the admin pages show it, active or not, with every number."""

    key: str
    label_fr: str
    label_en: str
    kind: str
    report_group: str
    short_code: str
    active: bool
    sort_order: int
    numbers: tuple[NumberRecord, ...]

    def number_for(self, territory: str) -> NumberRecord | None:
        by_territory = {n.territory: n for n in self.numbers}
        return by_territory.get(territory) or by_territory.get(ANY_TERRITORY)


def list_destinations(session: Session) -> list[DestinationRecord]:
    rows = session.scalars(
        select(m.Destination)
        .order_by(m.Destination.sort_order, m.Destination.key)
        .options(selectinload(m.Destination.numbers))
    )
    return [
        DestinationRecord(
            d.key,
            d.label_fr,
            d.label_en,
            d.kind,
            d.report_group,
            d.short_code,
            d.active,
            d.sort_order,
            tuple(
                NumberRecord(n.territory, n.number, n.verified, n.updated_by, n.updated_at)
                for n in sorted(d.numbers, key=lambda n: n.territory)
            ),
        )
        for d in rows
    ]


def _check_kind(kind: str) -> str:
    if kind not in ("emergency", "partner"):
        raise SettingsChangeError(f"kind must be emergency or partner, not {kind!r}")
    return kind


def _check_group(group: str) -> str:
    group = group.strip()
    if not _GROUP_RE.match(group):
        raise SettingsChangeError(
            f"report group {group!r} must be lower-case letters, digits and dashes (max 40)"
        )
    return group


def _check_short_code(session: Session, code: str, key: str) -> str:
    code = code.strip()
    if not _SHORT_CODE_RE.match(code):
        raise SettingsChangeError(f"short code {code!r} must be 1 to 16 digits")
    other = session.scalar(
        select(m.Destination.key).where(m.Destination.short_code == code, m.Destination.key != key)
    )
    if other is not None:
        raise SettingsChangeError(f"short code {code} is already used by destination {other!r}")
    return code


def add_destination(
    session: Session,
    key: str,
    label_fr: str,
    label_en: str,
    kind: str,
    report_group: str,
    short_code: str,
    numbers: Mapping[str, str],
    by: str,
    *,
    active: bool = True,
) -> int:
    """Add a destination to the directory, with its numbers (territory -> number).

    An active destination needs a number for the line's territory (or "*"). The
    navigators reach it by its short code only once the dialplan's
    ``[navigator-transfers]`` has an extension for that code (see
    ``dialplan_transfer_codes``); the number itself reaches Asterisk through AstDB.
    """
    key = key.strip()
    if not _KEY_RE.match(key):
        raise SettingsChangeError(
            f"key {key!r} must start with a lower-case letter or digit, then letters,"
            " digits or dashes (max 40)"
        )
    if session.scalar(select(m.Destination.id).where(m.Destination.key == key)) is not None:
        raise SettingsChangeError(f"destination {key!r} already exists")
    label_fr, label_en = _label("French label", label_fr), _label("English label", label_en)
    kind, report_group = _check_kind(kind), _check_group(report_group)
    short_code = _check_short_code(session, short_code, key)
    clean: dict[str, str] = {}
    for territory, number in numbers.items():
        try:
            clean[_check_territory(territory, allow_any=True)] = normalize_number(number)
        except ValueError as exc:
            raise SettingsChangeError(str(exc)) from None
    territory_here = _options(session).territory
    if active and not _reaches(clean, territory_here):
        raise SettingsChangeError(
            f"an active destination needs a number for the territory {territory_here!r}"
        )
    last = session.scalar(
        select(m.Destination.sort_order).order_by(m.Destination.sort_order.desc())
    )
    now = datetime.now(UTC)
    session.add(
        m.Destination(
            key=key,
            label_fr=label_fr,
            label_en=label_en,
            kind=kind,
            report_group=report_group,
            short_code=short_code,
            active=active,
            sort_order=(last or 0) + 10,
            numbers=[
                m.DestinationNumber(
                    territory=t, number=n, verified=False, updated_by=by, updated_at=now
                )
                for t, n in clean.items()
            ],
        )
    )
    session.flush()
    return bump_version(session, by)


def update_destination(
    session: Session,
    key: str,
    by: str,
    *,
    label_fr: str | None = None,
    label_en: str | None = None,
    kind: str | None = None,
    report_group: str | None = None,
    short_code: str | None = None,
    active: bool | None = None,
) -> int:
    """Change what is given (None = unchanged). The key never changes: transfer
    records and reports name destinations by it."""
    dest = _destination(session, key)
    if label_fr is not None:
        dest.label_fr = _label("French label", label_fr)
    if label_en is not None:
        dest.label_en = _label("English label", label_en)
    if kind is not None:
        dest.kind = _check_kind(kind)
    if report_group is not None:
        dest.report_group = _check_group(report_group)
    if short_code is not None:
        dest.short_code = _check_short_code(session, short_code, key)
    if active is not None and active != dest.active:
        if not active:
            digits = list(
                session.scalars(
                    select(m.ClosedMenuKey.digit).where(m.ClosedMenuKey.destination_key == key)
                )
            )
            if digits:
                raise SettingsChangeError(
                    f"destination {key!r} is key {', '.join(digits)} of the closed-hours menu:"
                    " change the menu first"
                )
        else:
            territory = _options(session).territory
            if not _reaches({n.territory: n for n in dest.numbers}, territory):
                raise SettingsChangeError(
                    f"destination {key!r} has no number for the territory {territory!r}:"
                    " add one first"
                )
        dest.active = active
    session.flush()
    return bump_version(session, by)


def remove_destination_number(session: Session, key: str, territory: str, by: str) -> int:
    """Remove the number of one territory; refused if the line would lose the destination."""
    dest = _destination(session, key)
    row = next((n for n in dest.numbers if n.territory == territory), None)
    if row is None:
        raise SettingsChangeError(f"destination {key!r} has no number for {territory!r}")
    here = _options(session).territory
    left = {n.territory: n for n in dest.numbers if n is not row}
    if dest.active and not _reaches(left, here):
        raise SettingsChangeError(
            f"destination {key!r} would have no number for the line's territory {here!r}:"
            " set another number or deactivate it first"
        )
    dest.numbers.remove(row)
    session.flush()
    return bump_version(session, by)


# -- line options --


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
    options = _options(session)
    if territory is not None:
        territory = _check_territory(territory, allow_any=False)
        missing = [
            d.key
            for d in session.scalars(
                select(m.Destination)
                .where(m.Destination.active.is_(True))
                .options(selectinload(m.Destination.numbers))
            )
            if not _reaches({n.territory: n for n in d.numbers}, territory)
        ]
        if missing:
            raise SettingsChangeError(
                f"no number for territory {territory!r} for: {', '.join(missing)}"
            )
        options.territory = territory
    if queue_name is not None:
        queue_name = queue_name.strip()
        if not _QUEUE_RE.match(queue_name):
            raise SettingsChangeError(
                f"queue name {queue_name!r} must be letters, digits, '_', '.' or '-' (max 80)"
            )
        options.queue_name = queue_name
    if research_mailbox is not None:
        research_mailbox = research_mailbox.strip()
        if not _MAILBOX_RE.match(research_mailbox):
            raise SettingsChangeError(
                f"mailbox {research_mailbox!r} must look like 1000@recherche (mailbox@context)"
            )
        options.research_mailbox = research_mailbox
    session.flush()
    return bump_version(session, by)


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
        raise SettingsChangeError(f"consent notice: {exc}") from None
    options = _options(session)
    options.consent_text_fr, options.consent_text_en = texts
    options.consent_retention_days = retention_days
    session.flush()
    return bump_version(session, by)


def set_menu(session: Session, max_attempts: int, digit_timeout_ms: int, by: str) -> int:
    """How patient the menus are: attempts before the default route, and the wait
    for a key."""
    if not 1 <= max_attempts <= 9:
        raise SettingsChangeError(f"menu attempts must be between 1 and 9, not {max_attempts}")
    if not 1000 <= digit_timeout_ms <= 30000:
        raise SettingsChangeError(
            f"the wait for a key must be between 1000 and 30000 ms, not {digit_timeout_ms}"
        )
    options = _options(session)
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
        raise SettingsChangeError(f"research key {research_key!r} is not a phone key (0-9, *, #)")
    active = set(session.scalars(select(m.Destination.key).where(m.Destination.active.is_(True))))
    for digit, key in transfer_keys.items():
        if not _PHONE_KEY_RE.match(digit):
            raise SettingsChangeError(f"{digit!r} is not a phone key (0-9, *, #)")
        if key not in active:
            raise SettingsChangeError(f"key {digit}: no active destination {key!r}")
    if research_key in transfer_keys:
        raise SettingsChangeError(
            f"key {research_key} cannot be both the research box and a transfer"
        )
    for row in session.scalars(select(m.ClosedMenuKey)):
        session.delete(row)
    session.flush()
    for digit, key in sorted(transfer_keys.items()):
        session.add(m.ClosedMenuKey(digit=digit, destination_key=key))
    _options(session).closed_research_key = research_key
    session.flush()
    return bump_version(session, by)


# -- the dialplan's side of the short codes --

_EXTEN_RE = re.compile(
    r"^\s*exten\s*=>?\s*([0-9]+)\s*,\s*1\s*,\s*Gosub\(\s*ivr211-dial-code\s*,\s*s\s*,\s*1\(\s*"
    r"([A-Z0-9_]+)\s*\)\s*\)",
    re.IGNORECASE,
)


def dialplan_transfer_codes(extensions_conf: str) -> dict[str, str]:
    """Short code -> destination token (``dest_token``) of ``[navigator-transfers]``.

    The dialplan, not the database, decides which codes a navigator can dial: a new
    destination needs its extension there (``exten => 204,1,Gosub(ivr211-dial-code,
    s,1(NEW_KEY))``) and a dialplan reload; its number then comes from AstDB.
    """
    codes: dict[str, str] = {}
    section = None
    for line in extensions_conf.splitlines():
        stripped = line.split(";", 1)[0].strip()
        header = re.match(r"^\[([^\]]+)\]", stripped)
        if header:
            section = header.group(1)
            continue
        if section == "navigator-transfers":
            match = _EXTEN_RE.match(stripped)
            if match:
                codes[match.group(1)] = match.group(2).upper()
    return codes


def dialplan_mismatches(
    destinations: list[DestinationRecord], codes: Mapping[str, str]
) -> dict[str, str]:
    """Destination key -> what is wrong between its short code and the dialplan."""
    problems: dict[str, str] = {}
    for dest in destinations:
        if not dest.active:
            continue
        token = codes.get(dest.short_code)
        if token is None:
            problems[dest.key] = f"no extension {dest.short_code} in [navigator-transfers]"
        elif token != dest_token(dest.key):
            problems[dest.key] = (
                f"extension {dest.short_code} of [navigator-transfers] dials {token},"
                f" not {dest_token(dest.key)}"
            )
    return problems
