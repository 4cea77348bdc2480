"""A year of synthetic calls with known answers, for the call reports.

``generate()`` makes the calls of fiscal year 2026 (and a few days around it) as the
sources would report them, each call split into facts of the flow, AMI, queue_log or
CEL written in separate batches and orders; the navigators' activity intervals; some
transfer records. ``expected()`` computes every report figure from the generator's own
list of calls, in plain Python, without the store's code: it knows the true arrival,
wait and talk of each call.

Traps it includes on purpose: calls whose queue join is after midnight (and after the
end of the fiscal year) while the caller arrived before it, written join first so the
call moves back a day; calls in the hour repeated when clocks go back in November and
around the hour skipped in March (America/Toronto); abandons under, at and over the
short-abandon threshold and answers just under and over the service-level thresholds
(half seconds); a call answered, transferred back to the queue and answered again (it
keeps its first answer); navigator intervals across midnight and across the DST
changes; members who are no navigator; callers only AMI saw.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from store.calls import ActivityFact, CallFact, CallSource, QueueOutcome
from store.facts import Kind, Outcome, Source, TransferFact

ZONE = ZoneInfo("America/Toronto")
FIRST_DAY = date(2026, 3, 29)
LAST_DAY = date(2027, 4, 2)
NAVIGATORS = {"alice": "Alice", "bob": "Bob", "chloe": "Chloé"}
STRANGER = "PJSIP/remplacant"  # a queue member who is no navigator
CLOSED = ("after_hours", "holiday", "closure", "override_closed")
HOLIDAYS = (date(2026, 6, 24), date(2026, 7, 1), date(2026, 12, 25))
CLOSURE = date(2026, 9, 14)
OVERRIDE_CLOSED = date(2027, 1, 20)
OVERRIDE_OPEN = date(2026, 12, 26)


def member(username: str) -> str:
    return f"PJSIP/nav-{username}"


def utc(day: date, hour: int, minute: int = 0, second: float = 0.0, *, fold: int = 0) -> datetime:
    local = datetime.combine(day, time(hour, minute), ZONE).replace(fold=fold)
    return local.astimezone(UTC) + timedelta(seconds=second)


@dataclass
class Call:
    linkedid: str
    arrived: datetime
    line_state: str | None
    language: str | None
    path: str | None
    route: str | None
    route_destination: str | None = None
    research: bool = False
    joined: datetime | None = None
    outcome: str | None = None
    wait: float | None = None
    talk: float | None = None
    answered_by: str | None = None  # a queue member interface
    exit_route: str | None = None

    @property
    def local(self) -> datetime:
        return self.arrived.astimezone(ZONE)


@dataclass
class Interval:
    member: str
    state: str
    start: datetime
    end: datetime


@dataclass
class Year:
    calls: list[Call] = field(default_factory=list)
    batches: list[list[CallFact]] = field(default_factory=list)
    intervals: list[Interval] = field(default_factory=list)
    transfers: list[TransferFact] = field(default_factory=list)
    activity_cache: dict[tuple[date, int, str, str], float] | None = None

    def activity_facts(self) -> list[ActivityFact]:
        return [ActivityFact(i.member, i.state, i.start, i.end) for i in self.intervals]


# ---- the calls -------------------------------------------------------------------------


def _facts(call: Call, rng: random.Random) -> list[CallFact]:
    """What the sources saw, one fact each: the flow (or CEL for a fallback), the queue."""
    facts = []
    if call.route == "fallback":
        facts.append(CallFact(call.linkedid, call.arrived, CallSource.CEL, route="fallback"))
    elif call.line_state is not None:
        facts.append(
            CallFact(
                call.linkedid,
                call.arrived,
                CallSource.FLOW,
                line_state=call.line_state,
                language=call.language,
                path=call.path,
                route=call.route,
                route_destination=call.route_destination,
                research_message=call.research,
                queue="navigateurs" if call.route == "queue" else None,
            )
        )
    if call.outcome is not None:
        at = call.joined or call.arrived
        left = at + timedelta(seconds=call.wait or 0)
        queued = CallFact(
            call.linkedid,
            at,
            CallSource.AMI,
            queue="navigateurs",
            queue_joined_at=at,
            queue_outcome=QueueOutcome(call.outcome),
            queue_left_at=left,
            wait_s=call.wait,
            answered_interface=call.answered_by,
            talk_s=call.talk,
            exit_route=call.exit_route,
            ended_at=left + timedelta(seconds=call.talk or 0),
        )
        facts.append(queued)
        if rng.random() < 0.1:  # queue_log saw it too, without the member's interface
            facts.append(replace(queued, source=CallSource.QUEUE_LOG, answered_interface=None))
    return facts


def _line_state(local: datetime) -> str:
    day = local.date()
    if day == OVERRIDE_OPEN:
        return "override_open"
    if day == OVERRIDE_CLOSED:
        return "override_closed"
    if day == CLOSURE:
        return "closure"
    if day in HOLIDAYS:
        return "holiday"
    return "hours" if 8 <= local.hour < 20 else "after_hours"


MEMBERS = [member(u) for u in NAVIGATORS] + [STRANGER]


def _queue_outcome(call: Call, rng: random.Random) -> None:
    outcome = rng.choices(
        ["answered", "abandoned", "timeout", "closing", "leaveempty", "joinempty", "full"],
        [70, 14, 3, 2, 3, 4, 4],
    )[0]
    call.outcome = outcome
    call.joined = call.arrived + timedelta(seconds=rng.randint(5, 60))
    half = 0.5 if rng.random() < 0.15 else 0.0
    if outcome == "answered":
        call.wait = rng.randint(0, 150) + half
        call.talk = float(rng.randint(30, 900))
        call.answered_by = rng.choices(MEMBERS, [10, 10, 5, 1])[0]
    elif outcome == "abandoned":
        call.wait = rng.randint(0, 90) + half
    elif outcome in ("timeout", "closing", "leaveempty"):
        call.wait = float(rng.choice([300, 240, 45, 600]))
        call.exit_route = rng.choice(["research", "hangup"])
    else:  # refused at once: no wait
        call.exit_route = "research"


def _random_call(linkedid: str, arrived: datetime, rng: random.Random) -> Call:
    local = arrived.astimezone(ZONE)
    state = _line_state(local)
    if state in CLOSED:
        route, destination = rng.choice(
            [
                ("transfer", "811"),
                ("transfer", "crise"),
                ("research", None),
                ("closed", None),
                ("hangup", None),
            ]
        )
        lang = rng.choice(["fr", "fr", "en"])
        return Call(
            linkedid,
            arrived,
            state,
            lang,
            f"closed/lang:{lang}/{route}",
            route,
            destination,
            research=route == "research" and rng.random() < 0.7,
        )
    kind = rng.choices(["queue", "research", "hangup", "fallback", "ami-only"], [80, 6, 5, 4, 5])[0]
    if kind == "fallback":
        call = Call(linkedid, arrived, None, None, None, "fallback")
        _queue_outcome(call, rng)
        return call
    if kind == "ami-only":  # the flow's record was lost: the queue alone saw the caller
        call = Call(linkedid, arrived, None, None, None, None)
        _queue_outcome(call, rng)
        call.arrived = call.joined or arrived
        call.joined = call.arrived
        return call
    lang = rng.choices(["fr", "en", "interpreter", "none"], [86, 8, 4, 2])[0]
    if lang == "none":
        return Call(linkedid, arrived, state, "none", "open/lang:none", "hangup")
    if kind == "queue":
        call = Call(linkedid, arrived, state, lang, f"open/lang:{lang}/main:1", "queue")
        _queue_outcome(call, rng)
        return call
    research = kind == "research"
    return Call(
        linkedid,
        arrived,
        state,
        lang,
        f"open/lang:{lang}/main:{2 if research else 9}",
        kind,
        research=research and rng.random() < 0.8,
    )


def _days() -> Iterator[date]:
    day = FIRST_DAY
    while day <= LAST_DAY:
        yield day
        day += timedelta(days=1)


def _special_calls() -> list[tuple[Call, bool]]:
    """(call, queue facts written first) for the traps of the module's docstring."""
    out: list[tuple[Call, bool]] = []

    def queued(
        n: str, arrived: datetime, joined_after: float, outcome: str, wait: float, **kw: Any
    ) -> Call:
        call = Call(
            f"special.{n}", arrived, _line_state(arrived.astimezone(ZONE)), "fr",
            "open/lang:fr/main:1", "queue", joined=arrived + timedelta(seconds=joined_after),
            outcome=outcome, wait=wait, **kw,
        )  # fmt: skip
        return call

    alice, bob = member("alice"), member("bob")
    # Midnight, and the ends of the fiscal year: the queue saw the caller the next day.
    for n, day in (
        ("m", date(2026, 8, 12)),
        ("fy0", date(2026, 3, 31)),
        ("fy1", date(2027, 3, 31)),
    ):
        arrived = utc(day, 23, 59, 40)
        call = queued(n, arrived, 35, "answered", 12.0, talk=300.0, answered_by=alice)
        call.line_state = "hours"  # an override kept the line open
        out.append((call, True))
    # The hour repeated in November: 01:20 EDT and 01:20 EST are both local hour 1.
    for fold in (0, 1):
        arrived = utc(date(2026, 11, 1), 1, 20, fold=fold)
        call = queued(f"nov{fold}", arrived, 10, "answered", 30.5, talk=60.0, answered_by=bob)
        out.append((call, bool(fold)))
    # The hour skipped in March: 01:59:50 EST, joined at 03:00:20 EDT.
    arrived = utc(date(2027, 3, 14), 1, 59, 50)
    out.append((queued("mar", arrived, 30, "abandoned", 4.5), True))
    # Thresholds: short abandons (< 5 s), answers at and over 30 and 60 s.
    base = utc(date(2026, 10, 7), 10, 0)
    for i, wait in enumerate((0.0, 4.0, 4.5, 5.0, 5.5)):
        at = base + timedelta(minutes=i)
        out.append((queued(f"ab{i}", at, 20, "abandoned", wait), False))
    for i, wait in enumerate((30.0, 30.5, 31.0, 60.0, 60.5)):
        at = base + timedelta(minutes=10 + i)
        out.append(
            (queued(f"sl{i}", at, 20, "answered", wait, talk=120.0, answered_by=alice), False)
        )
    return out


