"""The TwiML of the number's fallback URL: what a caller hears when the web process
cannot answer (down, an error, a timeout).

Twilio requests the fallback URL when the voice URL fails, so the document must live
apart from the web process: a static file on another host, or a TwiML Bin in Twilio's
console. ``ivr211 twilio fallback`` prints it from the catalogue and the configuration,
to be uploaded there again whenever they change. Like the dialplan's ``ivr211-fallback``
it says, in French then in English, that this is 2-1-1 and to dial 9-1-1 in danger; then
it rings the navigators' phones directly (the queue and the console are down with the
web process), and when nobody answers it gives the emergency numbers in both languages.

It speaks with ``<Say>`` only: the prompts' audio is served by the web process that is
down.
"""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.voice_response import VoiceResponse

from ivr.actions import PromptRef
from ivr.prompts import prompt_text
from ivr.settings import LANGUAGES
from twilio_line.options import TwilioOptions

__all__ = ["fallback_twiml"]


def _say(response: VoiceResponse, options: TwilioOptions, name: str) -> None:
    for language in LANGUAGES:
        response.say(prompt_text(PromptRef(name, language)), **options.say_attrs(language))


def fallback_twiml(
    options: TwilioOptions, navigator_phones: Sequence[str], ring_s: int
) -> VoiceResponse:
    """The static document: the notice, the navigators' phones rung together for
    ``ring_s`` seconds, then the emergency numbers and the end of the call."""
    response = VoiceResponse()
    _say(response, options, "fallback-notice")
    if navigator_phones:
        dial = response.dial(timeout=ring_s)
        for phone in navigator_phones:
            dial.number(phone)
    _say(response, options, "emergency-numbers")
    response.hangup()
    return response
