"""The deployment configuration: one TOML file, overridable from the environment.

Read once at the edge (the CLI) into a typed, frozen object and passed down.
Secrets never live in the file: the file names the environment variable (or the
file, e.g. a systemd credential) that holds them, so the file can be committed
and shown with ``ivr211 config check``.

Environment overrides use ``IVR211_<SECTION>__<KEY>``, e.g. ``IVR211_AGI__PORT=4574``
or ``IVR211_DATABASE__URL=postgresql://ivr211@db/ivr211``. Every error names the file
(or the variable) and the dotted key, e.g. ``config/x.toml: agi.port: Input should be a
valid integer``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ivr.times import known_zone

ENV_CONFIG = "IVR211_CONFIG"
ENV_PREFIX = "IVR211_"
DEFAULT_SEED = Path(__file__).resolve().parent.parent / "store" / "defaults" / "line-settings.toml"
DEFAULT_DATABASE_URL = "sqlite:///var/store.db"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file or variable and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgiConfig(_Section):
    """The FastAGI server (``agi_scripts.server.ServerOptions``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=4573, ge=1, le=65535)
    header_timeout_s: float = Field(default=5.0, gt=0)
    quick_reply_s: float = Field(default=5.0, gt=0)
    reply_margin_s: float = Field(default=5.0, ge=0)
    command_timeout_s: float = Field(default=120.0, gt=0)
    max_call_s: float = Field(default=1800.0, gt=0)
    max_header_bytes: int = Field(default=16384, ge=1024)
    max_connections: int = Field(default=2000, ge=1)
    max_connections_per_peer: int = Field(default=1200, ge=1)
    shutdown_grace_s: float = Field(default=5.0, ge=0)
    workers: int = Field(default=1, ge=1, le=64)


class DatabaseConfig(_Section):
    """Where the line settings (and later transfer records) live.

    A relative SQLite path is relative to the working directory; its folder is
    created on first use. ``postgresql://`` URLs use psycopg 3.
    """

    url: str = DEFAULT_DATABASE_URL
    password_env: str | None = None
    password_file: Path | None = None

    def password(self, environ: Mapping[str, str] | None = None) -> str | None:
        if self.password_env is None and self.password_file is None:
            return None
        return _read_secret("database password", self.password_env, self.password_file, environ)


class AmiConfig(_Section):
    """The Asterisk Manager Interface account used by the transfer listener."""

    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "ivr211"
    secret_env: str = "IVR211_AMI_SECRET"
    secret_file: Path | None = None

    def secret(self, environ: Mapping[str, str] | None = None) -> str:
        """The AMI secret, from ``secret_file`` if set, else from ``$secret_env``."""
        return _read_secret("AMI secret", self.secret_env, self.secret_file, environ)

    def secret_source(self) -> str:
        return f"file {self.secret_file}" if self.secret_file else f"${self.secret_env}"


class PbxConfig(_Section):
    """The Asterisk host. ``timezone`` is its local time zone: every reader of its files
    (CEL rows written while cel.conf still had a ``dateformat``, cdr_csv, log files) reads
    times without an offset in this zone. CEL rows written with ``dateformat`` unset carry
    epoch seconds and need no zone (asterisk_conf/cel.conf)."""

    timezone: str = "America/Toronto"

    _zone = field_validator("timezone")(known_zone)

    @property
    def zone(self) -> ZoneInfo:
        """``timezone`` as a zone (checked when the file was read): the one way to it."""
        return ZoneInfo(self.timezone)


class LineConfig(_Section):
    """How the line settings are seeded and how long a server may cache them."""

    settings_seed: Path = DEFAULT_SEED
    settings_cache_s: float = Field(default=5.0, ge=0)


class ListenerConfig(_Section):
    """The AMI listener: where records wait while the database is down, where Asterisk's
    CEL CSV and queue_log are (on the PBX host) for reconciliation, and the dialplan
    contexts its actions use (asterisk_conf/extensions.conf)."""

    spool_path: Path = Path("var/listener-spool.jsonl")
    cel_path: Path | None = None
    queue_log_path: Path | None = None
    transfer_context: str = "navigator-transfers"
    conference_context: str | None = "ivr211-conference"
    # The navigators' queue ``wrapuptime`` (asterisk_conf/queues.conf): Asterisk reports
    # it in no event, so the after-call work after each call is counted from here.
    wrapup_s: float = Field(default=10.0, ge=0, le=3600)