def generate(seed: int = 211) -> Year:
    rng = random.Random(seed)
    year = Year()
    serial = 0
    for day in _days():
        start = utc(day, 0)
        length = (utc(day + timedelta(days=1), 0) - start).total_seconds()  # 23, 24 or 25 h
        calls = []
        for _ in range(rng.randint(2, 8)):
            serial += 1
            arrived = start + timedelta(seconds=rng.randrange(int(length)))
            calls.append(_random_call(f"{1775000000 + serial}.{serial % 89}", arrived, rng))
        firsts: list[CallFact] = []
        seconds: list[CallFact] = []
        queue_first = rng.random() < 0.5
        for call in calls:
            facts = _facts(call, rng)
            queue_facts = [f for f in facts if f.source in (CallSource.AMI, CallSource.QUEUE_LOG)]
            others = [f for f in facts if f not in queue_facts]
            firsts += queue_facts if queue_first else others
            seconds += others if queue_first else queue_facts
        year.calls += calls
        year.batches += [firsts, seconds]
    for call, queue_first in _special_calls():
        facts = _facts(call, rng)
        if queue_first:
            facts.reverse()
        year.calls.append(call)
        year.batches += [[fact] for fact in facts]
    # Answered, transferred back to the queue by the navigator, answered again: the call
    # keeps its first time in the queue.
    back = Call(
        "special.back", utc(date(2026, 5, 5), 14, 0), "hours", "en", "open/lang:en/main:1",
        "queue", joined=utc(date(2026, 5, 5), 14, 0, 25), outcome="answered", wait=8.0,
        talk=95.0, answered_by=member("alice"),
    )  # fmt: skip
    year.calls.append(back)
    year.batches += [[fact] for fact in _facts(back, random.Random(0))]
    again = replace(
        back, joined=utc(date(2026, 5, 5), 14, 3), wait=41.0, talk=200.0, answered_by=member("bob")
    )
    year.batches.append([f for f in _facts(again, random.Random(0)) if f.source == "ami"])
    _activity(year, rng)
    _transfers(year, rng)
    return year


