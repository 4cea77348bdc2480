"""The call flow as a state machine: events in, one action out, no I/O.

Shaped like h11's ``_state.py``: an explicit state enum, a table of the events each
state accepts, and one transition per (state, event). Whether the line is open is
decided once, in ``start()``, from the schedule and the ``now`` the adapter passed in,
so a call that starts at 18:59 keeps the open-line menu even if it ends after closing.

Two promises to the caller, checked by the exhaustive tests:
- nobody is hung up on for a wrong key or for silence: after ``max_attempts`` every
  menu takes its default route (French, the navigators' queue, or the closed-hours
  goodbye after the emergency numbers have been given);
- every sequence of keys ends in a ``Finish`` within a bounded number of actions.

What a caller hears first, and when keys work: one short emergency notice in French
("si une vie est en danger, raccrochez et composez le 9-1-1"), which nobody can skip;
then everything up to a choice is part of the menu that follows it (``Gather``): the
greeting, why the line is closed, its hours, the emergency numbers, "invalid choice".
So a caller who knows the keys does not wait, and English is offered within the first
prompts: "For service in English, press 2" after the greeting on an open line, "For
English, press 9" right after "we are closed" on a closed one. What still plays whole
comes just before the call leaves the flow ("transferring", "stay on the line") or is
the research box's notice, which the caller must hear before anything is recorded.

The hours a closed line says are the settings' (``ivr.hours.spoken_hours``), after
"we are closed" (after hours, or the night switch) and "today is a holiday"; an
exceptional closure (a planned one, or a forced closure marked exceptional) says so
and gives no hours.

The research box (Loi 25): the consent notice in the caller's language comes before
anything is recorded; a caller whose number is withheld is asked for a callback number
(typed, read back, confirmed with 1 or re-entered with 2); after ``max_attempts`` the
message is taken without one. The number goes to the decision (``IVR_CALLBACK``), never
to the path, which is logged and inherited by other legs.
"""

from __future__ import annotations

import enum
from dataclasses import replace
from datetime import datetime
from typing import Final

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
    HungUp,
    NoInput,
    Play,
    PlaybackDone,
    PromptRef,
    SayDigits,
)
from ivr.dialplan import Route
from ivr.hours import spoken_hours
from ivr.schedule import LineState, compute_state
from ivr.settings import LANGUAGES, Language, LineSettings

ENTRY_QUEUE_EXIT: Final = "queue-exit"
SWITCH_TO_ENGLISH_KEY: Final = "9"
CALLBACK_MAX_DIGITS: Final = 11
CALLBACK_SKIP: Final = "*"
CONFIRM_KEY: Final = "1"
REENTER_KEY: Final = "2"

_REASON_PROMPTS: Final[dict[str, str]] = {
    "after_hours": "closed-hours",
    "holiday": "closed-holiday",
    "closure": "closed-exceptional",
    # The day/night switch: closed now, here are our hours. A forced closure marked
    # exceptional is reported as "closure" (ivr.schedule).
    "override_closed": "closed-hours",
}
# The reason prompts that the opening hours follow.
_HOURS_AFTER: Final = frozenset({"closed-hours", "closed-holiday"})


def normalise_callback(digits: str) -> str | None:
    """A North American number a navigator can call back: ten digits, area code and
    exchange not starting with 0 or 1 (``4185550199``); a leading ``1`` is dropped
    (``14185550199``). Anything else is None."""
    if len(digits) == CALLBACK_MAX_DIGITS and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or not digits.isdigit():
        return None
    if digits[0] in "01" or digits[3] in "01":
        return None
    return digits


class FlowError(Exception):
    """The adapter drove the flow wrongly (a bug in the adapter, never the caller's doing)."""


class FlowNotStartedError(FlowError):
    """``send()`` before ``start()``, or ``start()`` twice."""


class FlowFinishedError(FlowError):
    """An event after the ``Finish``."""


class UnexpectedEventError(FlowError):
    """An event that does not answer the current action (e.g. a key after a ``Play``)."""


class State(enum.Enum):
    NEW = enum.auto()
    NOTICE = enum.auto()  # Play: the emergency notice, the one prompt keys cannot skip
    LANGUAGE_MENU = enum.auto()  # Gather: (greeting), 1 fr, 2 en, 3 interpreter
    MAIN_MENU = enum.auto()  # Gather: 1 navigator, 2 research box
    CLOSED_MENU = enum.auto()  # Gather: (why closed, hours, emergency numbers), the keys
    RESEARCH_INTRO = enum.auto()  # Play: research-intro + consent notice
    CALLBACK_ENTRY = enum.auto()  # GatherDigits: callback number (withheld caller id)
    CALLBACK_RETRY = enum.auto()  # Play: callback-invalid, then the entry again
    CALLBACK_READBACK = enum.auto()  # SayDigits: "you entered" + the number
    CALLBACK_CONFIRM = enum.auto()  # Gather: 1 confirm, 2 re-enter
    CONFIRM_RETRY = enum.auto()  # Play: invalid-key, then the readback again
    ANNOUNCE = enum.auto()  # Play: last words before the decision is handed over
    FINISHED = enum.auto()


