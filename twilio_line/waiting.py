"""What a caller waiting in the Twilio queue hears: the queue's ``waitUrl``.

Twilio requests the ``waitUrl`` when the caller joins the queue and again each time its
TwiML has been played through, with ``QueueTime`` (seconds in the queue) and
``QueuePosition``. Like ``[ivr211-queue]`` and ``queues.conf``, the caller waits at most
``queue_max_wait_s`` and never past the line's closing time (``Decision.closes_at``), but
at least ``queue_min_wait_s`` so a call just before closing is heard; every
``queue_reminder_s`` they hear their position and the reminder ("if you are in danger,
hang up and dial 9-1-1", ``queue-reminder``). When the wait is over, ``<Leave>`` ends it
and Twilio requests the ``<Enqueue>`` action: the flow's queue-exit menu
(``calls.CallDesk.after``).

The position has no prompt in the catalogue (Asterisk says it with its own
``queue-thereare`` sounds), so it is spoken with ``<Say>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from twilio.twiml.voice_response import VoiceResponse

from ivr.actions import Decision, PromptRef
from ivr.settings import LineSettings
from twilio_line.options import TwilioOptions
from twilio_line.twiml import Renderer

__all__ = ["longest_wait_s", "wait_twiml"]

_POSITION: Final = {
    "fr": "Vous êtes le numéro {n} dans la file d'attente.",
    "en": "You are number {n} in line.",
}
#: The first request comes as the caller joins, right after "stay on the line".
_FIRST_SPAN_S: Final = 5


def longest_wait_s(options: TwilioOptions, decision: Decision | None, now: datetime) -> int:
    """The dialplan's ``WAIT_S``: ``queue_max_wait_s``, cut to the seconds left before
    closing, but never below ``queue_min_wait_s``."""
    wait = options.queue_max_wait_s
    if decision is None or decision.closes_at is None:
        return wait
    left = int((decision.closes_at - now).total_seconds())
    if left >= wait:
        return wait
    return max(left, options.queue_min_wait_s)


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or "0"))
    except ValueError:
        return 0


def wait_twiml(
    options: TwilioOptions,
    settings: LineSettings,
    decision: Decision | None,
    form: Mapping[str, str],
    now: datetime,
) -> VoiceResponse:
    """The TwiML for one request of the ``waitUrl``."""
    response = VoiceResponse()
    waited = _int(form.get("QueueTime"))
    left = longest_wait_s(options, decision, now) - waited
    if decision is None or left <= 0:
        response.leave()
        return response
    language = decision.language
    if waited >= _FIRST_SPAN_S:
        position = _int(form.get("QueuePosition"))
        if position > 0:
            response.say(_POSITION[language].format(n=position), **options.say_attrs(language))
        Renderer(options, settings).prompt(response, PromptRef("queue-reminder", language))
    response.pause(length=max(1, min(options.queue_reminder_s, left)))
    return response