# ---- navigator activity and transfers --------------------------------------------------


def _activity(year: Year, rng: random.Random) -> None:
    for day in _days():
        alice, bob, chloe = member("alice"), member("bob"), member("chloe")
        year.intervals += [
            Interval(alice, "logged_in", utc(day, 8), utc(day, 16)),
            Interval(alice, "paused", utc(day, 12), utc(day, 12, 30)),
            Interval(bob, "logged_in", utc(day, 12), utc(day, 20)),
            Interval(bob, "paused", utc(day, 15, 5), utc(day, 15, 20)),
        ]
        if day.weekday() in (4, 5) or day in (date(2026, 10, 31), date(2027, 3, 13)):
            # Overnight, across midnight (and the DST changes of Nov 1 and Mar 14).
            start = utc(day, 22)
            year.intervals.append(Interval(chloe, "logged_in", start, start + timedelta(hours=4)))
        if rng.random() < 0.1:
            start = utc(day, 9, 30)
            year.intervals.append(
                Interval(STRANGER, "logged_in", start, start + timedelta(hours=2))
            )
    for call in year.calls:
        if call.outcome == "answered" and call.answered_by and call.joined:
            done = call.joined + timedelta(seconds=(call.wait or 0) + (call.talk or 0))
            acw = Interval(
                call.answered_by,
                "after_call_work",
                done,
                done + timedelta(seconds=rng.randint(10, 90)),
            )
            year.intervals.append(acw)