_PLAY_STATES: Final = frozenset(
    {State.NOTICE, State.ANNOUNCE, State.RESEARCH_INTRO, State.CALLBACK_RETRY}
    | {State.CALLBACK_READBACK, State.CONFIRM_RETRY}
)
_GATHER_STATES: Final = frozenset(
    {State.LANGUAGE_MENU, State.MAIN_MENU, State.CLOSED_MENU, State.CALLBACK_CONFIRM}
)


class CallFlow:
    """One call's flow. ``start()`` once, then ``send()`` the outcome of each action."""

    def __init__(self, settings: LineSettings, now: datetime, call: CallInfo) -> None:
        self._settings = settings
        self._now = now
        self._call = call
        self.state = State.NEW
        self.line_state: LineState | None = None
        self._language: Language = "fr"
        self._path: list[str] = []
        self._attempt = 0
        self._reason_prompt = "closed-hours"
        self._pending: Decision | None = None
        self._callback: str | None = None
        self._entry_attempt = 0
        self._confirm_attempt = 0

    @property
    def finished(self) -> bool:
        return self.state is State.FINISHED

    @property
    def language(self) -> Language:
        return self._language

    # ---- driving ------------------------------------------------------------

    def start(self) -> Action:
        if self.state is not State.NEW:
            raise FlowNotStartedError("start() was already called")
        self.line_state = compute_state(self._settings.schedule, self._now)
        if self._call.extra.get("entry") == ENTRY_QUEUE_EXIT:
            requested = self._call.extra.get("language", "fr")
            self._language = next((lang for lang in LANGUAGES if lang == requested), "fr")
            self._path.append(ENTRY_QUEUE_EXIT)
            self._reason_prompt = "queue-unavailable"
            # The caller heard the emergency notice when the call came in.
            return self._closed_menu(lead=self._closed_info())
        if self.line_state.is_open:
            self._path.append("open")
        else:
            self._path.append(f"closed:{self.line_state.reason}")
            self._reason_prompt = _REASON_PROMPTS.get(self.line_state.reason, "closed-exceptional")
        self.state = State.NOTICE
        return Play((PromptRef("emergency-notice", "fr"),))

    def send(self, event: Event) -> Action:
        if self.state is State.NEW:
            raise FlowNotStartedError("call start() before send()")
        if self.state is State.FINISHED:
            raise FlowFinishedError(f"the flow is finished; {event!r} cannot be handled")
        if isinstance(event, HungUp):
            self._path.append("hangup")
            return self._finish(Route.HANGUP)
        if self.state in _PLAY_STATES:
            if not isinstance(event, PlaybackDone):
                raise UnexpectedEventError(f"{self.state.name} plays prompts; got {event!r}")
            return self._after_play()
        if self.state is State.CALLBACK_ENTRY:
            if not isinstance(event, DigitsEntered | NoInput):
                raise UnexpectedEventError(f"{self.state.name} waits for digits; got {event!r}")
            return self._on_callback(event.digits if isinstance(event, DigitsEntered) else None)
        if not isinstance(event, DigitPressed | NoInput):
            raise UnexpectedEventError(f"{self.state.name} waits for a key; got {event!r}")
        digit = event.digit if isinstance(event, DigitPressed) else None
        if self.state is State.LANGUAGE_MENU:
            return self._on_language(digit)
        if self.state is State.MAIN_MENU:
            return self._on_main(digit)
        if self.state is State.CALLBACK_CONFIRM:
            return self._on_confirm(digit)
        return self._on_closed(digit)

    # ---- transitions ----------------------------------------------------------

    def _after_play(self) -> Action:
        if self.state is State.NOTICE:
            greeting = PromptRef("greeting", "fr")
            if self.line_state is not None and self.line_state.is_open:
                return self._language_menu(lead=(greeting,))
            return self._closed_menu(lead=(greeting, *self._closed_info()))
        if self.state is State.RESEARCH_INTRO:
            if self._call.caller_number:
                return self._to_research(callback=None, prompts=())
            self._path.append("callback:withheld")
            return self._callback_entry()
        if self.state is State.CALLBACK_RETRY:
            return self._callback_entry()
        if self.state is State.CALLBACK_READBACK:
            return self._callback_confirm()
        if self.state is State.CONFIRM_RETRY:
            return self._callback_readback()
        if self._pending is None:
            raise FlowError(f"no decision pending in {self.state.name}")
        self.state = State.FINISHED
        return Finish(self._pending)

    def _on_language(self, digit: str | None) -> Action:
        if digit is None:
            self._path.append("lang:timeout")
            return self._choose_language("fr")
        if digit == "1":
            self._path.append("lang:fr")
            return self._choose_language("fr")
        if digit == "2":
            self._path.append("lang:en")
            return self._choose_language("en")
        if digit == "3":
            self._path.append("lang:other")
            self._language = "fr"
            return self._announce(
                (PromptRef("interpreter-hold", "fr"), PromptRef("interpreter-hold", "en")),
                Route.QUEUE,
                interpreter=True,
                queue=self._settings.queue_name,
            )
        self._path.append("lang:invalid")
        if self._attempt >= self._settings.menu.max_attempts:
            self._path.append("lang:default")
            return self._choose_language("fr")
        return self._language_menu(
            lead=(PromptRef("invalid-key", "fr"), PromptRef("invalid-key", "en"))
        )

    def _on_main(self, digit: str | None) -> Action:
        if digit == "1":
            self._path.append("main:1")
            return self._to_navigator()
        if digit == "2":
            self._path.append("main:2")
            return self._research_intro()
        self._path.append("main:timeout" if digit is None else "main:invalid")
        if self._attempt >= self._settings.menu.max_attempts:
            self._path.append("main:default")
            return self._to_navigator()
        if digit is None:
            return self._main_menu()
        return self._main_menu(lead=(PromptRef("invalid-key", self._language),))

    def _on_closed(self, digit: str | None) -> Action:
        settings = self._settings
        if digit is not None and digit in settings.closed_transfer_keys:
            self._path.append(f"menu:{digit}")
            return self._transfer(settings.closed_transfer_keys[digit])
        if digit is not None and digit == settings.closed_research_key:
            self._path.append(f"menu:{digit}")
            self._path.append("research")
            return self._research_intro()
        if digit == SWITCH_TO_ENGLISH_KEY and self._language == "fr":
            self._path.append("lang:en")
            self._language = "en"
            self._attempt = 0
            return self._closed_menu(lead=self._closed_info())
        self._path.append("menu:timeout" if digit is None else "menu:invalid")
        exhausted = self._attempt >= settings.menu.max_attempts
        if exhausted:
            self._path.append("menu:default")
            return self._finish(Route.CLOSED)
        if digit is None:
            return self._closed_menu()
        return self._closed_menu(lead=(PromptRef("invalid-key", self._language),))

    def _on_callback(self, digits: str | None) -> Action:
        if digits == CALLBACK_SKIP:
            self._path.append("callback:skipped")
            return self._without_callback()
        number = None if digits is None else normalise_callback(digits)
        if number is not None:
            self._path.append("callback:entered")
            self._callback = number
            self._confirm_attempt = 0
            return self._callback_readback()
        self._path.append("callback:timeout" if digits is None else "callback:invalid")
        if self._entry_attempt >= self._settings.menu.max_attempts:
            return self._without_callback()
        if digits is None:
            return self._callback_entry()
        self.state = State.CALLBACK_RETRY
        return Play((PromptRef("callback-invalid", self._language),))

    def _on_confirm(self, digit: str | None) -> Action:
        if digit == CONFIRM_KEY and self._callback is not None:
            self._path.append("callback:confirmed")
            return self._to_research(callback=self._callback, prompts=())
        if digit == REENTER_KEY:
            self._path.append("callback:reenter")
            self._callback = None
            if self._entry_attempt >= self._settings.menu.max_attempts:
                return self._without_callback()
            return self._callback_entry()
        self._path.append("confirm:timeout" if digit is None else "confirm:invalid")
        if self._confirm_attempt >= self._settings.menu.max_attempts:
            return self._without_callback()
        if digit is None:
            return self._callback_readback()
        self.state = State.CONFIRM_RETRY
        return Play((PromptRef("invalid-key", self._language),))

    def _transfer(self, key: str) -> Action:
        destination = self._settings.destination(key)
        number = None if destination is None else destination.number_for(self._settings.territory)
        if destination is None or not number:
            self._path.append(f"transfer-failed:{key}")
            failed = (
                PromptRef("transfer-failed", self._language),
                PromptRef("emergency-numbers", self._language),
            )
            if self._attempt >= self._settings.menu.max_attempts:
                self._path.append("menu:default")
                return self._announce(failed, Route.CLOSED)
            return self._closed_menu(lead=failed)
        self._path.append(f"transfer:{key}")
        return self._announce(
            (PromptRef("transferring", self._language),),
            Route.TRANSFER,
            destination=destination.key,
            number=number,
        )

    # ---- actions --------------------------------------------------------------

    def _choose_language(self, language: Language) -> Action:
        self._language = language
        self._attempt = 0
        # The emergency notice was given in French only: an English caller hears it
        # once in English, before the menu (and can press a key through it).
        lead = (PromptRef("emergency-notice", "en"),) if language == "en" else ()
        return self._main_menu(lead=lead)

    def _language_menu(self, lead: tuple[PromptRef, ...] = ()) -> Action:
        self._attempt += 1
        self.state = State.LANGUAGE_MENU
        return self._gather(
            (*lead, PromptRef("language-menu", "fr"), PromptRef("language-menu", "en")), "123"
        )

    def _main_menu(self, lead: tuple[PromptRef, ...] = ()) -> Action:
        self._attempt += 1
        self.state = State.MAIN_MENU
        return self._gather((*lead, PromptRef("main-menu", self._language)), "12")

    def _closed_info(self) -> tuple[PromptRef, ...]:
        """Why the line is closed, the English offer (in French), the opening hours
        when the reason calls for them, the emergency numbers."""
        language = self._language
        english = (PromptRef("for-english", "en"),) if language == "fr" else ()
        hours = (
            spoken_hours(self._settings.schedule.weekly, language)
            if self._reason_prompt in _HOURS_AFTER
            else ()
        )
        return (
            PromptRef(self._reason_prompt, language),
            *english,
            *hours,
            PromptRef("emergency-numbers", language),
        )

    def _closed_menu(self, lead: tuple[PromptRef, ...] = ()) -> Action:
        self._attempt += 1
        self.state = State.CLOSED_MENU
        settings = self._settings
        keys = {*settings.closed_transfer_keys, settings.closed_research_key}
        prompts = (*lead, PromptRef("closed-menu", self._language))
        if self._language == "fr":
            keys.add(SWITCH_TO_ENGLISH_KEY)
            prompts += (PromptRef("for-english", "en"),)
        return self._gather(prompts, "".join(sorted(keys)))

    def _to_navigator(self) -> Action:
        return self._announce(
            (PromptRef("to-navigator", self._language),),
            Route.QUEUE,
            queue=self._settings.queue_name,
        )

    def _research_intro(self) -> Action:
        self.state = State.RESEARCH_INTRO
        return Play(
            (
                PromptRef("research-intro", self._language),
                PromptRef("consent-notice", self._language),
            )
        )

    def _callback_entry(self) -> Action:
        self._entry_attempt += 1
        self.state = State.CALLBACK_ENTRY
        return GatherDigits(
            (PromptRef("callback-request", self._language),),
            max_digits=CALLBACK_MAX_DIGITS,
            timeout_ms=self._settings.menu.digit_timeout_ms,
        )

    def _callback_readback(self) -> Action:
        if self._callback is None:
            raise FlowError("no callback number to read back")
        self.state = State.CALLBACK_READBACK
        return SayDigits(
            self._callback,
            self._language,
            intro=(PromptRef("callback-you-entered", self._language),),
        )

    def _callback_confirm(self) -> Action:
        self._confirm_attempt += 1
        self.state = State.CALLBACK_CONFIRM
        return self._gather(
            (PromptRef("callback-confirm", self._language),), CONFIRM_KEY + REENTER_KEY
        )

    def _without_callback(self) -> Action:
        self._path.append("callback:none")
        self._callback = None
        return self._to_research(
            callback=None, prompts=(PromptRef("callback-none", self._language),)
        )

    def _to_research(self, *, callback: str | None, prompts: tuple[PromptRef, ...]) -> Action:
        return self._announce(
            (*prompts, PromptRef("research-record", self._language)),
            Route.RESEARCH,
            mailbox=self._settings.research_mailbox,
            callback=callback,
        )

    def _gather(self, prompts: tuple[PromptRef, ...], accept: str) -> Gather:
        return Gather(prompts, accept, self._settings.menu.digit_timeout_ms)

    def _decision(self, route: Route) -> Decision:
        state = self.line_state
        return Decision(
            route=route,
            language=self._language,
            path=tuple(self._path),
            line_state="" if state is None else state.reason,
            closes_at=state.until if state is not None and state.is_open else None,
        )

    def _announce(
        self,
        prompts: tuple[PromptRef, ...],
        route: Route,
        *,
        interpreter: bool = False,
        destination: str | None = None,
        number: str | None = None,
        queue: str | None = None,
        mailbox: str | None = None,
        callback: str | None = None,
    ) -> Action:
        self._pending = replace(
            self._decision(route),
            interpreter=interpreter,
            destination=destination,
            number=number,
            queue=queue,
            mailbox=mailbox,
            callback=callback,
        )
        self.state = State.ANNOUNCE
        return Play(prompts)

    def _finish(self, route: Route) -> Finish:
        self.state = State.FINISHED
        return Finish(self._decision(route))
