"""Typed line settings: what an administrator changes without touching the dialplan.

These are plain immutable values. ``store.linesettings`` loads them from the
database (seeded from a TOML file on first run); the call flow and the schedule
only ever receive them as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")

OverrideMode = Literal["open", "closed"]
DestinationKind = Literal["emergency", "partner"]


@dataclass(frozen=True)
class DayHours:
    """Opening and closing wall-clock times for one day; ``closes`` is exclusive."""

    opens: time
    closes: time

    def __post_init__(self) -> None:
        if self.closes <= self.opens:
            raise ValueError(f"closing time {self.closes} must be after opening time {self.opens}")


@dataclass(frozen=True)
class WeeklyHours:
    """Hours per weekday (0 = Monday .. 6 = Sunday) and on holidays; None = closed all day."""

    days: Mapping[int, DayHours | None]
    holiday: DayHours | None

    def for_weekday(self, weekday: int) -> DayHours | None:
        return self.days.get(weekday)


@dataclass(frozen=True)
class HolidayRules:
    """Which public holidays close the line to holiday hours.

    ``categories`` are those of the ``holidays`` package: Québec's Easter Monday is
    in ``optional``. ``added`` days count as holidays, ``removed`` days do not.
    """

    country: str = "CA"
    subdivision: str = "QC"
    categories: tuple[str, ...] = ("public",)
    added: Mapping[date, str] = field(default_factory=dict)
    removed: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Closure:
    """An exceptional closure (storm, team meeting): closed in [starts, ends)."""

    starts: datetime
    ends: datetime
    reason: str

    def __post_init__(self) -> None:
        if self.starts.tzinfo is None or self.ends.tzinfo is None:
            raise ValueError("closure times must be timezone-aware")
        if self.ends <= self.starts:
            raise ValueError("a closure must end after it starts")


@dataclass(frozen=True)
class Override:
    """Force the line open or closed, until a time or until lifted.

    Centres use it two ways: as the day/night switch (closed now, the caller hears the
    opening hours) and to close at once for an exceptional reason (a storm, an outage:
    ``exceptional``, the caller hears that the line is exceptionally closed). Only a
    forced closure can be exceptional.
    """

    mode: OverrideMode
    until: datetime | None = None
    reason: str = ""
    set_by: str = ""
    exceptional: bool = False

    def __post_init__(self) -> None:
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("override end time must be timezone-aware")
        if self.exceptional and self.mode != "closed":
            raise ValueError("only a forced closure can be exceptional")


@dataclass(frozen=True)
class Schedule:
    timezone: str
    weekly: WeeklyHours
    holidays: HolidayRules = field(default_factory=HolidayRules)
    closures: tuple[Closure, ...] = ()
    override: Override | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The line's time zone: local dates, hours and fiscal years are computed in it."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Destination:
    """A transfer destination and its full dialable number per territory.

    ``short_code`` is what a navigator dials in the transfer context; the
    dialplan maps it to the number of the centre's territory.
    """

    key: str
    label_fr: str
    label_en: str
    kind: DestinationKind
    short_code: str
    numbers: Mapping[str, str]

    def number_for(self, territory: str) -> str | None:
        """The territory's number, else the "*" one; None when neither is filled in (an
        empty number is one still to fill in: nothing may dial it)."""
        return self.numbers.get(territory) or self.numbers.get("*") or None


@dataclass(frozen=True)
class MenuSettings:
    """How patient the menus are. After ``max_attempts`` invalid keys or silences
    the menu takes its default route: nobody is hung up on for a wrong key."""

    max_attempts: int = 3
    digit_timeout_ms: int = 5000

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 1000 <= self.digit_timeout_ms <= 30000:
            raise ValueError("digit_timeout_ms must be between 1000 and 30000")


_CONSENT_FR = (
    "Avant de laisser votre message, voici ce qu'il faut savoir. "
    "Votre message sert seulement à vous rappeler pour ce projet de recherche. "
    "Seule l'équipe de recherche du CHU de Québec - Université Laval l'écoute. "
    "Vous pouvez demander en tout temps à le consulter ou à le retirer, en appelant "
    "le 2-1-1. Il est conservé {days} jours, puis effacé."
)
_CONSENT_EN = (
    "Before you leave your message, here is what you should know. "
    "Your message is used only to call you back about this research project. "
    "Only the research team of the CHU de Québec - Université Laval listens to it. "
    "You may ask at any time to hear it or to withdraw it, by calling 2-1-1. "
    "It is kept for {days} days, then deleted."
)


@dataclass(frozen=True)
class ResearchConsent:
    """The notice played before the beep of the research box (Loi 25: why the message
    is collected, who receives it, the right of access and withdrawal, how long it is
    kept). ``{days}`` in a text is replaced by ``retention_days``, so the notice and the
    retention job cannot disagree."""

    text_fr: str = _CONSENT_FR
    text_en: str = _CONSENT_EN
    retention_days: int = 365

    def __post_init__(self) -> None:
        if not 1 <= self.retention_days <= 3650:
            raise ValueError("retention_days must be between 1 and 3650")
        for text in (self.text_fr, self.text_en):
            if not text.strip():
                raise ValueError("the consent notice needs a text in French and in English")

    def text(self, language: Language) -> str:
        template = self.text_fr if language == "fr" else self.text_en
        return template.replace("{days}", str(self.retention_days))


@dataclass(frozen=True)
class LineSettings:
    """Everything the call flow needs to know about the line, read on each call."""

    @property
    def zone(self) -> ZoneInfo:
        """The line's time zone (``schedule.timezone``): the one way every reader gets it."""
        return self.schedule.zone

    schedule: Schedule
    destinations: tuple[Destination, ...]
    territory: str
    menu: MenuSettings = field(default_factory=MenuSettings)
    queue_name: str = "navigateurs"
    research_mailbox: str = "1000@recherche"
    # Keys of the closed-hours menu -> destination keys (the research box is its own key).
    closed_transfer_keys: Mapping[str, str] = field(
        default_factory=lambda: {"1": "811", "2": "cps"}
    )
    closed_research_key: str = "3"
    research_consent: ResearchConsent = field(default_factory=ResearchConsent)
    version: int = 0

    def destination(self, key: str) -> Destination | None:
        for dest in self.destinations:
            if dest.key == key:
                return dest
        return None