def _transfers(year: Year, rng: random.Random) -> None:
    answered = [c for c in year.calls if c.outcome == "answered" and c.answered_by and c.joined]
    for n, call in enumerate(rng.sample(answered, 60)):
        kind, outcome = rng.choice(
            [
                (Kind.REFERRAL, Outcome.COMPLETED),
                (Kind.ATTENDED, Outcome.COMPLETED),
                (Kind.BLIND, Outcome.COMPLETED),
                (Kind.ATTENDED, Outcome.BUSY),
            ]
        )
        at = (call.joined or call.arrived) + timedelta(seconds=(call.wait or 0) + 20)
        year.transfers.append(
            TransferFact(
                key=f"gen:{n}",
                kind=kind,
                outcome=outcome,
                started_at=at,
                ended_at=at + timedelta(seconds=30),
                linkedid=call.linkedid,
                navigator_channel=call.answered_by or "",
                destination="811",
                target_exten="811",
                target_context="navigator-transfers",
                source=Source.ACTION if kind == Kind.REFERRAL else Source.AMI,
            )
        )


# ---- the answers -----------------------------------------------------------------------


def _step(interval: Interval) -> float:
    """Whole minutes step by minutes; anything else by half seconds."""
    if all(t.second == 0 and t.microsecond == 0 for t in (interval.start, interval.end)):
        return 60.0
    return 0.5


