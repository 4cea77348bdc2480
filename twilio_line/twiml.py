"""The flow's actions as TwiML, built with the twilio library, and Twilio's answers as
the flow's events.

One action, one TwiML document (``VoiceResponse``):

- ``Play`` -> each prompt (``<Play>`` of its audio file, or ``<Say>``), then
  ``<Redirect>`` to the step's URL: the request that comes back is ``PlaybackDone``;
- ``Gather`` -> ``<Gather numDigits="1" finishOnKey="" actionOnEmptyResult="true">``
  around the prompts, so any key ends them (the flow judges the key, as ``Gather``'s
  contract says); ``Digits`` comes back, or nothing after ``timeout`` (``NoInput``);
- ``GatherDigits`` -> the prompts before the last played whole, then ``<Gather
  numDigits="<max>" finishOnKey="#">`` around the last one: ``Digits`` and
  ``FinishedOnKey`` come back (``#`` pressed alone: empty digits, key ``#``);
- ``SayDigits`` -> its intro, then the digits spoken one by one with ``<Say>``;
- ``Finish`` -> what the dialplan does with a decision (``asterisk_conf/extensions.conf``,
  ``[ivr211-dispatch]``): ``<Enqueue>`` the queue, ``<Dial>`` the destination's full
  number, ``<Record>`` the research message (no transcription; its review:
  ``twilio_line.review``), or the goodbye.

Every URL is absolute, on the public URL Twilio reaches (``TwilioOptions.public_url``),
and carries the call's pass and step: ``/twilio/step/1/3`` answers the third action of
the first pass. A request for any other step is a replay (``twilio_line.calls``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from twilio.twiml.voice_response import Gather as GatherVerb
from twilio.twiml.voice_response import VoiceResponse

from ivr.actions import (
    Action,
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
from ivr.dialplan import Route
from ivr.prompts import SOUND_DIR, prompt_text
from ivr.settings import LANGUAGES, Language, LineSettings
from twilio_line.options import TwilioOptions
from twilio_line.review import REVIEW_PROMPT, REVIEW_TIMEOUT_S

__all__ = ["AUDIO_SUFFIX", "Renderer", "Urls", "dial_number", "event_for"]

AUDIO_SUFFIX: Final = ".wav"
#: The keys Twilio can report in ``Digits`` (and ``FinishedOnKey``).
_KEYS: Final = re.compile(r"[^0-9*#]")
_PROMPT_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def is_prompt_name(name: str) -> bool:
    """A catalogue name as the prompts route accepts it (no path, no dot)."""
    return _PROMPT_NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class Urls:
    """Every URL Twilio is given, absolute on the public URL."""

    options: TwilioOptions

    @property
    def root(self) -> str:
        return self.options.base + self.options.url_prefix

    def voice(self) -> str:
        return f"{self.root}/voice"

    def step(self, pass_no: int, step: int) -> str:
        return f"{self.root}/step/{pass_no}/{step}"

    def after(self, pass_no: int, step: int, stage: str) -> str:
        return f"{self.root}/after/{pass_no}/{step}/{stage}"

    def wait(self, pass_no: int) -> str:
        return f"{self.root}/wait/{pass_no}"

    def status(self) -> str:
        return f"{self.root}/status"

    def recording(self) -> str:
        return f"{self.root}/recording"

    def review(self, pass_no: int, step: int, round_no: int) -> str:
        return f"{self.root}/review/{pass_no}/{step}/{round_no}"

    def review_audio(self, call_sid: str, recording_sid: str, expires: int, token: str) -> str:
        return (
            f"{self.root}/review-audio/{call_sid}/{recording_sid}/{expires}/{token}{AUDIO_SUFFIX}"
        )

    def prompt(self, language: str, name: str) -> str:
        return f"{self.root}/prompts/{language}/{name}{AUDIO_SUFFIX}"


def prompt_file(sounds_dir: Path, language: str, name: str) -> Path | None:
    """The prompt's audio as ``make prompts`` writes it, or None when it is missing."""
    if language not in LANGUAGES or not is_prompt_name(name):
        return None
    path = sounds_dir / language / SOUND_DIR / f"{name}{AUDIO_SUFFIX}"
    return path if path.is_file() else None


def dial_number(number: str) -> str:
    """The directory's number as Twilio dials it: North American numbers in E.164
    (``18662773553`` -> ``+18662773553``, ``4185550199`` -> ``+14185550199``); anything
    else (a short code such as ``811``, which Twilio generally cannot route) as it is."""
    digits = re.sub(r"\D", "", number)
    if number.strip().startswith("+"):
        return "+" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    return digits


