"""A made-up year of a 211 line, written the way the line writes its facts.

The calls, the navigators' activity and the transfers and referrals go through the
storage functions the FastAGI server and the listener use (``store.calls.record_calls``,
``record_activity``, ``store.transfers.record_facts``), in large batches; the roll-ups
the reports read are then summed again (``store.rollups.rebuild``, what ``ivr211 calls
rebuild-rollups`` does). The research messages are spooled as app_voicemail leaves them
and taken in by the research box's own ingester.

The shape follows the centre's (DOMAIN.md): calls during the opening hours of the line
settings (a few outside them, which meet the closed-hours menu), fewer on weekends and
holidays and in summer, more in winter; almost all in French; navigators on shifts who
answer one call at a time (a caller waits while they are all busy, and some hang up);
referrals without transfer common (about a thousand a year, mostly 811), bascules rare
(tens a year), Christmas baskets in November and December. Every figure is random but
seeded: the same day gives the same year.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ivr.schedule import compute_state
from ivr.settings import LineSettings
from store import rollups
from store.calls import (
    ActivityFact,
    CallFact,
    CallSource,
    QueueOutcome,
    record_activity,
    record_calls,
)
from store.facts import Kind, Outcome, Source, TransferFact
from store.transfers import fiscal_year, record_facts

__all__ = ["DemoNavigator", "YearFigures", "generate_year", "period_for"]

#: Calls offered on an ordinary Wednesday; the other days and months scale it.
CALLS_PER_DAY = 60
WEEKDAY_FACTOR = (1.2, 1.1, 1.0, 1.0, 0.95, 0.55, 0.45)
MONTH_FACTOR = {
    1: 1.1,
    2: 1.05,
    3: 1.05,
    4: 1.0,
    5: 0.95,
    6: 0.9,
    7: 0.8,
    8: 0.85,
    9: 1.0,
    10: 1.05,
    11: 1.1,
    12: 1.15,
}
HOLIDAY_FACTOR = 0.5
#: Share of a day's calls per local hour (a few before opening and in the evening).
HOUR_WEIGHTS = (0, 0, 0, 0, 0, 0, 1, 3, 8, 11, 12, 11, 9, 10, 11, 10, 9, 7, 6, 4, 3, 2, 1, 0)
#: DOMAIN.md: 99.4 % French, 0.5 % English, the rest through the interpreter service.
LANGUAGE_SHARES = (("fr", 0.991), ("en", 0.006), ("interpreter", 0.003))
MAX_WAIT_S = 600.0
WRAPUP_S = 10.0
#: Per answered call: a referral without transfer (about a thousand a year, mostly 811).
REFERRAL_RATE = 0.07
REFERRAL_SHARES = (("811", 68), ("crise", 10), ("cps", 8), ("988", 3), ("sosvc", 6), ("911", 5))
#: Per answered call: a warm transfer tried (tens a year).
BASCULE_RATE = 0.0022
BASCULE_SHARES = (("911", 35), ("crise", 20), ("cps", 20), ("811", 15), ("sosvc", 5), ("988", 5))
BASCULE_OUTCOMES = (
    (Outcome.COMPLETED, 78),
    (Outcome.ABANDONED, 6),
    (Outcome.NOT_ANSWERED, 6),
    (Outcome.BUSY, 4),
    (Outcome.CALLER_HUNG_UP, 3),
    (Outcome.FAILED, 3),
)
#: Per answered call: a direct transfer to a partner programme.
PARTNER_RATE = 0.002
TRANSFER_CONTEXT = "navigator-transfers"
FICTIONAL_AREAS = ("418", "581", "418", "418", "819", "450")


@dataclass(frozen=True)
class DemoNavigator:
    """A navigator of the demonstration: its account, queue member and shift."""

    username: str
    name: str
    phone_endpoint: str
    queue_interface: str
    early: bool  # 08:00-16:00, else 11:00-19:00


@dataclass
class YearFigures:
    """What was written, to tell the reports' figures from the generator's."""

    first_day: date
    last_day: date
    calls: int = 0
    queued: int = 0
    answered: int = 0
    abandoned: int = 0
    research_messages: int = 0
    by_language: Counter[str] = field(default_factory=Counter)
    by_fiscal_year: Counter[int] = field(default_factory=Counter)
    #: (kind, outcome, destination) -> records.
    transfers: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    activity: int = 0


def period_for(today: date, days: int = 365) -> tuple[date, date]:
    """The ``days`` that ended yesterday (a year: the current fiscal year so far, and the
    end of the previous one)."""
    return today - timedelta(days=days), today - timedelta(days=1)


def _pick(rng: random.Random, shares: Sequence[tuple[object, float]]) -> object:
    values, weights = zip(*shares, strict=True)
    return rng.choices(values, weights)[0]


class _Generator:
    def __init__(
        self, settings: LineSettings, navigators: Sequence[DemoNavigator], seed: int
    ) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.schedule.timezone)
        self.navigators = navigators
        self.rng = random.Random(seed)
        self.calls: list[CallFact] = []
        self.activity: list[ActivityFact] = []
        self.transfers: list[TransferFact] = []
        self.research: list[tuple[datetime, str | None, str, str | None]] = []
        self.pauses: dict[str, list[tuple[datetime, datetime]]] = {}
        self.sequence = 0

    # ---- one day ------------------------------------------------------------------------

    def day(self, day: date, figures: YearFigures) -> None:
        rng = self.rng
        noon = datetime.combine(day, time(12), self.zone)
        holiday = compute_state(self.settings.schedule, noon).holiday_name is not None
        mean = CALLS_PER_DAY * WEEKDAY_FACTOR[day.weekday()] * MONTH_FACTOR[day.month]
        if holiday:
            mean *= HOLIDAY_FACTOR
        count = max(0, round(rng.gauss(mean, math.sqrt(mean))))
        on_shift = self._shifts(day)
        free_at = {nav.queue_interface: start for nav, start, _ in on_shift}
        arrivals = sorted(self._arrival(day) for _ in range(count))
        for at in arrivals:
            self._call(at, on_shift, free_at, figures)

    def _shifts(self, day: date) -> list[tuple[DemoNavigator, datetime, datetime]]:
        """Who works that day (each navigator has two days off a week, in turn)."""
        shifts = []
        ordinal = day.toordinal()
        for index, nav in enumerate(self.navigators):
            if (ordinal + index) % 7 in (0, 3) and len(self.navigators) > 2:
                continue
            start = time(8) if nav.early else time(11)
            begin = datetime.combine(day, start, self.zone).astimezone(UTC)
            end = begin + timedelta(hours=8)
            shifts.append((nav, begin, end))
            self._activity(nav, "logged_in", begin, end, "")
            # lunch ("dîner"), and a block or two of web chat, away from the phone
            lunch = begin + timedelta(hours=4, minutes=self.rng.randint(-20, 20))
            pauses = [(lunch, lunch + timedelta(minutes=30), "dîner")]
            for hour in self.rng.sample((1, 2, 5, 6), self.rng.choice((1, 1, 2))):
                chat = begin + timedelta(hours=hour, minutes=self.rng.randint(0, 10))
                pauses.append(
                    (chat, chat + timedelta(minutes=self.rng.randint(30, 45)), "clavardage")
                )
            pauses.sort()
            self.pauses[nav.queue_interface] = [(a, b) for a, b, _ in pauses]
            for a, b, why in pauses:
                self._activity(nav, "paused", a, b, why)
        return shifts

    def _available_from(self, nav: DemoNavigator, at: datetime) -> datetime:
        """The first moment from ``at`` on when ``nav`` is not on a pause."""
        for start, end in self.pauses.get(nav.queue_interface, ()):
            if start <= at < end:
                at = end
        return at

    def _next_pause(self, nav: DemoNavigator, at: datetime) -> datetime | None:
        return next((a for a, _ in self.pauses.get(nav.queue_interface, ()) if a >= at), None)

    def _arrival(self, day: date) -> datetime:
        hour = self.rng.choices(range(24), HOUR_WEIGHTS)[0]
        second = self.rng.randrange(3600)
        local = datetime.combine(day, time(hour), self.zone) + timedelta(seconds=second)
        return local.astimezone(UTC)

    # ---- one call -----------------------------------------------------------------------

    def _call(
        self,
        at: datetime,
        on_shift: list[tuple[DemoNavigator, datetime, datetime]],
        free_at: dict[str, datetime],
        figures: YearFigures,
    ) -> None:
        rng = self.rng
        self.sequence += 1
        linkedid = f"{int(at.timestamp())}.{self.sequence}"
        number = None
        if rng.random() > 0.04:
            number = f"{rng.choice(FICTIONAL_AREAS)}5550{rng.randrange(100, 200)}"
        state = compute_state(self.settings.schedule, at)
        language = str(_pick(rng, LANGUAGE_SHARES))
        base = CallFact(linkedid, at, CallSource.FLOW, caller_uniqueid=linkedid)
        figures.calls += 1
        figures.by_fiscal_year[fiscal_year(at.astimezone(self.zone).date())] += 1
        if not state.is_open:
            self._closed_call(base, state.reason, number, language, figures)
            return
        lang_step = {"fr": "lang:fr", "en": "lang:en", "interpreter": "lang:other"}[language]
        roll = rng.random()
        if roll < 0.04:
            figures.by_language["none"] += 1
            end = at + timedelta(seconds=rng.randint(5, 40))
            self.calls.append(
                _with(
                    base,
                    caller_number=number,
                    line_state=state.reason,
                    language="none",
                    path="open/hangup",
                    route="hangup",
                    ended_at=end,
                )
            )
            return
        figures.by_language[language] += 1
        if roll < 0.046 and language != "interpreter":
            path = f"open/{lang_step}/main:2"
            self._research(base, number, language, path, state.reason, at, figures)
            return
        path = f"open/{lang_step}" if language == "interpreter" else f"open/{lang_step}/main:1"
        joined = at + timedelta(seconds=rng.randint(25, 60))
        self._queued(base, number, language, path, state.reason, joined, on_shift, free_at, figures)

    def _closed_call(
        self, base: CallFact, reason: str, number: str | None, language: str, figures: YearFigures
    ) -> None:
        rng = self.rng
        lang = "fr" if language == "interpreter" else language
        figures.by_language[lang] += 1
        head = f"closed:{reason}" + ("/lang:en" if lang == "en" else "")
        at = base.at
        choice = rng.choices(("811", "cps", "research", "hangup", "default"), (40, 5, 10, 30, 15))[
            0
        ]
        ended = at + timedelta(seconds=rng.randint(30, 120))
        common = {"caller_number": number, "line_state": reason, "language": lang}
        if choice in ("811", "cps"):
            key = "1" if choice == "811" else "2"
            self.calls.append(
                _with(
                    base,
                    **common,
                    path=f"{head}/menu:{key}/transfer:{choice}",
                    route="transfer",
                    route_destination=choice,
                    ended_at=ended,
                )
            )
        elif choice == "research":
            path = f"{head}/menu:3/research"
            self._research(base, number, lang, path, reason, at, figures)
        elif choice == "hangup":
            self.calls.append(
                _with(base, **common, path=f"{head}/hangup", route="hangup", ended_at=ended)
            )
        else:
            path = f"{head}/menu:timeout/menu:timeout/menu:timeout/menu:default"
            self.calls.append(_with(base, **common, path=path, route="closed", ended_at=ended))

    def _research(
        self,
        base: CallFact,
        number: str | None,
        language: str,
        path: str,
        reason: str,
        at: datetime,
        figures: YearFigures,
    ) -> None:
        left = self.rng.random() < 0.8
        duration = self.rng.randint(20, 90)
        ended = at + timedelta(seconds=60 + duration)
        callback = None
        if number is None or self.rng.random() < 0.2:
            callback = f"{self.rng.choice(FICTIONAL_AREAS)}5550{self.rng.randrange(100, 200)}"
        self.calls.append(
            _with(
                base,
                caller_number=number,
                line_state=reason,
                language=language,
                path=path,
                route="research",
                research_message=left,
                ended_at=ended,
            )
        )
        if left:
            figures.research_messages += 1
            self.research.append((at + timedelta(seconds=60), number, language, callback))

    def _queued(
        self,
        base: CallFact,
        number: str | None,
        language: str,
        path: str,
        reason: str,
        joined: datetime,
        on_shift: list[tuple[DemoNavigator, datetime, datetime]],
        free_at: dict[str, datetime],
        figures: YearFigures,
    ) -> None:
        rng = self.rng
        figures.queued += 1
        queue = self.settings.queue_name
        flow = _with(
            base,
            caller_number=number,
            line_state=reason,
            language=language,
            path=path,
            route="queue",
            queue=queue,
        )
        patience = rng.expovariate(1 / 150.0)
        ring = float(rng.randint(2, 8))
        candidates = []
        for one, start, end in on_shift:
            if start <= joined < end:
                ready = max(joined + timedelta(seconds=ring), free_at[one.queue_interface])
                ready = self._available_from(one, ready)
                if ready < end:
                    candidates.append((ready, one))
        if candidates:
            connect, nav = min(candidates, key=lambda pair: pair[0])
            wait = (connect - joined).total_seconds()
        else:
            nav, connect, wait = None, None, MAX_WAIT_S
        ami = CallFact(
            base.linkedid,
            joined,
            CallSource.AMI,
            caller_uniqueid=base.linkedid,
            queue=queue,
            queue_joined_at=joined,
            queue_position=1,
        )
        if nav is None or connect is None or wait > min(patience, MAX_WAIT_S):
            gave_up = min(patience, MAX_WAIT_S)
            left = joined + timedelta(seconds=gave_up)
            if gave_up >= MAX_WAIT_S:
                outcome, exit_route = QueueOutcome.TIMEOUT, rng.choice(("research", "hangup"))
            else:
                outcome, exit_route = QueueOutcome.ABANDONED, None
                figures.abandoned += 1
            self.calls.append(flow)
            self.calls.append(
                _with(
                    ami,
                    queue_outcome=outcome,
                    queue_left_at=left,
                    wait_s=float(int(gave_up)),
                    exit_route=exit_route,
                    ended_at=left,
                )
            )
            return
        figures.answered += 1
        talk = min(3600.0, float(int(rng.lognormvariate(math.log(480), 0.6))))
        hung_up = connect + timedelta(seconds=talk)
        wrapped = hung_up + timedelta(seconds=WRAPUP_S)
        free_at[nav.queue_interface] = wrapped
        transfer = self._transfers(base, nav, connect, hung_up, number, language, path)
        self.calls.append(flow)
        self.calls.append(
            _with(
                ami,
                queue_outcome=QueueOutcome.ANSWERED,
                queue_left_at=connect,
                wait_s=float(int(wait)),
                ring_s=ring,
                answered_interface=nav.queue_interface,
                answered_name=nav.name,
                talk_s=talk,
                completed_by="transfer" if transfer else rng.choice(("agent", "caller")),
                ended_at=hung_up,
            )
        )
        self._activity(nav, "on_call", connect, hung_up, "", base)
        self._activity(nav, "after_call_work", hung_up, wrapped, "")
        if rng.random() < 0.8:  # notes on the call, paused, before the next one
            notes = wrapped + timedelta(seconds=rng.randint(60, 300))
            following = self._next_pause(nav, wrapped)
            if following is not None:
                notes = min(notes, following)
            if notes > wrapped and self._available_from(nav, wrapped) == wrapped:
                self._activity(nav, "paused", wrapped, notes, "saisie")
                free_at[nav.queue_interface] = notes

    def _transfers(
        self,
        base: CallFact,
        nav: DemoNavigator,
        connect: datetime,
        hung_up: datetime,
        number: str | None,
        language: str,
        path: str,
    ) -> bool:
        """The referrals and transfers of one answered call; True when it ended in one."""
        rng = self.rng
        month = connect.astimezone(self.zone).month
        mid = connect + (hung_up - connect) / 2
        common: dict[str, Any] = {
            "linkedid": base.linkedid,
            "navigator_channel": nav.phone_endpoint,
            "target_context": TRANSFER_CONTEXT,
            "caller_uniqueid": base.linkedid,
            "caller_number": number,
            "language": language,
            "path": path,
            "interpreter": language == "interpreter",
            "source": Source.AMI,
        }
        if rng.random() < REFERRAL_RATE:
            dest = str(_pick(rng, REFERRAL_SHARES))
            self._fact(
                f"referral:{base.linkedid}:{dest}",
                Kind.REFERRAL,
                Outcome.COMPLETED,
                mid,
                mid,
                dest,
                None,
                common,
            )
        partner_rate = PARTNER_RATE * (6 if month in (11, 12) else 1)
        if rng.random() < BASCULE_RATE:
            dest = str(_pick(rng, BASCULE_SHARES))
            kind = rng.choices((Kind.ATTENDED, Kind.BLIND, Kind.THREEWAY), (70, 15, 15))[0]
            outcome = Outcome(str(_pick(rng, BASCULE_OUTCOMES)))
            if kind is Kind.BLIND:
                outcome = Outcome.COMPLETED
            delay = float(rng.randint(4, 40)) if outcome is Outcome.COMPLETED else None
            self._transfer(kind, outcome, mid, dest, delay, common)
            return outcome is Outcome.COMPLETED
        if rng.random() < partner_rate:
            partners = ["menus-travaux", "appels-amitie"]
            if month in (11, 12):
                partners += ["paniers-noel"] * 4
            self._transfer(Kind.BLIND, Outcome.COMPLETED, mid, rng.choice(partners), None, common)
            return True
        return False

    def _transfer(
        self,
        kind: Kind,
        outcome: Outcome,
        at: datetime,
        dest: str,
        delay: float | None,
        common: dict[str, Any],
    ) -> None:
        self.sequence += 1
        uid = f"{int(at.timestamp())}.{self.sequence}"
        key = {
            Kind.ATTENDED: f"atxfer:{uid}",
            Kind.BLIND: f"blind:{common['caller_uniqueid']}:demo-bridge-{self.sequence}",
            Kind.THREEWAY: f"conf:{uid}",
        }[kind]
        ended = at + timedelta(seconds=(delay or 20.0) + self.rng.randint(20, 120))
        self._fact(key, kind, outcome, at, ended, dest, delay, common)

    def _fact(
        self,
        key: str,
        kind: Kind,
        outcome: Outcome,
        at: datetime,
        ended: datetime,
        dest: str,
        delay: float | None,
        common: dict[str, Any],
    ) -> None:
        code = next((d.short_code for d in self.settings.destinations if d.key == dest), dest)
        self.transfers.append(
            TransferFact(
                key=key,
                kind=kind,
                outcome=outcome,
                started_at=at,
                ended_at=ended,
                destination=dest,
                target_exten=code,
                answer_delay_s=delay,
                **common,
            )
        )

    def _activity(
        self,
        nav: DemoNavigator,
        state: str,
        start: datetime,
        end: datetime,
        reason: str,
        call: CallFact | None = None,
    ) -> None:
        linkedid = None if call is None else call.linkedid
        self.activity.append(ActivityFact(nav.queue_interface, state, start, end, reason, linkedid))


def _with(fact: CallFact, **changes: Any) -> CallFact:
    return replace(fact, **changes)


def generate_year(
    engine: Engine,
    settings: LineSettings,
    navigators: Sequence[DemoNavigator],
    first_day: date,
    last_day: date,
    *,
    seed: int = 211,
) -> tuple[YearFigures, list[tuple[datetime, str | None, str, str | None]]]:
    """Write the calls, activity and transfers of ``first_day`` to ``last_day`` (local
    days, both included) and sum the roll-ups again; return the figures written and the
    research messages to leave (when, caller number, language, callback number)."""
    generator = _Generator(settings, navigators, seed)
    figures = YearFigures(first_day, last_day)
    day = first_day
    while day <= last_day:
        generator.day(day, figures)
        day += timedelta(days=1)
    for fact in generator.transfers:
        figures.transfers[(fact.kind.value, fact.outcome.value, fact.destination or "")] += 1
    with Session(engine) as session, session.begin():
        record_calls(session, generator.calls)
        figures.activity = record_activity(session, generator.activity)
        record_facts(session, generator.transfers)
        rollups.rebuild(session)
    return figures, generator.research
