"""The session secret: read from a file or the environment, or generated once.

``secret_key_file`` (e.g. a systemd credential) wins, then ``$secret_key_env``; when
neither is set, a random key is generated once into ``generated_secret_path`` (mode 0600)
and reused, so sessions survive a restart.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

from dashboard.options import DashboardOptions

log = logging.getLogger(__name__)

SECRET_BYTES = 32

__all__ = ["SECRET_BYTES", "SecretKeyError", "load_secret_key", "random_secret"]


def random_secret() -> str:
    """A key for one app only (tests): nothing written to disk."""
    return secrets.token_hex(SECRET_BYTES)


class SecretKeyError(ValueError):
    """The session secret cannot be read or created."""


def load_secret_key(conf: DashboardOptions, environ: Mapping[str, str] | None = None) -> str:
    """The session secret: ``secret_key_file``, else ``$secret_key_env``, else the key in
    ``generated_secret_path``, created once (mode 0600) when missing."""
    env = os.environ if environ is None else environ
    if conf.secret_key_file is not None:
        try:
            key = conf.secret_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretKeyError(
                f"dashboard.secret_key_file: cannot read {conf.secret_key_file}: {exc.strerror}"
            ) from None
        if len(key) < 16:
            raise SecretKeyError(f"dashboard.secret_key_file: {conf.secret_key_file} is too short")
        return key
    if conf.secret_key_env is not None:
        key = env.get(conf.secret_key_env, "")
        if len(key) < 16:
            raise SecretKeyError(
                f"dashboard.secret_key_env: ${conf.secret_key_env} is unset or too short"
            )
        return key
    return _generated_secret(conf.generated_secret_path)


def _generated_secret(path: Path) -> str:
    try:
        return _read_private(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(SECRET_BYTES)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dashboard-secret-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        try:
            os.link(tmp, path)  # fails if another process created it first: use theirs
        except FileExistsError:
            return _read_private(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("dashboard: generated a new session secret in %s", path)
    return key


def _read_private(path: Path) -> str:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecretKeyError(
            f"dashboard secret {path} is readable by others (mode {mode:o}): chmod 600 it"
        )
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise SecretKeyError(f"dashboard secret {path} is too short: delete it to regenerate")
    return key
