"""The review of a research message on Twilio, as app_voicemail's ``review=yes`` gives it
on Asterisk (``asterisk_conf/voicemail.conf``): the prompt before the beep
(``research-record``) promises the caller they can listen to the message, record it again
or confirm it, and ``<Record>`` has no review of its own.

After the ``<Record>``'s action, a menu (``research-review``) with app_voicemail's keys:
1 keeps the message, 2 plays it back, 3 records it again (the recording just made is then
deleted from Twilio and never taken into the inbox). As app_voicemail does, a caller who
hangs up during the review keeps the message, and so does one who answers nothing
:data:`SILENT_ROUNDS` times.

Playing the message back: Twilio's media URLs may require the account's credentials
(HTTP authentication on media is the default for new accounts), and ``<Play>`` sends
none, so the audio goes through a route of ours that fetches it from Twilio with the
credentials. That route is not signed by Twilio (a ``<Play>`` is fetched like any other
URL): its URL carries an HMAC of the call, the recording and an expiry time, keyed with
the account's auth token, and it serves a recording only while its caller reviews it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = [
    "AUDIO_TTL_S",
    "KEEP",
    "LISTEN",
    "RERECORD",
    "REVIEW_PROMPT",
    "REVIEW_TIMEOUT_S",
    "SILENT_ROUNDS",
    "STALE_REVIEW_S",
    "audio_token",
    "valid_audio_token",
]

KEEP: Final = "1"
LISTEN: Final = "2"
RERECORD: Final = "3"
REVIEW_PROMPT: Final = "research-review"
#: Unanswered menus after which the message is kept (app_voicemail's max_attempts).
SILENT_ROUNDS: Final = 3
#: How long the menu waits for a key, in seconds.
REVIEW_TIMEOUT_S: Final = 6
#: How long a playback URL stays valid.
AUDIO_TTL_S: Final = 600
#: A review not heard of for this long (the call's status callback lost) is over: the
#: message is kept.
STALE_REVIEW_S: Final = 3600


def _message(call_sid: str, recording_sid: str, expires: int) -> bytes:
    return f"review-audio\n{call_sid}\n{recording_sid}\n{expires}".encode()


def audio_token(key: str, call_sid: str, recording_sid: str, expires: int) -> str:
    return hmac.new(
        key.encode(), _message(call_sid, recording_sid, expires), hashlib.sha256
    ).hexdigest()


def valid_audio_token(
    key: str, call_sid: str, recording_sid: str, expires: int, token: str, now_s: float
) -> bool:
    if expires < now_s:
        return False
    return hmac.compare_digest(audio_token(key, call_sid, recording_sid, expires), token)