class Renderer:
    """Turns one action (or decision) into TwiML, for one call's line settings."""

    def __init__(self, options: TwilioOptions, settings: LineSettings) -> None:
        self.options = options
        self.settings = settings
        self.urls = Urls(options)

    # ---- prompts --------------------------------------------------------------------

    def _say_attrs(self, language: Language) -> dict[str, str]:
        return self.options.say_attrs(language)

    def prompt(self, target: VoiceResponse | GatherVerb, ref: PromptRef) -> None:
        """``<Play>`` the prompt's file, or ``<Say>`` its text when the file is missing."""
        if prompt_file(self.options.sounds_dir, ref.language, ref.name) is not None:
            target.play(self.urls.prompt(ref.language, ref.name))
            return
        target.say(prompt_text(ref, self.settings), **self._say_attrs(ref.language))

    # ---- actions ----------------------------------------------------------------------

    def action(self, action: Action, pass_no: int, step: int) -> VoiceResponse:
        if isinstance(action, Finish):
            return self.finish(action.decision, pass_no, step)
        response = VoiceResponse()
        url = self.urls.step(pass_no, step)
        if isinstance(action, Play):
            for ref in action.prompts:
                self.prompt(response, ref)
        elif isinstance(action, SayDigits):
            for ref in action.intro:
                self.prompt(response, ref)
            response.say(", ".join(action.digits), **self._say_attrs(action.language))
        elif isinstance(action, Gather):
            gather = response.gather(
                input="dtmf",
                num_digits=1,
                finish_on_key="",
                timeout=_seconds(action.timeout_ms),
                action=url,
                method="POST",
                action_on_empty_result=True,
            )
            for ref in action.prompts:
                self.prompt(gather, ref)
        else:
            *before, last = action.prompts
            for ref in before:
                self.prompt(response, ref)
            gather = response.gather(
                input="dtmf",
                num_digits=action.max_digits,
                finish_on_key=action.terminator,
                timeout=_seconds(action.timeout_ms),
                action=url,
                method="POST",
                action_on_empty_result=True,
            )
            self.prompt(gather, last)
        response.redirect(url, method="POST")
        return response

    def finish(self, decision: Decision, pass_no: int, step: int) -> VoiceResponse:
        """What the dialplan's ``[ivr211-dispatch]`` does with the decision."""
        response = VoiceResponse()
        language = decision.language
        if decision.route is Route.QUEUE:
            self.enqueue(response, decision.queue or self.settings.queue_name, pass_no, step)
        elif decision.route is Route.TRANSFER:
            response.dial(
                dial_number(decision.number or ""),
                action=self.urls.after(pass_no, step, "dial"),
                method="POST",
                timeout=self.options.transfer_ring_s,
            )
        elif decision.route is Route.RESEARCH:
            self.record(response, pass_no, step)
        elif decision.route is Route.CLOSED:
            self.prompt(response, PromptRef("goodbye", language))
            response.hangup()
        else:
            response.hangup()
        return response

    def record(self, response: VoiceResponse, pass_no: int, step: int) -> None:
        """The research message: its action leads to the review (``twilio_line.review``)."""
        response.record(
            action=self.urls.after(pass_no, step, "record"),
            method="POST",
            max_length=self.options.record_max_s,
            play_beep=True,
            finish_on_key="#",
            trim="trim-silence",
            transcribe=False,
            recording_status_callback=self.urls.recording(),
            recording_status_callback_method="POST",
            recording_status_callback_event="completed",
        )

    def review_menu(
        self,
        response: VoiceResponse,
        language: Language,
        pass_no: int,
        step: int,
        round_no: int,
    ) -> None:
        """Keep, listen or record again (``twilio_line.review``): one key, silence too
        comes back to the same URL."""
        url = self.urls.review(pass_no, step, round_no)
        gather = response.gather(
            input="dtmf",
            num_digits=1,
            finish_on_key="",
            timeout=REVIEW_TIMEOUT_S,
            action=url,
            method="POST",
            action_on_empty_result=True,
        )
        self.prompt(gather, PromptRef(REVIEW_PROMPT, language))
        response.redirect(url, method="POST")

    def enqueue(self, response: VoiceResponse, queue: str, pass_no: int, step: int) -> None:
        response.enqueue(
            queue,
            action=self.urls.after(pass_no, step, "queue"),
            method="POST",
            wait_url=self.urls.wait(pass_no),
            wait_url_method="POST",
        )

    def goodbye(self, language: Language, *names: str) -> VoiceResponse:
        """These prompts, then the end of the call."""
        response = VoiceResponse()
        for name in names:
            self.prompt(response, PromptRef(name, language))
        response.hangup()
        return response


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


def keys(value: str | None, limit: int) -> str:
    """What Twilio reported in ``Digits``, kept to DTMF keys and ``limit`` of them."""
    return _KEYS.sub("", value or "")[:limit]


def event_for(action: Action, form: Mapping[str, str]) -> Event:
    """The event the request answering ``action`` carries (its ``Digits`` and
    ``FinishedOnKey`` parameters)."""
    if isinstance(action, Play | SayDigits):
        return PlaybackDone()
    if isinstance(action, Gather):
        digits = keys(form.get("Digits"), 1)
        return DigitPressed(digits) if digits else NoInput()
    if isinstance(action, GatherDigits):
        digits = keys(form.get("Digits"), action.max_digits)
        finished = keys(form.get("FinishedOnKey"), 1)
        if not digits and not finished:
            return NoInput()
        timed_out = not finished and len(digits) < action.max_digits
        return DigitsEntered(digits, timed_out)
    raise TypeError(f"no event answers {action!r}")
