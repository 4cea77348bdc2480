"""Run ``ivr.flow.CallFlow`` on an AGI channel: the flow decides, this only executes.

One call, in order:

1. ``ANSWER``, then ``SET VARIABLE IVR_FLOW_DONE ""``: the flag may be left over from
   an earlier pass on the same channel (the dialplan comes back for ``queue-exit``), and
   the dialplan must never see ``1`` from a run that did not finish.
2. Line settings from ``settings_source``: from its ``fresh()`` when it has one and it
   answers (settings already in memory, e.g. ``store.linesettings.CachedSettings``
   within its time to live), else from the source itself in a thread (it may query the
   database).
3. AstDB mirror (``ivr.mirror.line_mirror``): ``DATABASE PUT ivr211 <key> <value>``
   only for the values this process has not written yet, so the dialplan's fallback
   (used when this server is unreachable, AGISTATUS=FAILURE) knows overrides, closures
   and holidays, and the navigators' transfer codes dial the directory's numbers,
   without a write per key on every call.
4. The flow's actions: ``Play`` -> ``STREAM FILE 211/<name> ""``; ``Gather`` ->
   ``STREAM FILE 211/<name> "<accept>"`` per prompt until a key, then ``WAIT FOR DIGIT``;
   ``GatherDigits`` -> ``GET DATA 211/<last prompt> <timeout> <max digits>`` (1a:
   ``200 result=4185550199``; ``200 result= (timeout)``); ``SayDigits`` -> ``SAY DIGITS
   <digits> ""``.
   ``SET VARIABLE CHANNEL(language) fr|en`` whenever the prompt language changes:
   Asterisk picks the sound folder from it.
5. ``Finish``: the decision's variables (``__`` prefix for the inherited ones), then
   ``IVR_FLOW_DONE=1`` last.

On a hang-up the flow gets ``HungUp`` and the path and route are still written
(``SET VARIABLE`` works on a dead channel, 1b), without ``IVR_FLOW_DONE``.

Each ``STREAM FILE`` and ``GET DATA`` is given the longest its prompt can last
(:func:`longest_speech_s`, from the prompt's text), so the channel waits for the reply
that long plus a margin, and no longer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from agi_scripts.channel import Channel
from agi_scripts.errors import AgiError, ChannelHungUp
from agi_scripts.protocol import AgiHeader
from ivr.actions import (
    Action,
    CallInfo,
    Decision,
    DigitPressed,
    DigitsEntered,
    Event,
    Finish,
    GatherDigits,
    HungUp,
    NoInput,
    Play,
    PlaybackDone,
    PromptRef,
    SayDigits,
)
from ivr.callerid import caller_number
from ivr.dialplan import (
    ASTDB_FAMILY,
    INHERITED,
    VAR_CALLBACK,
    VAR_CLOSES_AT,
    VAR_DEST,
    VAR_DEST_NUMBER,
    VAR_FLOW_DONE,
    VAR_INTERPRETER,
    VAR_LANG,
    VAR_LINE_STATE,
    VAR_MAILBOX,
    VAR_PATH,
    VAR_QUEUE,
    VAR_ROUTE,
    Route,
)
from ivr.flow import CallFlow
from ivr.logsafe import printable
from ivr.mirror import line_mirror
from ivr.prompts import prompt_text, sound_file
from ivr.schedule import astdb_mirror_valid_until
from ivr.settings import LineSettings

log = logging.getLogger(__name__)

SettingsSource = Callable[[], LineSettings]
Clock = Callable[[], datetime]
CHANNEL_LANGUAGE = "CHANNEL(language)"
_NO_DNID = frozenset({"", "unknown"})
#: The slowest speech a prompt may be recorded at, in characters of its text per second.
#: espeak-ng (tools/make_prompts.py) says the emergency numbers (299 characters in
#: French) in about 24 s, 12.5 characters/s; a person reading slowly stays above 8.
SLOWEST_SPEECH_CPS = 8.0


def longest_speech_s(prompt: PromptRef, settings: LineSettings) -> float | None:
    """The longest ``prompt`` can last when spoken, from its text; None when the
    catalogue has no text for it (the channel then uses its limit for the unknown)."""
    try:
        text = prompt_text(prompt, settings)
    except KeyError:
        return None
    return len(text) / SLOWEST_SPEECH_CPS


def var_name(name: str) -> str:
    """``IVR_PATH`` -> ``__IVR_PATH``: inherited variables follow the call to the
    navigator's leg (``ivr.dialplan.INHERITED``)."""
    return f"__{name}" if name in INHERITED else name


