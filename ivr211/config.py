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
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

ENV_CONFIG = "IVR211_CONFIG"
ENV_PREFIX = "IVR211_"
DEFAULT_SEED = Path(__file__).resolve().parent / "defaults" / "line-settings.toml"
DEFAULT_DATABASE_URL = "sqlite:///var/ivr211.db"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file or variable and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgiConfig(_Section):
    """The FastAGI server (``agi_scripts.server.ServerOptions``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=4573, ge=1, le=65535)
    header_timeout_s: float = Field(default=5.0, gt=0)
    command_timeout_s: float = Field(default=120.0, gt=0)
    max_call_s: float = Field(default=1800.0, gt=0)
    max_header_bytes: int = Field(default=16384, ge=1024)
    max_connections: int = Field(default=2000, ge=1)
    shutdown_grace_s: float = Field(default=5.0, ge=0)


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


class LineConfig(_Section):
    """How the line settings are seeded and how long a server may cache them."""

    settings_seed: Path = DEFAULT_SEED
    settings_cache_s: float = Field(default=5.0, ge=0)


class ListenerConfig(_Section):
    """The AMI listener: where records wait while the database is down, where Asterisk's
    CEL CSV is (on the PBX host) for reconciliation, and the dialplan contexts its
    actions use (asterisk_conf/extensions.conf)."""

    spool_path: Path = Path("var/listener-spool.jsonl")
    cel_path: Path | None = None
    transfer_context: str = "navigator-transfers"
    conference_context: str | None = "ivr211-conference"


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
    heartbeat_stale_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _plain_http_only_on_loopback(self) -> DashboardConfig:
        if self.allow_plain_http and self.host not in _LOOPBACK_HOSTS:
            raise ValueError(
                f"allow_plain_http is only allowed when host is a loopback address"
                f" ({', '.join(_LOOPBACK_HOSTS)}), not {self.host!r}: put a TLS proxy in front"
            )
        return self


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"


class Config(_Section):
    agi: AgiConfig = AgiConfig()
    database: DatabaseConfig = DatabaseConfig()
    ami: AmiConfig = AmiConfig()
    line: LineConfig = LineConfig()
    listener: ListenerConfig = ListenerConfig()
    dashboard: DashboardConfig = DashboardConfig()
    logging: LoggingConfig = LoggingConfig()

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
