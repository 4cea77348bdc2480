"""Shared fixtures: a throwaway PostgreSQL server, and one fresh database per test.

Storage tests take ``db_url`` and so run twice, on SQLite and on PostgreSQL. The
PostgreSQL server is started once per session from the Debian binaries
(``make test`` installs postgresql-15); it only listens on 127.0.0.1 and on a unix
socket in its own temporary directory, and is stopped at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine

from ivr211.config import DEFAULT_SEED
from store.db import make_engine, upgrade
from store.linesettings import SettingsStore, seed_if_empty

NO_POSTGRES_ENV = "IVR211_TEST_NO_POSTGRES"

#: The fuzz tests of the parsers that read outside input (``test_*_fuzz.py``): "ci" by
#: default, a few dozen inputs each and the same ones every run; "nightly"
#: (``HYPOTHESIS_PROFILE=nightly``, ``make fuzz-nightly``) 6,000 each, over 100,000 in
#: all. No deadline: a slow input is not a failure (a hang is, each test bounds its own).
FUZZ_INPUTS = {"ci": 40, "nightly": 6_000}
settings.register_profile("ci", max_examples=FUZZ_INPUTS["ci"], deadline=None, derandomize=True)
settings.register_profile(
    "nightly", max_examples=FUZZ_INPUTS["nightly"], deadline=None, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"


def _postgres_bin() -> Path | None:
    candidates = []
    for path in Path("/usr/lib/postgresql").glob("*/bin"):
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            match = re.match(r"^(\d+)", path.parent.name)
            candidates.append((int(match.group(1)) if match else 0, path))
    return max(candidates)[1] if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if os.environ.get(NO_POSTGRES_ENV) == "1":
        pytest.skip(f"{NO_POSTGRES_ENV}=1: PostgreSQL tests skipped on request")
    bindir = _postgres_bin()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: run `make test`"
            f" (it installs postgresql-15), or set {NO_POSTGRES_ENV}=1 to skip these tests",
            pytrace=False,
        )
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    # pytest's own tmp dirs are 0700 and owned by root: the postgres user could not
    # reach them, so the server gets its own directory directly under /tmp.
    base = Path(tempfile.mkdtemp(prefix="ivr211-pg-"))
    if as_root:
        shutil.chown(base, user="postgres", group="postgres")
    data = base / "data"
    log = base / "server.log"
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)

    started = False
    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {base}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        started = True
        yield PostgresServer(host="127.0.0.1", port=port, user="postgres")
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip()
        server_log = log.read_text() if log.exists() else ""
        pytest.fail(f"cannot start PostgreSQL: {detail}\n{server_log}", pytrace=False)
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a fresh, empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    import psycopg

    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name)
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the fresh database, disposed after the test."""
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def migrated_engine(engine: Engine) -> Engine:
    upgrade(engine)
    return engine


@pytest.fixture
def store(migrated_engine: Engine) -> SettingsStore:
    """A settings store on a migrated database seeded with the packaged defaults."""
    settings_store = SettingsStore(migrated_engine)
    with settings_store.change() as session:
        seed_if_empty(session, DEFAULT_SEED)
    return settings_store