_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class DashboardConfig(_Section):
    """The dashboard (waitress), a supervised child of ``ivr211 serve`` unless ``enabled``
    is false.

    The session secret comes from ``secret_key_file`` (e.g. a systemd credential), else
    from ``$secret_key_env``; when neither is set, a random key is generated once into
    ``generated_secret_path`` (mode 0600) and reused, so sessions survive a restart.
    ``instance_path`` holds what the app writes for itself (compiled translations).

    Session cookies are ``Secure``: the browser sends them only over HTTPS, so put a TLS
    proxy in front (and set ``trusted_proxies`` to the number of proxies). Only when the
    dashboard listens on a loopback address may ``allow_plain_http`` turn that off, for a
    browser on the same machine or an SSH tunnel; any other host refuses it.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8211, ge=1, le=65535)
    threads: int = Field(default=8, ge=1, le=64)
    secret_key_env: str | None = None
    secret_key_file: Path | None = None
    generated_secret_path: Path = Path("var/dashboard-secret")
    instance_path: Path = Path("var/dashboard")
    allow_plain_http: bool = False
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    session_hours: float = Field(default=12.0, gt=0, le=24 * 7)
    login_max_failures: int = Field(default=5, ge=1)
    login_lock_s: float = Field(default=300.0, gt=0)
    login_window_s: float = Field(default=900.0, gt=0)
    login_address_max_failures: int = Field(default=50, ge=1)
    heartbeat_stale_s: float = Field(default=30.0, gt=0)
    #: The wallboard's service level: the share of queued calls answered within this.
    service_level_s: float = Field(default=30.0, ge=0, le=3600)
    #: The call reports (whole seconds, as Asterisk counts waits): abandons shorter than
    #: ``report_short_abandon_s`` are counted apart; the service level is given at each
    #: of ``report_service_levels_s``; the staffing aims at answering
    #: ``report_service_level_target`` of the callers within the first of them.
    report_short_abandon_s: int = Field(default=5, ge=0, le=3600)
    report_service_levels_s: tuple[int, ...] = Field(default=(30, 60), min_length=1)
    report_service_level_target: float = Field(default=0.8, gt=0, lt=1)

    @field_validator("report_service_levels_s", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        if isinstance(value, str):  # an environment override: "30, 60"
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("report_service_levels_s")
    @classmethod
    def _levels_in_range(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= limit <= 3600 for limit in value):
            raise ValueError("each service level threshold must be 0 to 3600 seconds")
        return value

    @model_validator(mode="after")
    def _plain_http_only_on_loopback(self) -> DashboardConfig:
        if self.allow_plain_http and self.host not in _LOOPBACK_HOSTS:
            raise ValueError(
                f"allow_plain_http is only allowed when host is a loopback address"
                f" ({', '.join(_LOOPBACK_HOSTS)}), not {self.host!r}: put a TLS proxy in front"
            )
        return self


def _split_list(value: Any) -> Any:
    """An environment override is one string: "a@x, b@y" -> ("a@x", "b@y")."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class NotifyConfig(_Section):
    """Telling the research team that a new message is waiting (``research.notify``).

    Email goes to ``email_to`` through ``smtp_host`` when that list is not empty; SMS goes
    to ``sms_to`` through Twilio when that list is not empty. The text never carries a
    health detail or the caller's number. Secrets (SMTP password, Twilio auth token) are
    named by environment variable or file, never written here. ``twilio_api_url`` is only
    for a relay in front of Twilio's API (or a test double); unset means Twilio's own.
    """

    message: str = (
        "Nouveau message dans la boîte vocale de recherche du 211."
        " / New message in the 211 research voicemail box."
    )
    email_subject: str = "211 : nouveau message (recherche) / new message (research)"
    email_from: str = "ivr211@localhost"
    email_to: tuple[str, ...] = ()
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "ssl"] = "starttls"
    smtp_ca_file: Path | None = None
    smtp_username: str | None = None
    smtp_password_env: str | None = None
    smtp_password_file: Path | None = None
    sms_to: tuple[str, ...] = ()
    sms_from: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token_env: str = "IVR211_TWILIO_AUTH_TOKEN"
    twilio_auth_token_file: Path | None = None
    twilio_api_url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    attempts: int = Field(default=3, ge=1, le=10)
    retry_s: float = Field(default=30.0, ge=0)

    _split = field_validator("email_to", "sms_to", mode="before")(_split_list)

    @model_validator(mode="after")
    def _sms_needs_an_account(self) -> NotifyConfig:
        if self.sms_to and not (self.sms_from and self.twilio_account_sid):
            raise ValueError("sms_to needs sms_from and twilio_account_sid")
        return self

    def smtp_password(self, environ: Mapping[str, str] | None = None) -> str | None:
        if self.smtp_password_env is None and self.smtp_password_file is None:
            return None
        return _read_secret(
            "SMTP password", self.smtp_password_env, self.smtp_password_file, environ
        )

    def twilio_auth_token(self, environ: Mapping[str, str] | None = None) -> str:
        return _read_secret(
            "Twilio auth token", self.twilio_auth_token_env, self.twilio_auth_token_file, environ
        )