def activity_by_hour(year: Year) -> dict[tuple[date, int, str, str], float]:
    """Seconds per (local date, local hour, member, state), by walking each interval in
    small steps and asking the zone the local time of each step."""
    if year.activity_cache is not None:
        return year.activity_cache
    out: dict[tuple[date, int, str, str], float] = {}
    for interval in year.intervals:
        step = _step(interval)
        moment = interval.start
        while moment < interval.end:
            local = moment.astimezone(ZONE)
            key = (local.date(), local.hour, interval.member, interval.state)
            out[key] = out.get(key, 0.0) + step
            moment += timedelta(seconds=step)
    year.activity_cache = out
    return out


def nearest_rank(values: Sequence[float], percent: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * percent / 100)) - 1]


def _ceil(value: float | None) -> int | None:
    return None if value is None else math.ceil(value)


def erlang_agents(rate: float, handle: float, target: float, within: float) -> int:
    """Erlang C from its closed form (sum of a^k / k!), for the staffing figures."""
    load = rate * handle
    agents = math.floor(load) + 1
    while True:
        top = load**agents / math.factorial(agents) * agents / (agents - load)
        bottom = sum(load**k / math.factorial(k) for k in range(agents)) + top
        waits = top / bottom
        if 1 - waits * math.exp(-(agents - load) * within / handle) >= target:
            return agents
        agents += 1


