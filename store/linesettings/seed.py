"""The seed file: its schema, reading it, and writing it into an empty database.

The database is the reference once seeded; the TOML seed only fills an empty database
(``ivr211 db upgrade``, on first run).
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.orm import Session

from ivr import settings as s
from ivr.times import known_zone
from store import models as m
from store.linesettings.rules import (
    SEED_AUTHOR,
    SeedError,
    is_placeholder_number,
    normalize_number,
)

_HOURS_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
SEED_FORMAT = 1


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

    _zone = field_validator("timezone")(known_zone)


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