class RetentionConfig(_Section):
    """How long personal data is kept, and the PBX-host files ``ivr211 retention run``
    purges (``ivr211.retention``). Research messages are kept for the period the consent
    notice tells callers (the line setting ``research_consent.retention_days``); caller
    numbers in transfer records are emptied after ``transfer_numbers_days`` (the records
    stay, for the annual report).
    Files are rewritten keeping only the lines newer than their period: Asterisk's CDR
    CSV (cdr_csv), CEL CSV (cel_custom), queue_log, and our own log files. Times in the
    Asterisk files without a zone are read in ``[pbx] timezone``. ``after_rewrite_command``
    (argv) runs once after a file was rewritten, e.g. ``asterisk -rx "logger reload"`` so
    that Asterisk reopens queue_log.
    """

    transfer_numbers_days: int = Field(default=365, ge=1)
    cdr_days: int = Field(default=365, ge=1)
    cel_days: int = Field(default=365, ge=1)
    queue_log_days: int = Field(default=365, ge=1)
    logs_days: int = Field(default=90, ge=1)
    cdr_paths: tuple[Path, ...] = ()
    cel_paths: tuple[Path, ...] = ()
    queue_log_paths: tuple[Path, ...] = ()
    log_paths: tuple[Path, ...] = ()
    after_rewrite_command: tuple[str, ...] = ()

    _split = field_validator(
        "cdr_paths", "cel_paths", "queue_log_paths", "log_paths", mode="before"
    )(_split_list)

    @model_validator(mode="before")
    @classmethod
    def _moved_timezone(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "timezone" in data:
            raise ValueError(
                "timezone is now [pbx] timezone (one setting for every reader of the PBX's files)"
            )
        return data


class VoicemailConfig(_Section):
    """The research box's ingest (``research.ingest``): where app_voicemail spools it, and the
    storage folder the research team controls.

    ``mailbox`` is "box@context" as in voicemail.conf (``LineSettings.research_mailbox``);
    its messages are in ``spool_dir/<context>/<box>/<folder>`` for each of ``folders``.
    The listener sweeps on every MessageWaiting event and every ``sweep_s``. An audio file
    is taken once it has not changed between two sweeps, or not for ``settle_s``; a message
    still incomplete after ``stale_s`` (or one that cannot be read) is moved to
    ``quarantine_dir`` (default ``storage_dir/quarantine``) and reported.
    """

    enabled: bool = True
    spool_dir: Path = Path("/var/spool/asterisk/voicemail")
    mailbox: str = Field(default="1000@recherche", pattern=r"^[0-9A-Za-z_-]+@[0-9A-Za-z_-]+$")
    folders: tuple[str, ...] = ("INBOX", "Old", "Urgent")
    storage_dir: Path = Path("var/voicemail")
    quarantine_dir: Path | None = None
    sweep_s: float = Field(default=60.0, gt=0)
    settle_s: float = Field(default=5.0, ge=0)
    stale_s: float = Field(default=3600.0, gt=0)

    _split = field_validator("folders", mode="before")(_split_list)


class TwilioConfig(_Section):
    """The line on Twilio (``twilio_line``): its webhooks are served by the dashboard's
    web process when ``enabled``.

    ``public_url`` is the URL the TLS proxy presents to Twilio for the dashboard's root
    (``https://ligne.example.org``): TwiML URLs are built on it and every webhook's
    ``X-Twilio-Signature`` is checked against it. The auth token is named by environment
    variable or file, never written here. ``sounds_dir`` holds the prompts as ``make
    prompts`` writes them (``<lang>/211/<name>.wav``); a missing one is spoken with
    ``<Say>``. ``api_url`` is only for a relay in front of Twilio's API (or a test double).
    The queue and transfer timings mirror the dialplan's globals (QUEUE_MAX_WAIT,
    QUEUE_MIN_WAIT, QUEUE_MAX_PASSES, TRANSFER_RING_S) and ``record_max_s`` the research
    box's ``maxsecs`` (voicemail.conf).
    """

    enabled: bool = False
    public_url: str | None = None
    url_prefix: str = Field(default="/twilio", pattern=r"^/[A-Za-z0-9_/-]*[A-Za-z0-9_-]$")
    account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token_env: str = "IVR211_TWILIO_AUTH_TOKEN"
    auth_token_file: Path | None = None
    api_url: str | None = None
    sounds_dir: Path = Path("/var/lib/asterisk/sounds")
    #: The voices of prompts spoken with <Say> (twilio_line.options.DEFAULT_VOICES: no
    #: Twilio voice speaks en-CA, so English defaults to an en-US one); "" leaves the
    #: account's default voice.
    voice_fr: str = "Polly.Gabrielle-Neural"
    voice_en: str = "Polly.Joanna-Neural"
    say_language_fr: str = Field(default="fr-CA", pattern=r"^[a-z]{2,3}-[A-Z]{2}$")
    say_language_en: str = Field(default="en-US", pattern=r"^[a-z]{2,3}-[A-Z]{2}$")
    transfer_ring_s: int = Field(default=45, ge=5, le=300)
    record_max_s: int = Field(default=180, ge=10, le=3600)
    queue_max_passes: int = Field(default=3, ge=1, le=10)
    queue_max_wait_s: int = Field(default=600, ge=30, le=7200)
    queue_min_wait_s: int = Field(default=60, ge=0, le=3600)
    queue_reminder_s: int = Field(default=60, ge=10, le=600)
    timeout_s: float = Field(default=10.0, gt=0)
    #: How long a call's state (caller number included) is kept after the call ended:
    #: the retention job deletes it then.
    state_days: int = Field(default=1, ge=1, le=365)
    #: The phones the fallback URL's document rings when the web process is down
    #: (``ivr211 twilio fallback``), in E.164 form.
    fallback_numbers: tuple[str, ...] = ()
    fallback_ring_s: int = Field(default=30, ge=5, le=300)

    _split = field_validator("fallback_numbers", mode="before")(_split_list)

    @field_validator("fallback_numbers")
    @classmethod
    def _e164(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for number in value:
            if not re.fullmatch(r"\+[1-9]\d{7,14}", number):
                raise ValueError(f"{number!r} is not a phone number in E.164 form (+14185550100)")
        return value

    @model_validator(mode="after")
    def _enabled_needs_a_public_url(self) -> TwilioConfig:
        if self.public_url is not None and not self.public_url.startswith("https://"):
            raise ValueError(
                f"public_url must be an https:// URL (Twilio calls it), not {self.public_url!r}"
            )
        if self.enabled and not (self.public_url and self.account_sid):
            raise ValueError("enabled = true needs public_url and account_sid")
        return self

    def auth_token(self, environ: Mapping[str, str] | None = None) -> str:
        return _read_secret("Twilio auth token", self.auth_token_env, self.auth_token_file, environ)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"


class Config(_Section):
    agi: AgiConfig = AgiConfig()
    database: DatabaseConfig = DatabaseConfig()
    ami: AmiConfig = AmiConfig()
    pbx: PbxConfig = PbxConfig()
    line: LineConfig = LineConfig()
    listener: ListenerConfig = ListenerConfig()
    dashboard: DashboardConfig = DashboardConfig()
    logging: LoggingConfig = LoggingConfig()
    notify: NotifyConfig = NotifyConfig()
    retention: RetentionConfig = RetentionConfig()
    voicemail: VoicemailConfig = VoicemailConfig()
    twilio: TwilioConfig = TwilioConfig()

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The file this configuration was read from, or None for defaults only."""
        return self._source


def _read_secret(
    what: str,
    env_name: str | None,
    file: Path | None,
    environ: Mapping[str, str] | None,
) -> str:
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {file}: {exc.strerror}") from exc
    env = os.environ if environ is None else environ
    value = env.get(env_name) if env_name else None
    if not value:
        raise ConfigError(f"{what}: environment variable {env_name} is not set")
    return value


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the configuration: ``path``, else ``$IVR211_CONFIG``, else defaults only;
    then apply ``IVR211_<SECTION>__<KEY>`` overrides from ``environ`` (default os.environ).
    """
    env = dict(os.environ if environ is None else environ)
    if path is None and env.get(ENV_CONFIG):
        path = Path(env[ENV_CONFIG])
    source = str(path) if path is not None else "defaults"

    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(path)

    env_sources: dict[tuple[str, ...], str] = {}
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"{name}: expected the form {ENV_PREFIX}<SECTION>__<KEY>")
        section, key = parts
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {section}: must be a table to be overridden by {name}")
        table[key] = value
        env_sources[(section, key)] = name
        env_sources.setdefault((section,), name)

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, env_sources)) from None
    config._source = path
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _describe(exc: ValidationError, source: str, env_sources: Mapping[tuple[str, ...], str]) -> str:
    """One line per problem, joined with "; ", each naming its origin and dotted key."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(str(part) for part in err["loc"])
        origin = env_sources.get(loc[:2]) or (env_sources.get(loc) if len(loc) == 1 else None)
        where = origin or source
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        problems.append(f"{where}: {'.'.join(loc)}: {message}")
    return "; ".join(problems)
