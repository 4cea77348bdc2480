"""What the Twilio back end takes from the configuration (``ivr211`` builds it from
``[twilio]``): it reads no configuration itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ivr.settings import Language

#: The voices a prompt without its audio file is spoken with, and their ``<Say>``
#: language, by default. Twilio lists Amazon Polly and Google voices for ``fr-CA``
#: (``Polly.Chantal``, ``Polly.Gabrielle-Neural``, ``Polly.Liam-Neural``,
#: ``Google.fr-CA-Standard-A`` to ``-D``, ``Google.fr-CA-Wavenet-*``,
#: ``Google.fr-CA-Neural2-*``) but none for ``en-CA``: English is spoken by a North
#: American voice, ``Polly.Joanna-Neural``, in the language it speaks (``en-US``), since
#: Twilio may fail a ``<Say>`` whose voice does not speak its ``language``.
DEFAULT_VOICES: Final = {"fr": "Polly.Gabrielle-Neural", "en": "Polly.Joanna-Neural"}
DEFAULT_SAY_LANGUAGES: Final = {"fr": "fr-CA", "en": "en-US"}


def _no_token() -> str:
    raise LookupError("no Twilio auth token configured")


@dataclass(frozen=True)
class TwilioOptions:
    """``public_url``: the scheme, host (and port, and path prefix if any) the proxy
    presents to Twilio for the web process's root, e.g. ``https://ligne.example.org``;
    every URL put in TwiML starts with it, and every signature is checked against it
    (Twilio signs the URL it called, not the one the web process sees behind the proxy).

    ``auth_token`` reads the account's auth token when a request must be checked or the
    REST API called (a file or an environment variable; never kept in the repository).
    ``sounds_dir`` holds the prompts as ``make prompts`` writes them
    (``<sounds_dir>/<language>/211/<name>.wav``); a prompt without its file is spoken
    with ``<Say>`` by ``voice_fr`` / ``voice_en`` in ``say_language_fr`` /
    ``say_language_en`` (:data:`DEFAULT_VOICES`); an empty voice leaves the choice to the
    account's default voice.
    """

    public_url: str
    account_sid: str | None = None
    auth_token: Callable[[], str] = _no_token
    api_url: str | None = None
    url_prefix: str = "/twilio"
    sounds_dir: Path = Path("/var/lib/asterisk/sounds")
    voice_fr: str | None = DEFAULT_VOICES["fr"]
    voice_en: str | None = DEFAULT_VOICES["en"]
    say_language_fr: str = DEFAULT_SAY_LANGUAGES["fr"]
    say_language_en: str = DEFAULT_SAY_LANGUAGES["en"]
    #: How long the destination of a transfer may ring (the dialplan's TRANSFER_RING_S).
    transfer_ring_s: int = 45
    #: The research box: the longest message, in seconds.
    record_max_s: int = 180
    #: Passes through the queue before the line gives up (the dialplan's QUEUE_MAX_PASSES).
    queue_max_passes: int = 3
    #: The longest wait in the queue, the shortest one just before closing, and how often
    #: the waiting caller hears the reminder (the dialplan's QUEUE_MAX_WAIT, QUEUE_MIN_WAIT).
    queue_max_wait_s: int = 600
    queue_min_wait_s: int = 60
    queue_reminder_s: int = 60
    #: The research box's storage folder (``[voicemail] storage_dir``) and mailbox.
    voicemail_storage_dir: Path = Path("var/voicemail")
    mailbox: str = "1000@recherche"
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.public_url.startswith(("https://", "http://")):
            raise ValueError(f"twilio public_url must be an http(s) URL: {self.public_url!r}")
        if not self.url_prefix.startswith("/") or self.url_prefix.endswith("/"):
            raise ValueError(
                f"twilio url_prefix must start and not end with '/': {self.url_prefix!r}"
            )

    def say_attrs(self, language: Language) -> dict[str, str]:
        """``<Say>``'s ``voice`` (none when empty: the account's default voice) and
        ``language`` for a prompt in the line's ``language``."""
        voice = self.voice_fr if language == "fr" else self.voice_en
        attrs = {"language": self.say_language_fr if language == "fr" else self.say_language_en}
        if voice:
            attrs["voice"] = voice
        return attrs

    @property
    def base(self) -> str:
        """``public_url`` without its final slash."""
        return self.public_url.rstrip("/")