def decision_variables(decision: Decision) -> list[tuple[str, str]]:
    """The channel variables of a decision, in the order they are set (without
    ``IVR_FLOW_DONE``, which comes last, and ``CHANNEL(language)``). ``None`` becomes
    ``""`` so a value left by an earlier pass on the channel is cleared."""
    values = [
        (VAR_ROUTE, decision.route.value),
        (VAR_LANG, decision.language),
        (VAR_PATH, decision.path_text),
        (VAR_INTERPRETER, "1" if decision.interpreter else "0"),
        (VAR_DEST, decision.destination or ""),
        (VAR_DEST_NUMBER, decision.number or ""),
        (VAR_QUEUE, decision.queue or ""),
        (VAR_MAILBOX, decision.mailbox or ""),
        (VAR_LINE_STATE, decision.line_state),
        (
            VAR_CLOSES_AT,
            "" if decision.closes_at is None else str(int(decision.closes_at.timestamp())),
        ),
        (VAR_CALLBACK, decision.callback or ""),
    ]
    return [(var_name(name), value) for name, value in values]


def call_info(header: AgiHeader) -> CallInfo:
    """What the flow knows of the caller, from the header.

    Whether the number is withheld is ``ivr.callerid``'s rule, on ``agi_callerid`` and
    ``agi_callingpres`` (5a: ``unknown`` and ``67``; a SIP trunk's ``anonymous``; a
    number the caller hid). ``agi_dnid: unknown`` is no dialled number (1a).
    ``agi_arg_1`` is the entry (``AGI(agi://host/incoming,queue-exit,en)``),
    ``agi_arg_2`` its language.
    """
    dnid = header.get("dnid")
    extra: dict[str, str] = {}
    args = header.args
    if args and args[0]:
        extra["entry"] = args[0]
    if len(args) > 1 and args[1]:
        extra["language"] = args[1]
    return CallInfo(
        caller_number=caller_number(header.get("callerid"), header.get("callingpres") or None),
        dialed_number=None if dnid in _NO_DNID else dnid,
        channel_language=header.get("language") or None,
        extra=extra,
    )


class FixedSettings:
    """A ``SettingsSource`` of settings that never change (the simulator, tests, benches):
    always fresh, never read in a thread."""

    def __init__(self, settings: LineSettings) -> None:
        self._settings = settings

    def __call__(self) -> LineSettings:
        return self._settings

    def fresh(self) -> LineSettings:
        return self._settings


def fresh_settings(source: SettingsSource) -> LineSettings | None:
    """The settings ``source`` holds in memory right now, from its ``fresh()`` method
    when it has one; None when it has none or must read them (a database, a file)."""
    fresh = getattr(source, "fresh", None)
    if fresh is None:
        return None
    settings: LineSettings | None = fresh()
    return settings


async def read_settings(source: SettingsSource) -> LineSettings:
    """The line settings for one call: at once when ``source`` holds them fresh, else
    from ``source`` in a thread (a database read must not stop the other calls)."""
    settings = fresh_settings(source)
    if settings is None:
        settings = await asyncio.to_thread(source)
    return settings


class AstdbMemo:
    """The AstDB values this process wrote last: a per-process memo, shared by all calls.

    Asterisk keeps AstDB across restarts, so a value written once stays valid until the
    schedule changes it; a restart of this server writes everything once again.
    """

    def __init__(self) -> None:
        self._written: dict[str, str] = {}
        self._held: tuple[LineSettings, datetime, datetime, dict[str, str]] | None = None
        self._confirmed: Mapping[str, str] | None = None

    def mirror(self, settings: LineSettings, now: datetime) -> dict[str, str]:
        """``line_mirror(settings, now)``, computed again only for other settings or
        once ``now`` leaves the span the last one holds for
        (``astdb_mirror_valid_until``): most calls reuse the same mapping."""
        held = self._held
        if held is not None and held[0] is settings and held[1] <= now < held[2]:
            return held[3]
        values = line_mirror(settings, now)
        self._held = (settings, now, astdb_mirror_valid_until(settings.schedule, now), values)
        return values

    def changed(self, mirror: Mapping[str, str]) -> list[tuple[str, str]]:
        """What of ``mirror`` this process has not written yet, by key."""
        if mirror is self._confirmed:
            return []
        pending = [(k, v) for k, v in sorted(mirror.items()) if self._written.get(k) != v]
        if not pending:
            self._confirmed = mirror
        return pending

    def record(self, key: str, value: str) -> None:
        self._written[key] = value


@dataclass(frozen=True)
class CallOutcome:
    """How one call left the flow, for the per-call log line."""

    finished: bool
    hung_up: bool
    decision: Decision | None

    @property
    def route(self) -> str:
        return "-" if self.decision is None else self.decision.route.value

    @property
    def path(self) -> str:
        return "-" if self.decision is None else self.decision.path_text


