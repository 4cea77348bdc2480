"""The directory of transfer destinations: records as the admin pages show them, adding
and changing destinations and their numbers, and the numbers still to check or fill in.

Each change bumps the settings version in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from store import models as m
from store.linesettings.change import bump_version, options_row
from store.linesettings.rules import (
    ANY_TERRITORY,
    SettingsChangeError,
    check_label,
    check_territory,
    is_to_fill,
    normalize_number,
    reaches,
)

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_SHORT_CODE_RE = re.compile(r"^[0-9]{1,16}$")
_GROUP_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def _destination(session: Session, key: str) -> m.Destination:
    dest = session.scalar(
        select(m.Destination)
        .where(m.Destination.key == key)
        .options(selectinload(m.Destination.numbers))
    )
    if dest is None:
        raise SettingsChangeError(
            f"no destination with key {key!r}", "no_destination", destination=key
        )
    return dest


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
        return is_to_fill(self.number, self.verified, self.updated_by)


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
        raise SettingsChangeError(
            f"kind must be emergency or partner, not {kind!r}", "destination_kind", kind=kind
        )
    return kind


def _check_group(group: str) -> str:
    group = group.strip()
    if not _GROUP_RE.match(group):
        raise SettingsChangeError(
            f"report group {group!r} must be lower-case letters, digits and dashes (max 40)",
            "report_group_format",
            group=group,
        )
    return group


def _check_short_code(session: Session, code: str, key: str) -> str:
    code = code.strip()
    if not _SHORT_CODE_RE.match(code):
        raise SettingsChangeError(
            f"short code {code!r} must be 1 to 16 digits", "short_code_format", code=code
        )
    other = session.scalar(
        select(m.Destination.key).where(m.Destination.short_code == code, m.Destination.key != key)
    )
    if other is not None:
        raise SettingsChangeError(
            f"short code {code} is already used by destination {other!r}",
            "short_code_taken",
            code=code,
            destination=other,
        )
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
            " digits or dashes (max 40)",
            "destination_key_format",
            key=key,
        )
    if session.scalar(select(m.Destination.id).where(m.Destination.key == key)) is not None:
        raise SettingsChangeError(
            f"destination {key!r} already exists", "destination_exists", key=key
        )
    label_fr, label_en = (
        check_label("French label", label_fr),
        check_label("English label", label_en),
    )
    kind, report_group = _check_kind(kind), _check_group(report_group)
    short_code = _check_short_code(session, short_code, key)
    clean: dict[str, str] = {}
    for territory, number in numbers.items():
        clean[check_territory(territory, allow_any=True)] = normalize_number(number)
    territory_here = options_row(session).territory
    if active and not reaches(clean, territory_here):
        raise SettingsChangeError(
            f"an active destination needs a number for the territory {territory_here!r}",
            "active_needs_number",
            territory=territory_here,
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
        dest.label_fr = check_label("French label", label_fr)
    if label_en is not None:
        dest.label_en = check_label("English label", label_en)
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
                    " change the menu first",
                    "destination_in_menu",
                    destination=key,
                    keys=", ".join(digits),
                )
        else:
            territory = options_row(session).territory
            if not reaches({n.territory: n for n in dest.numbers}, territory):
                raise SettingsChangeError(
                    f"destination {key!r} has no number for the territory {territory!r}:"
                    " add one first",
                    "no_number_for_territory",
                    destination=key,
                    territory=territory,
                )
        dest.active = active
    session.flush()
    return bump_version(session, by)


def remove_destination_number(session: Session, key: str, territory: str, by: str) -> int:
    """Remove the number of one territory; refused if the line would lose the destination."""
    dest = _destination(session, key)
    row = next((n for n in dest.numbers if n.territory == territory), None)
    if row is None:
        raise SettingsChangeError(
            f"destination {key!r} has no number for {territory!r}",
            "no_number_to_remove",
            destination=key,
            territory=territory,
        )
    here = options_row(session).territory
    left = {n.territory: n for n in dest.numbers if n is not row}
    if dest.active and not reaches(left, here):
        raise SettingsChangeError(
            f"destination {key!r} would have no number for the line's territory {here!r}:"
            " set another number or deactivate it first",
            "last_number",
            destination=key,
            territory=here,
        )
    dest.numbers.remove(row)
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
    territory = check_territory(territory, allow_any=True)
    number = normalize_number(number)
    dest = session.scalar(select(m.Destination).where(m.Destination.key == key))
    if dest is None:
        raise SettingsChangeError(
            f"no destination with key {key!r}", "no_destination", destination=key
        )
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


def _active_numbers(session: Session, *, unverified_only: bool) -> list[tuple[str, str, str, bool]]:
    """(destination key, territory, number, still to fill in) of the active destinations'
    numbers, in the directory's order."""
    query = (
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
    if unverified_only:
        query = query.where(m.DestinationNumber.verified.is_(False))
    return [(k, t, n, is_to_fill(n, ok, by)) for k, t, n, ok, by in session.execute(query)]


def unverified_numbers(session: Session) -> list[tuple[str, str, str]]:
    """(destination key, territory, number) of every number that dials but that nobody
    has checked yet (the numbers still to fill in are ``numbers_to_fill``)."""
    return [
        (k, t, n)
        for k, t, n, to_fill in _active_numbers(session, unverified_only=True)
        if not to_fill
    ]


def numbers_to_fill(session: Session) -> list[tuple[str, str, str]]:
    """(destination key, territory, number) of every number still to fill in for an
    active destination, never dialled (a transfer there fails cleanly): empty, or a
    fictional placeholder (555-01xx) an older seed wrote, given as the number."""
    return [
        (k, t, n) for k, t, n, to_fill in _active_numbers(session, unverified_only=False) if to_fill
    ]
