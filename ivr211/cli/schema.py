"""``ivr211 db``: migrate the schema (and seed the line settings once), show its revision."""

from __future__ import annotations

import argparse

from ivr211.cli.common import Commands, open_engine
from ivr211.config import Config
from store import linesettings as ls
from store.db import current_revision, head_revision, safe_url, upgrade

__all__ = ["add_parsers"]


def cmd_db_upgrade(args: argparse.Namespace, config: Config) -> int:
    with open_engine(config, must_exist=False) as engine:
        print(f"database: {safe_url(engine.url)}")
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
        if before == after:
            print(f"schema: already at {after} (head)")
        else:
            print(f"schema: migrated from {before or '(empty)'} to {after}")
        store = ls.SettingsStore(engine)
        seed = config.line.settings_seed
        with store.change() as session:
            seeded = ls.seed_if_empty(session, seed)
        version = store.version()
        if seeded:
            print(f"line settings: seeded from {seed} (version {version})")
        else:
            print(f"line settings: already present (version {version}); seed file not read")
    return 0


def cmd_db_current(args: argparse.Namespace, config: Config) -> int:
    with open_engine(config) as engine:
        current = current_revision(engine)
        head = head_revision()
        print(f"database: {safe_url(engine.url)}")
        if current == head:
            print(f"revision: {current} (head)")
            return 0
        print(f"revision: {current or 'none'} (code needs {head}: run `ivr211 db upgrade`)")
        return 1


def add_parsers(cli: Commands) -> None:
    db = cli.branch(cli.root, "db", "Database schema: upgrade, current revision.", "db_command")
    cli.leaf(
        db,
        "upgrade",
        "Migrate the schema to the latest revision, then seed the line settings "
        "from [line].settings_seed if the database has none.",
        cmd_db_upgrade,
    )
    cli.leaf(
        db,
        "current",
        "Show the schema revision (exit status 1 if behind the code).",
        cmd_db_current,
    )
