"""The [twilio] section as ``twilio_line.TwilioOptions``, and the blueprint on the
dashboard's app.

The Twilio back end has no server of its own: its webhooks are routes of the dashboard's
web process (waitress, behind the same TLS proxy), registered here, in the composition
root, because neither package may import the other. Twilio's requests carry no session
and no CSRF token: their blueprint is exempt from the dashboard's CSRF check and its
views are declared public to the role guard; each checks Twilio's signature instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask
from requests import RequestException
from sqlalchemy import Engine
from twilio.base.exceptions import TwilioException

from dashboard.roles import public
from ivr211.config import Config, ConfigError, TwilioConfig
from ivr211.wiring import call_writer, new_message_hook
from store.linesettings import CachedSettings, SettingsStore
from twilio_line.console import TwilioConsole
from twilio_line.options import TwilioOptions
from twilio_line.recordings import RecordingTaker, Retaken
from twilio_line.webhooks import BLUEPRINT_NAME, create_blueprint

__all__ = ["register_twilio", "retake_recordings", "start_twilio_console", "twilio_options"]


def _token_reader(config: TwilioConfig, environ: Mapping[str, str] | None) -> Callable[[], str]:
    def read() -> str:
        try:
            return config.auth_token(environ)
        except ConfigError as exc:
            raise LookupError(str(exc)) from None

    return read


def twilio_options(
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    public_url: str | None = None,
    auth_token: Callable[[], str] | None = None,
) -> TwilioOptions:
    """``[twilio]`` (with ``[voicemail]``'s storage and mailbox) as the adapter's options;
    the auth token is read from ``environ`` (default: the process environment) or its file
    each time it is needed. ``public_url`` and ``auth_token`` replace the configured ones
    (the simulator signs its own requests)."""
    tw = config.twilio
    public_url = public_url or tw.public_url
    if not public_url:
        raise ConfigError("twilio.public_url: the URL Twilio reaches is not set")
    return TwilioOptions(
        public_url=public_url,
        account_sid=tw.account_sid,
        auth_token=auth_token or _token_reader(tw, environ),
        api_url=tw.api_url,
        url_prefix=tw.url_prefix,
        sounds_dir=tw.sounds_dir,
        voice_fr=tw.voice_fr or None,
        voice_en=tw.voice_en or None,
        say_language_fr=tw.say_language_fr,
        say_language_en=tw.say_language_en,
        transfer_ring_s=tw.transfer_ring_s,
        record_max_s=tw.record_max_s,
        queue_max_passes=tw.queue_max_passes,
        queue_max_wait_s=tw.queue_max_wait_s,
        queue_min_wait_s=tw.queue_min_wait_s,
        queue_reminder_s=tw.queue_reminder_s,
        voicemail_storage_dir=config.voicemail.storage_dir,
        mailbox=config.voicemail.mailbox,
        timeout_s=tw.timeout_s,
    )


def register_twilio(
    app: Flask,
    config: Config,
    engine: Engine,
    *,
    clock: Callable[[], datetime] | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Add the Twilio webhooks to the dashboard's ``app`` when ``[twilio] enabled``;
    returns whether they were added."""
    if not config.twilio.enabled:
        return False
    options = twilio_options(config, environ=environ)
    source = CachedSettings(SettingsStore(engine), config.line.settings_cache_s)
    now = clock or (lambda: datetime.now(UTC))
    blueprint = create_blueprint(
        options,
        engine=engine,
        settings_source=source,
        clock=now,
        on_recording=RecordingTaker(options, engine, now, on_new=new_message_hook(config)),
        record_calls=call_writer(engine),
    )
    app.register_blueprint(blueprint)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(blueprint)
    prefix = f"{BLUEPRINT_NAME}."
    for endpoint, view in app.view_functions.items():
        if endpoint.startswith(prefix):
            public(view)
    return True


def start_twilio_console(
    config: Config, engine: Engine, *, environ: Mapping[str, str] | None = None
) -> TwilioConsole | None:
    """When ``[twilio] enabled``, the runner of the navigators' Twilio commands
    (``twilio_line.console``), started in a thread of the web process; None otherwise.
    Several web processes may each run one: a command is claimed by one of them only."""
    if not config.twilio.enabled:
        return None
    options = twilio_options(config, environ=environ)
    source = CachedSettings(SettingsStore(engine), config.line.settings_cache_s)
    console = TwilioConsole(options, engine, source)
    console.start()
    return console


def retake_recordings(config: Config, engine: Engine) -> Retaken:
    """The research messages still on Twilio (a download, check or write failed, or the
    call's status callback was lost) taken into the inbox now
    (``twilio_line.recordings.RecordingTaker.retake``)."""
    options = twilio_options(
        config, public_url=config.twilio.public_url or "https://ivr211.invalid"
    )
    taker = RecordingTaker(
        options, engine, lambda: datetime.now(UTC), on_new=new_message_hook(config)
    )
    return taker.retake()


def reconcile_from_twilio(config: Config, since_text: str | None, tz: str | None) -> int:
    """``ivr211 reconcile --twilio --since TIME``: one summary line for the calls, one for
    the research messages taken again (:func:`retake_recordings`); exit 2 on bad input,
    1 when Twilio cannot be read or a message could not be taken."""
    from ivr211.cli.common import CliError, instant, open_engine
    from store.db import require_current
    from twilio_line.reconcile import reconcile_twilio

    if since_text is None:
        raise CliError("--twilio needs --since (the account's calls since when)")
    if not config.twilio.account_sid:
        raise CliError("--twilio needs [twilio] account_sid")
    try:
        zone = ZoneInfo(tz) if tz else config.pbx.zone
    except (ValueError, ZoneInfoNotFoundError):
        raise CliError(f"--tz: unknown time zone {tz!r}") from None
    since = instant("--since", since_text, zone).astimezone(UTC)
    options = twilio_options(
        config, public_url=config.twilio.public_url or "https://ivr211.invalid"
    )
    with open_engine(config) as engine:
        require_current(engine)
        source = CachedSettings(SettingsStore(engine), 0)
        try:
            report = reconcile_twilio(options, engine, source, since, now=datetime.now(UTC))
        except (TwilioException, RequestException, LookupError) as exc:
            print(f"reconcile --twilio: Twilio cannot be read: {exc}", file=sys.stderr)
            return 1
        print(report)
        retaken = retake_recordings(config, engine)
    print(retaken)
    for problem in retaken.problems:
        print(f"reconcile --twilio: {problem}", file=sys.stderr)
    return 1 if retaken.problems else 0
