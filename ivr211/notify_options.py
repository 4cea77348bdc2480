"""The [notify] section as :class:`research.notify.NotifyOptions`, and the ingest's hook.

Kept apart from :mod:`ivr211.wiring` because it loads ``research.notify``, and with it
twilio and requests: the modules that only want to know whether to notify import this
one when a notification is due (see :func:`ivr211.wiring.new_message_hook`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ivr211.config import ConfigError, NotifyConfig
from research.notify import (
    MissingSecret,
    NotifyOptions,
    SecretReader,
    notify_account_change,
    notify_new_message,
)
from store.research_access import AccountChange

__all__ = ["account_change_notifier", "message_notifier", "notify_options"]


def _reader(
    read: Callable[[Mapping[str, str] | None], str | None], environ: Mapping[str, str] | None
) -> SecretReader:
    def secret() -> str | None:
        try:
            return read(environ)
        except ConfigError as exc:
            raise MissingSecret(str(exc)) from None

    return secret


def notify_options(
    config: NotifyConfig, *, environ: Mapping[str, str] | None = None
) -> NotifyOptions:
    """``config`` as the notifier's options; the secrets are read from ``environ``
    (default: the process environment) or their files when a message is sent."""
    return NotifyOptions(
        message=config.message,
        email_subject=config.email_subject,
        email_from=config.email_from,
        email_to=config.email_to,
        smtp_host=config.smtp_host,
        smtp_port=config.smtp_port,
        smtp_security=config.smtp_security,
        smtp_ca_file=config.smtp_ca_file,
        smtp_username=config.smtp_username,
        sms_to=config.sms_to,
        sms_from=config.sms_from,
        twilio_account_sid=config.twilio_account_sid,
        twilio_api_url=config.twilio_api_url,
        timeout_s=config.timeout_s,
        attempts=config.attempts,
        retry_s=config.retry_s,
        smtp_password=_reader(config.smtp_password, environ),
        twilio_auth_token=_reader(config.twilio_auth_token, environ),
    )


def message_notifier(
    config: NotifyConfig, *, environ: Mapping[str, str] | None = None
) -> Callable[[int], object]:
    """The ingest's ``on_new`` hook: notify the research team in the background."""
    options = notify_options(config, environ=environ)

    def hook(message_id: int) -> object:
        return notify_new_message(options, message_id)

    return hook


def account_change_notifier(
    config: NotifyConfig, *, environ: Mapping[str, str] | None = None
) -> Callable[[AccountChange], object]:
    """Tell the research team that one of its accounts was given a new password (or
    created), in the background; the thread is returned so a CLI waits for it."""
    options = notify_options(config, environ=environ)

    def hook(change: AccountChange) -> object:
        return notify_account_change(options, change)

    return hook
