"""Tell the research team that a new message waits in the research box: email and/or SMS.

The text is fixed by configuration ([notify] message) and says only that a message is
waiting: no caller number, no health detail, nothing from the recording (Loi 25). The team
reads the message itself in the dashboard, behind its role and the audit log.

The ingester calls :func:`notify_new_message` once a message is recorded in the database.
Sending runs in its own thread, so a slow or unreachable SMTP relay or Twilio never holds
up the ingest of the next message; a failed send is logged and retried (``attempts``,
``retry_s`` apart, doubling), and a permanent refusal (a 5xx SMTP reply, a 4xx from Twilio
such as ``{"code": 21211, "message": "The 'To' number ... is not a valid phone number."}``)
is logged once and not retried. A notification lost after its retries loses no message:
the message stays "new" in the inbox.

SMS go through Twilio's own library (``twilio.rest.Client``), which sends
``POST /2010-04-01/Accounts/<AccountSid>/Messages.json`` to ``https://api.twilio.com``
with HTTP basic auth (account SID, auth token) and the form fields ``To``, ``From`` and
``Body``, and reads back the message resource (``{"sid": "SM...", "status": "queued"}``).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from store.research_access import AccountChange

__all__ = [
    "BaseUrlHttpClient",
    "Delivery",
    "MissingSecret",
    "Notifier",
    "NotifyError",
    "NotifyOptions",
    "PermanentError",
    "SettingError",
    "TransientError",
    "account_change_text",
    "notify_account_change",
    "notify_new_message",
]

log = logging.getLogger(__name__)


class NotifyError(Exception):
    """A notification could not be sent."""


class TransientError(NotifyError):
    """Worth another try: the relay or API was unreachable, slow, or said "later"."""


class PermanentError(NotifyError):
    """Trying again will not help: refused recipient, bad credentials, bad settings."""


class MissingSecret(PermanentError):
    """A secret the channel needs (SMTP password, Twilio auth token) cannot be read."""


class SettingError(NotifyError):
    """A setting cannot be used at all (the message names it): raised to the caller,
    never counted as a failed delivery."""


#: Reads a secret when a message is sent (so a rotated secret file is read afresh);
#: raises :class:`MissingSecret` when it cannot.
SecretReader = Callable[[], str | None]


def _no_secret() -> str | None:
    return None


@dataclass(frozen=True)
class NotifyOptions:
    """Where and what to send; ``ivr211`` builds it from the [notify] section, which
    documents each field and holds their defaults."""

    message: str
    email_subject: str
    email_from: str
    email_to: tuple[str, ...]
    smtp_host: str
    smtp_port: int
    smtp_security: Literal["none", "starttls", "ssl"]
    smtp_ca_file: Path | None
    smtp_username: str | None
    sms_to: tuple[str, ...]
    sms_from: str | None
    twilio_account_sid: str | None
    twilio_api_url: str | None
    timeout_s: float
    attempts: int
    retry_s: float
    smtp_password: SecretReader = _no_secret
    twilio_auth_token: SecretReader = _no_secret


@dataclass(frozen=True)
class Delivery:
    """The outcome of one notification to one channel ("email" or "sms")."""

    channel: str
    recipients: tuple[str, ...]
    ok: bool
    attempts: int
    error: str | None = None
    reference: str | None = None


class BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's own HTTP client, sending to another base URL (a relay, or a test double).

    The library builds absolute URLs on ``https://api.twilio.com``; only the scheme and host
    are swapped, the path, query, form body and basic auth stay exactly as the library
    made them.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingError(f"notify.twilio_api_url: not an http(s) URL: {base_url!r}")
        self._scheme = parts.scheme
        self._netloc = parts.netloc

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


class Notifier:
    """Sends the configured text over every configured channel, with retries."""

    def __init__(
        self, options: NotifyOptions, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.options = options
        self._sleep = sleep

    @property
    def channels(self) -> tuple[str, ...]:
        named = (("email", self.options.email_to), ("sms", self.options.sms_to))
        return tuple(name for name, recipients in named if recipients)

    def notify(self, reference: str = "") -> list[Delivery]:
        """Send on every channel; never raises. ``reference`` only goes to our log."""
        deliveries: list[Delivery] = []
        if self.options.email_to:
            deliveries.append(
                self._with_retries("email", self.options.email_to, self.send_email, reference)
            )
        for number in self.options.sms_to:
            deliveries.append(
                self._with_retries("sms", (number,), partial(self.send_sms, number), reference)
            )
        return deliveries

    def _with_retries(
        self,
        channel: str,
        recipients: tuple[str, ...],
        send: Callable[[], str],
        reference: str,
    ) -> Delivery:
        attempts = self.options.attempts
        error = ""
        for attempt in range(1, attempts + 1):
            try:
                sent = send()
            except PermanentError as exc:
                log.error("notify %s for %s refused, not retried: %s", channel, reference, exc)
                return Delivery(channel, recipients, False, attempt, str(exc))
            except TransientError as exc:
                error = str(exc)
                if attempt < attempts:
                    delay = self.options.retry_s * 2 ** (attempt - 1)
                    log.warning(
                        "notify %s for %s failed (try %d of %d), again in %.0f s: %s",
                        channel,
                        reference,
                        attempt,
                        attempts,
                        delay,
                        exc,
                    )
                    self._sleep(delay)
            else:
                log.info("notify %s for %s sent (%s)", channel, reference, sent)
                return Delivery(channel, recipients, True, attempt, reference=sent)
        log.error(
            "notify %s for %s given up after %d tries: %s", channel, reference, attempts, error
        )
        return Delivery(channel, recipients, False, attempts, error)

    # ---- email -------------------------------------------------------------------

    def email(self) -> EmailMessage:
        cfg = self.options
        msg = EmailMessage()
        msg["Subject"] = cfg.email_subject
        msg["From"] = cfg.email_from
        msg["To"] = ", ".join(cfg.email_to)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=cfg.email_from.rpartition("@")[2] or None)
        msg.set_content(cfg.message)
        return msg

    def send_email(self) -> str:
        """One SMTP transaction to all ``email_to``; returns the Message-ID."""
        cfg = self.options
        password = cfg.smtp_password()
        msg = self.email()
        try:
            context = self._tls_context()
            smtp: smtplib.SMTP
            if cfg.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s, context=context
                )
            else:
                smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s)
            with smtp:
                if cfg.smtp_security == "starttls":
                    smtp.starttls(context=context)
                if cfg.smtp_username is not None:
                    smtp.login(cfg.smtp_username, password or "")
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error
            reply = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
            text = f"SMTP {exc.smtp_code} {reply}"
            raise (PermanentError if exc.smtp_code >= 500 else TransientError)(text) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"SMTP recipients refused: {sorted(exc.recipients)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentError(f"SMTP: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP {cfg.smtp_host}:{cfg.smtp_port}: {exc}") from None
        return str(msg["Message-ID"])

    def _tls_context(self) -> ssl.SSLContext:
        ca = self.options.smtp_ca_file
        return ssl.create_default_context(cafile=str(ca) if ca else None)

    # ---- SMS ---------------------------------------------------------------------

    def send_sms(self, to: str) -> str:
        """One SMS through Twilio; returns the message SID Twilio gave it."""
        cfg = self.options
        if not (cfg.twilio_account_sid and cfg.sms_from):
            raise PermanentError("notify.sms_to needs sms_from and twilio_account_sid")
        token = cfg.twilio_auth_token()
        http: TwilioHttpClient
        if cfg.twilio_api_url:
            http = BaseUrlHttpClient(cfg.twilio_api_url, timeout=cfg.timeout_s)
        else:
            http = TwilioHttpClient(timeout=cfg.timeout_s)
        try:
            client = Client(cfg.twilio_account_sid, token, http_client=http, environment={})
            message = client.messages.create(to=to, from_=cfg.sms_from, body=cfg.message)
        except TwilioRestException as exc:
            text = f"Twilio {exc.status} {exc.code}: {exc.msg}"
            transient = exc.status == 429 or exc.status >= 500
            raise (TransientError if transient else PermanentError)(text) from None
        except RequestException as exc:
            raise TransientError(f"Twilio: {exc}") from None
        except TwilioException as exc:
            raise TransientError(f"Twilio: {exc}") from None
        finally:
            if http.session is not None:
                http.session.close()
        return str(message.sid)


def notify_new_message(
    options: NotifyOptions, message_id: object, *, sleep: Callable[[float], None] = time.sleep
) -> threading.Thread | None:
    """Notify the research team of a new message, in a background thread.

    Called by the ingester after the message's row is committed; returns at once. The
    thread (returned, so a caller may join it; None when no channel is configured) is not
    a daemon: a one-shot ``ivr211 voicemail sweep`` waits for its notifications before
    exiting. ``message_id`` only goes to our log.
    """
    notifier = Notifier(options, sleep=sleep)
    if not notifier.channels:
        return None
    reference = f"voice_message:{message_id}"

    def run() -> None:
        try:
            notifier.notify(reference)
        except Exception:
            log.exception("notify for %s failed", reference)

    thread = threading.Thread(target=run, name=f"notify-{message_id}")
    thread.start()
    return thread


_CHANGE_WORDS = {
    "password reset": ("mot de passe réinitialisé", "password reset"),
    "created": ("compte créé", "account created"),
    "roles changed": ("rôles changés", "roles changed"),
}


def account_change_text(change: AccountChange) -> tuple[str, str]:
    """The subject and text telling the research team who reset a research account's
    password, or created one, and when (French, then English): whoever holds that
    password can read the research box. It names accounts only, never a message."""
    fr, en = _CHANGE_WORDS.get(change.kind, (change.kind, change.kind))
    when = f"{change.at:%Y-%m-%d %H:%M} UTC"
    subject = f"Compte de recherche {change.account} : {fr} / Research account: {en}"
    text = (
        f"Compte de recherche « {change.account} » : {fr} par {change.by}"
        f" ({change.by_role}) le {when}. Si l'équipe de recherche ne l'a pas demandé,"
        " prévenez la personne responsable de la protection des renseignements personnels."
        f'\n\nResearch account "{change.account}": {en} by {change.by} ({change.by_role})'
        f" on {when}. If the research team did not ask for it, tell the privacy officer.\n"
    )
    return subject, text


def notify_account_change(
    options: NotifyOptions, change: AccountChange, *, sleep: Callable[[float], None] = time.sleep
) -> threading.Thread | None:
    """Tell the research team (every configured channel) of an audited change to a
    research account, in a background thread as :func:`notify_new_message` does; None
    when the change is not audited or no channel is configured."""
    if not change.audited:
        return None
    subject, text = account_change_text(change)
    notifier = Notifier(replace(options, email_subject=subject, message=text), sleep=sleep)
    if not notifier.channels:
        return None
    reference = change.object

    def run() -> None:
        try:
            notifier.notify(reference)
        except Exception:
            log.exception("notify for %s failed", reference)

    thread = threading.Thread(target=run, name=f"notify-{reference}")
    thread.start()
    return thread
