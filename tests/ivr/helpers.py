"""Builders for the ivr tests: DOMAIN.md's default line, fixed instants, a flow driver."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from itertools import product
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from ivr.actions import (
    Action,
    CallInfo,
    Decision,
    DigitPressed,
    DigitsEntered,
    Event,
    Finish,
    Gather,
    GatherDigits,
    NoInput,
    Play,
    PlaybackDone,
    PromptRef,
    SayDigits,
)
from ivr.flow import CallFlow
from ivr.settings import (
    Closure,
    DayHours,
    Destination,
    HolidayRules,
    LineSettings,
    MenuSettings,
    Override,
    Schedule,
    WeeklyHours,
)

TORONTO = ZoneInfo("America/Toronto")
TERRITORY = "capitale-nationale"
WEEKDAY_HOURS = DayHours(time(8, 0), time(19, 0))
WEEKEND_HOURS = DayHours(time(8, 0), time(15, 30))

# A week without holidays: Monday 2026-03-09 .. Sunday 2026-03-15.
MONDAY = date(2026, 3, 9)


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=TORONTO)


# Tuesday 10:00 (open), Tuesday 22:00 (after hours), Christmas 17:00 (holiday, closed).
OPEN_NOW = local(2026, 3, 10, 10)
AFTER_HOURS_NOW = local(2026, 3, 10, 22)
HOLIDAY_CLOSED_NOW = local(2026, 12, 25, 17)


def weekly_hours() -> WeeklyHours:
    days = {weekday: WEEKDAY_HOURS for weekday in range(5)}
    days.update({5: WEEKEND_HOURS, 6: WEEKEND_HOURS})
    return WeeklyHours(days=days, holiday=WEEKEND_HOURS)


def make_schedule(
    *,
    closures: tuple[Closure, ...] = (),
    override: Override | None = None,
    categories: tuple[str, ...] = ("public",),
    added: Mapping[date, str] | None = None,
    removed: frozenset[date] = frozenset(),
    weekly: WeeklyHours | None = None,
) -> Schedule:
    return Schedule(
        timezone="America/Toronto",
        weekly=weekly if weekly is not None else weekly_hours(),
        holidays=HolidayRules(
            country="CA",
            subdivision="QC",
            categories=categories,
            added=dict(added or {}),
            removed=removed,
        ),
        closures=closures,
        override=override,
    )


def destinations() -> tuple[Destination, ...]:
    """DOMAIN.md's default directory; the crisis centre's number is a test placeholder."""

    def dest(key: str, fr: str, en: str, numbers: dict[str, str]) -> Destination:
        return Destination(key, fr, en, "emergency", key, numbers)

    return (
        dest("911", "Urgence", "Emergency", {"*": "911"}),
        dest("811", "Info-Santé / Info-Social", "Info-Santé / Info-Social", {"*": "811"}),
        dest("crise", "Centre de crise", "Crisis centre", {TERRITORY: "4185550199"}),
        dest("cps", "Centre de prévention du suicide", "Suicide prevention", {"*": "18662773553"}),
        dest("sosvc", "SOS violence conjugale", "SOS conjugal violence", {"*": "18003639010"}),
        dest("988", "9-8-8", "9-8-8", {"*": "988"}),
    )


def make_settings(
    schedule: Schedule | None = None,
    *,
    max_attempts: int = 3,
    dests: tuple[Destination, ...] | None = None,
    **changes: Any,
) -> LineSettings:
    settings = LineSettings(
        schedule=schedule if schedule is not None else make_schedule(),
        destinations=dests if dests is not None else destinations(),
        territory=TERRITORY,
        menu=MenuSettings(max_attempts=max_attempts, digit_timeout_ms=5000),
    )
    return replace(settings, **changes)


# ---- driving the flow ---------------------------------------------------------

Answer = str | None  # a key, or None for silence (NoInput)


def to_event(answer: Answer) -> Event:
    return NoInput() if answer is None else DigitPressed(answer)


@dataclass
class Transcript:
    actions: list[Action] = field(default_factory=list)
    answers_used: int = 0
    silences_padded: int = 0

    @property
    def decision(self) -> Decision | None:
        last = self.actions[-1] if self.actions else None
        return last.decision if isinstance(last, Finish) else None

    @property
    def prompt_refs(self) -> list[PromptRef]:
        refs: list[PromptRef] = []
        for action in self.actions:
            if isinstance(action, Play | Gather | GatherDigits):
                refs.extend(action.prompts)
            elif isinstance(action, SayDigits):
                refs.extend(action.intro)
        return refs

    @property
    def prompts(self) -> list[str]:
        return [f"{ref.name}/{ref.language}" for ref in self.prompt_refs]


def drive(
    flow: CallFlow,
    answers: Iterable[Answer],
    *,
    pad_with_silence: bool = False,
    max_actions: int = 100,
) -> Transcript:
    """Run the flow: acknowledge each Play, answer each Gather with the next answer.

    Without ``pad_with_silence`` the answers must last exactly until the Finish.
    """
    pending: Iterator[Answer] = iter(answers)
    transcript = Transcript()
    action = flow.start()
    for _ in range(max_actions):
        transcript.actions.append(action)
        if isinstance(action, Finish):
            leftover = list(pending)
            if leftover and not pad_with_silence:
                raise AssertionError(f"flow finished with answers left over: {leftover}")
            return transcript
        if isinstance(action, Play | SayDigits):
            action = flow.send(PlaybackDone())
            continue
        try:
            answer = next(pending)
            transcript.answers_used += 1
        except StopIteration:
            if not pad_with_silence:
                raise AssertionError("the flow asked for more answers than given") from None
            answer = None
            transcript.silences_padded += 1
        if isinstance(action, GatherDigits):
            action = flow.send(NoInput() if answer is None else DigitsEntered(answer))
            continue
        action = flow.send(to_event(answer))
    raise AssertionError(f"no Finish after {max_actions} actions")


ALL_KEYS: tuple[Answer, ...] = (*"0123456789*#", None)
# Every key some menu gives a meaning to, two keys no menu accepts, and silence: the
# flow treats every other key like "0". The random tests send all of ALL_KEYS.
DISTINCT_KEYS: tuple[Answer, ...] = ("1", "2", "3", "9", "0", "*", None)


def all_sequences(alphabet: Sequence[Answer], length: int) -> Iterator[tuple[Answer, ...]]:
    for size in range(length + 1):
        yield from product(alphabet, repeat=size)


def sampled_sequences(
    alphabet: Sequence[Answer], length: int, count: int, seed: int
) -> Iterator[tuple[Answer, ...]]:
    rng = random.Random(seed)
    for _ in range(count):
        yield tuple(rng.choice(alphabet) for _ in range(rng.randint(0, length)))


def explore(
    make_flow: Callable[[], CallFlow], alphabet: Sequence[Answer], depth: int
) -> Iterator[tuple[tuple[Answer, ...], Transcript]]:
    """Every distinct way through the flow with up to ``depth`` answers from ``alphabet``
    (silence after that). A prefix that already finished the call is not extended, so
    this visits each branch once instead of every sequence of ``depth`` answers."""
    stack: list[tuple[Answer, ...]] = [()]
    while stack:
        prefix = stack.pop()
        transcript = drive(make_flow(), prefix, pad_with_silence=True)
        if transcript.answers_used < len(prefix):
            continue
        yield prefix, transcript
        if len(prefix) < depth and transcript.silences_padded:
            stack.extend((*prefix, answer) for answer in alphabet)


@functools.cache
def flow_scenarios() -> Mapping[str, tuple[LineSettings, datetime, CallInfo]]:
    """Every way a call can start: open, each closed reason, queue exit, broken directory."""
    closure = Closure(local(2026, 3, 10, 9), local(2026, 3, 10, 12), "tempête")
    broken = tuple(d for d in destinations() if d.key != "cps")
    no_number = replace(make_settings(), closed_transfer_keys={"1": "811", "2": "crise"})
    scenarios = {
        "open": (make_settings(), OPEN_NOW, CallInfo()),
        "open-one-attempt": (make_settings(max_attempts=1), OPEN_NOW, CallInfo()),
        "after-hours": (make_settings(), AFTER_HOURS_NOW, CallInfo()),
        "holiday": (make_settings(), HOLIDAY_CLOSED_NOW, CallInfo()),
        "closure": (make_settings(make_schedule(closures=(closure,))), OPEN_NOW, CallInfo()),
        "override-closed": (
            make_settings(make_schedule(override=Override("closed"))),
            OPEN_NOW,
            CallInfo(),
        ),
        "override-exceptional": (
            make_settings(make_schedule(override=Override("closed", exceptional=True))),
            OPEN_NOW,
            CallInfo(),
        ),
        "missing-destination": (make_settings(dests=broken), AFTER_HOURS_NOW, CallInfo()),
        "no-number-for-territory": (
            replace(no_number, territory="chaudiere-appalaches"),
            AFTER_HOURS_NOW,
            CallInfo(),
        ),
        "queue-exit-fr": (make_settings(), OPEN_NOW, CallInfo(extra={"entry": "queue-exit"})),
        "queue-exit-en": (
            make_settings(),
            OPEN_NOW,
            CallInfo(extra={"entry": "queue-exit", "language": "en"}),
        ),
    }
    return MappingProxyType(scenarios)
