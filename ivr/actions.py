"""What the call flow asks of a telephony adapter, and what the adapter reports back.

The flow (``ivr.flow.CallFlow``) is a state machine: ``start()`` returns the first
action, then each ``send(event)`` returns the next one, until a ``Finish``.
The adapter never decides anything; it plays, collects keys, and reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from ivr.dialplan import Route
from ivr.settings import Language

#: Between the steps of a call's path: ``open/lang:fr/main:1``.
PATH_SEPARATOR: Final = "/"


@dataclass(frozen=True)
class PromptRef:
    """One prompt of the catalogue (``ivr.prompts``) in one language."""

    name: str
    language: Language


# ---- actions (flow -> adapter) ------------------------------------------------


@dataclass(frozen=True)
class Play:
    """Play these prompts in order, without listening for keys, then send ``PlaybackDone``."""

    prompts: tuple[PromptRef, ...]


@dataclass(frozen=True)
class Gather:
    """Play these prompts, interruptible by any of ``accept`` keys, then wait up to
    ``timeout_ms`` for one key. Report ``DigitPressed`` (any key, even one not in
    ``accept``: the flow judges it) or ``NoInput`` on timeout."""

    prompts: tuple[PromptRef, ...]
    accept: str
    timeout_ms: int


@dataclass(frozen=True)
class GatherDigits:
    """Play these prompts, then collect up to ``max_digits`` keys ended by
    ``terminator`` or by ``timeout_ms`` of silence (Asterisk's GET DATA: the last prompt
    is the one GET DATA plays, interruptible by the first key; those before it are
    played whole). Report ``DigitsEntered`` with what was typed (perhaps empty: only the
    terminator was pressed), or ``NoInput`` when nothing at all was typed in time."""

    prompts: tuple[PromptRef, ...]
    max_digits: int
    timeout_ms: int
    terminator: str = "#"

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError("GatherDigits needs a prompt (GET DATA plays one)")
        if self.max_digits < 1:
            raise ValueError("max_digits must be at least 1")


@dataclass(frozen=True)
class SayDigits:
    """Play ``intro``, then read ``digits`` back one by one in ``language``; then send
    ``PlaybackDone``."""

    digits: str
    language: Language
    intro: tuple[PromptRef, ...] = ()


@dataclass(frozen=True)
class Decision:
    """How the call leaves the flow: the dialplan acts on it."""

    route: Route
    language: Language
    path: tuple[str, ...]
    interpreter: bool = False
    destination: str | None = None  # key of the directory, for Route.TRANSFER
    number: str | None = None  # the destination's full dialable number
    queue: str | None = None  # for Route.QUEUE
    mailbox: str | None = None  # for Route.RESEARCH
    callback: str | None = None  # for Route.RESEARCH: the number typed by the caller
    line_state: str = ""  # why the line was open/closed (LineState.reason)
    # When an open line next closes, if known: the queue wait ends then, so nobody
    # waits for a navigator after closing time.
    closes_at: datetime | None = None

    @property
    def path_text(self) -> str:
        return PATH_SEPARATOR.join(self.path)


@dataclass(frozen=True)
class Finish:
    """The flow is over: set the decision's channel variables and return to the dialplan."""

    decision: Decision


Action = Play | Gather | GatherDigits | SayDigits | Finish


# ---- events (adapter -> flow) -------------------------------------------------


@dataclass(frozen=True)
class PlaybackDone:
    pass


@dataclass(frozen=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True)
class DigitsEntered:
    """The answer to ``GatherDigits``: the keys typed (without the terminator), and
    whether the entry ended by silence rather than by the terminator or ``max_digits``."""

    digits: str
    timed_out: bool = False


@dataclass(frozen=True)
class NoInput:
    pass


@dataclass(frozen=True)
class HungUp:
    pass


Event = PlaybackDone | DigitPressed | DigitsEntered | NoInput | HungUp


@dataclass(frozen=True)
class CallInfo:
    """What the flow knows of the caller when the call starts."""

    caller_number: str | None = None
    dialed_number: str | None = None
    channel_language: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def path_steps(path_text: str) -> tuple[tuple[str, str], ...]:
    """A path as the flow writes it (``Decision.path_text``), step by step, each as
    (what, which): ``open/lang:fr/main:1`` -> ``(("open", ""), ("lang", "fr"),
    ("main", "1"))``; ``closed:after_hours``, ``menu:2``, ``transfer:cps`` name what
    happened after the colon. Empty steps (a path cut short, ``//``) are left out."""
    steps = []
    for step in path_text.split(PATH_SEPARATOR):
        what, _sep, which = step.strip().partition(":")
        if what or which:
            steps.append((what, which))
    return tuple(steps)