def expected(
    year: Year,
    start: date,
    end: date,
    *,
    short_s: int = 5,
    levels: Sequence[int] = (30, 60),
    target: float = 0.8,
    usernames: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Every figure of the call reports for local dates [start, end]."""
    calls = [c for c in year.calls if start <= c.local.date() <= end]
    entered = [
        c
        for c in calls
        if c.outcome in ("answered", "abandoned", "timeout", "closing", "leaveempty")
    ]
    answered = [c for c in calls if c.outcome == "answered"]
    abandoned = [c for c in calls if c.outcome == "abandoned"]
    short = [c for c in abandoned if (c.wait or 0) < short_s]
    activity = {k: v for k, v in activity_by_hour(year).items() if start <= k[0] <= end}
    acw = sum(v for k, v in activity.items() if k[3] == "after_call_work")
    waits = [c.wait or 0.0 for c in answered]
    counted = len(entered) - len(short)
    within = [sum(1 for w in waits if w <= limit) for limit in levels]
    summary = {
        "received": len(calls),
        "closed": sum(1 for c in calls if c.line_state in CLOSED),
        "fallback": sum(1 for c in calls if c.route == "fallback"),
        "research": sum(1 for c in calls if c.research),
        "offered": sum(1 for c in calls if c.outcome is not None),
        "answered": len(answered),
        "abandoned": len(abandoned),
        "short_abandoned": len(short),
        "timeout": sum(1 for c in calls if c.outcome == "timeout"),
        "closing": sum(1 for c in calls if c.outcome == "closing"),
        "leaveempty": sum(1 for c in calls if c.outcome == "leaveempty"),
        "blocked_full": sum(1 for c in calls if c.outcome == "full"),
        "blocked_joinempty": sum(1 for c in calls if c.outcome == "joinempty"),
        "answered_within": tuple(within),
        "service_levels": tuple(n / counted if counted else None for n in within),
        "abandon_rate": (len(abandoned) - len(short)) / counted if counted else None,
        "average_speed_of_answer_s": sum(waits) / len(answered) if answered else None,
        "median_wait_s": _ceil(nearest_rank(waits, 50)),
        "p90_wait_s": _ceil(nearest_rank(waits, 90)),
        "longest_wait_s": max((c.wait or 0.0 for c in entered), default=None),
        "talk_s": sum(c.talk or 0.0 for c in answered),
        "after_call_work_s": acw,
        "average_handle_s": (
            (sum(c.talk or 0.0 for c in answered) + acw) / len(answered) if answered else None
        ),
    }

    def counts(group: list[Call]) -> tuple[int, ...]:
        return (
            len(group),
            sum(1 for c in group if c.outcome is not None),
            sum(1 for c in group if c.outcome == "answered"),
            sum(1 for c in group if c.outcome == "abandoned"),
            sum(1 for c in group if c.outcome in ("full", "joinempty")),
            sum(1 for c in group if c.line_state in CLOSED),
        )

    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    by_day = {d: counts([c for c in calls if c.local.date() == d]) for d in days}
    months = sorted({(d.year, d.month) for d in days})
    by_month = {
        ym: counts([c for c in calls if (c.local.year, c.local.month) == ym]) for ym in months
    }
    heat = {
        (w, h): counts([c for c in calls if c.local.weekday() == w and c.local.hour == h])
        for w in range(7)
        for h in range(24)
    }
    languages = sorted({c.language or "" for c in calls})
    by_language = {k: counts([c for c in calls if (c.language or "") == k]) for k in languages}
    menu: dict[str, int] = {}
    closed: dict[tuple[str, str, str], int] = {}
    routes: dict[tuple[str, str], int] = {}
    for c in calls:
        menu[c.path or ""] = menu.get(c.path or "", 0) + 1
        key = (c.route or "", c.exit_route or "")
        routes[key] = routes.get(key, 0) + 1
        if c.line_state in CLOSED:
            where = (c.line_state or "", c.route or "", c.route_destination or "")
            closed[where] = closed.get(where, 0) + 1
    answered_known = {k: by_language.get(k, (0, 0, 0))[2] for k in ("fr", "en", "interpreter")}
    total_known = sum(answered_known.values())
    languages_percent = {k: 100.0 * n / total_known for k, n in answered_known.items()}

    # Per navigator (members who are no navigator under None).
    def who(member_name: str | None) -> str | None:
        for username in NAVIGATORS:
            if member_name == member(username):
                return username
        return None

    navigators: dict[str | None, dict[str, float]] = {}

    def nav(key: str | None) -> dict[str, float]:
        return navigators.setdefault(
            key,
            dict.fromkeys(
                (
                    "answered",
                    "talk_s",
                    "after_call_work_s",
                    "logged_in_s",
                    "paused_s",
                    "transfers",
                    "referrals",
                ),
                0.0,
            ),
        )

    for c in answered:
        figures = nav(who(c.answered_by))
        figures["answered"] += 1
        figures["talk_s"] += c.talk or 0.0
    for (_, _, member_name, state), seconds in activity.items():
        if state in ("after_call_work", "logged_in", "paused"):
            nav(who(member_name))[f"{state}_s"] += seconds
    for t in year.transfers:
        local_day = t.started_at.astimezone(ZONE).date()
        if start <= local_day <= end and t.outcome == Outcome.COMPLETED:
            column = "referrals" if t.kind == Kind.REFERRAL else "transfers"
            nav(who(t.navigator_channel))[column] += 1

    # Staffing per local hour: days with calls offered to the queue at that hour.
    staffing = []
    for hour in range(24):
        at_hour = [c for c in calls if c.local.hour == hour]
        offered = [c for c in at_hour if c.outcome is not None]
        days_with = len({c.local.date() for c in offered})
        answered_h = [c for c in offered if c.outcome == "answered"]
        acw_h = sum(v for k, v in activity.items() if k[1] == hour and k[3] == "after_call_work")
        logged_h = sum(v for k, v in activity.items() if k[1] == hour and k[3] == "logged_in")
        handle = sum(c.talk or 0.0 for c in answered_h) + acw_h
        needed = 0
        if days_with and answered_h:
            needed = erlang_agents(
                len(offered) / (days_with * 3600), handle / len(answered_h), target, levels[0]
            )
        staffing.append((hour, days_with, len(offered), len(answered_h), handle, logged_h, needed))
    return {
        "summary": summary,
        "by_day": by_day,
        "by_month": by_month,
        "heat": heat,
        "by_language": by_language,
        "menu": menu,
        "closed": closed,
        "routes": routes,
        "languages_percent": languages_percent,
        "navigators": navigators,
        "staffing": staffing,
    }