class FlowRunner:
    """Executes one ``CallFlow`` on one ``Channel``."""

    def __init__(self, channel: Channel, header: AgiHeader) -> None:
        self._channel = channel
        self._header = header
        self._language = header.get("language")
        self._decision: Decision | None = None
        self._settings: LineSettings | None = None

    async def run(
        self, settings_source: SettingsSource, clock: Clock, memo: AstdbMemo
    ) -> CallOutcome:
        flow: CallFlow | None = None
        try:
            await self._channel.answer()
            await self._channel.set_variable(VAR_FLOW_DONE, "")
            settings = await read_settings(settings_source)
            self._settings = settings
            now = clock()
            await self._mirror_astdb(settings, now, memo)
            flow = CallFlow(settings, now, call_info(self._header))
            action = flow.start()
            while not isinstance(action, Finish):
                action = flow.send(await self._execute(action))
            await self._finish(action.decision)
            return CallOutcome(finished=True, hung_up=False, decision=action.decision)
        except ChannelHungUp as exc:
            log.info("caller hung up on %s: %s", printable(self._channel.name), printable(exc))
            return await self._hung_up(flow)

    async def _mirror_astdb(self, settings: LineSettings, now: datetime, memo: AstdbMemo) -> None:
        for key, value in memo.changed(memo.mirror(settings, now)):
            if await self._channel.database_put(ASTDB_FAMILY, key, value):
                memo.record(key, value)
            else:
                log.warning("DATABASE PUT %s/%s refused by Asterisk", ASTDB_FAMILY, key)

    async def _set_language(self, language: str) -> None:
        if language != self._language:
            await self._channel.set_variable(CHANNEL_LANGUAGE, language)
            self._language = language

    def _length(self, prompt: PromptRef) -> float | None:
        return None if self._settings is None else longest_speech_s(prompt, self._settings)

    async def _stream(self, prompt: PromptRef, escape_digits: str) -> str | None:
        await self._set_language(prompt.language)
        return await self._channel.stream_file(
            sound_file(prompt.name),
            escape_digits,
            confirm_hangup=True,
            length_s=self._length(prompt),
        )

    async def _execute(self, action: Action) -> Event:
        if isinstance(action, Finish):
            raise TypeError("Finish is not executed: its decision is")
        if isinstance(action, Play):
            for prompt in action.prompts:
                await self._stream(prompt, "")
            return PlaybackDone()
        if isinstance(action, GatherDigits):
            return await self._gather_digits(action)
        if isinstance(action, SayDigits):
            for prompt in action.intro:
                await self._stream(prompt, "")
            await self._set_language(action.language)
            await self._channel.say_digits(action.digits)
            return PlaybackDone()
        for prompt in action.prompts:
            digit = await self._stream(prompt, action.accept)
            if digit is not None:
                return DigitPressed(digit)
        digit = await self._channel.wait_for_digit(action.timeout_ms)
        return NoInput() if digit is None else DigitPressed(digit)

    async def _gather_digits(self, action: GatherDigits) -> Event:
        """GET DATA always ends an entry on ``#`` (res_agi), so that is the only
        terminator it can honour."""
        if action.terminator != "#":
            raise ValueError(f"GET DATA ends on '#', not {action.terminator!r}")
        *before, last = action.prompts
        for prompt in before:
            await self._stream(prompt, "")
        await self._set_language(last.language)
        digits, timed_out = await self._channel.get_data(
            sound_file(last.name),
            action.timeout_ms,
            action.max_digits,
            confirm_hangup=True,
            length_s=self._length(last),
        )
        if not digits and timed_out:
            return NoInput()
        return DigitsEntered(digits, timed_out)

    async def _finish(self, decision: Decision) -> None:
        self._decision = decision
        await self._set_language(decision.language)
        for name, value in decision_variables(decision):
            await self._channel.set_variable(name, value)
        await self._channel.set_variable(VAR_FLOW_DONE, "1")

    async def _hung_up(self, flow: CallFlow | None) -> CallOutcome:
        decision: Decision | None = None
        if flow is not None and not flow.finished:
            final = flow.send(HungUp())
            if isinstance(final, Finish):
                decision = final.decision
        elif self._decision is not None:
            decision = replace(
                self._decision, route=Route.HANGUP, path=(*self._decision.path, "hangup")
            )
        try:
            if decision is not None:
                await self._channel.set_variable(var_name(VAR_PATH), decision.path_text)
            await self._channel.set_variable(VAR_ROUTE, Route.HANGUP.value)
        except AgiError as exc:
            log.debug(
                "could not record the hang-up on %s: %s",
                printable(self._channel.name),
                printable(exc),
            )
        return CallOutcome(finished=False, hung_up=True, decision=decision)


async def run_incoming(
    channel: Channel,
    header: AgiHeader,
    settings_source: SettingsSource,
    clock: Clock,
    memo: AstdbMemo,
) -> CallOutcome:
    """The ``incoming`` route (``ivr.dialplan.ROUTE_INCOMING``)."""
    return await FlowRunner(channel, header).run(settings_source, clock, memo)
