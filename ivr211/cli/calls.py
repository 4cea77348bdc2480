"""``ivr211 calls rebuild-rollups``: sum the call reports' roll-ups again from the call
records and the navigators' activity (``store.rollups``).

The roll-ups are kept up to date as calls and activity are written; run this after
anything that changed the raw rows by another way (a database restored from a backup,
rows loaded by hand, a change of the line's time zone), or to check them: it prints the
rows of each roll-up, and ``--check`` only says whether they were right.
"""

from __future__ import annotations

import argparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr211.cli.common import Commands, open_engine
from ivr211.config import Config
from store import rollups
from store.db import require_current

__all__ = ["add_parsers"]


def _snapshot(session: Session) -> dict[str, list[tuple[object, ...]]]:
    return {
        model.__tablename__: sorted(
            (tuple(row) for row in session.execute(select(model.__table__))), key=repr
        )
        for model in rollups.EVERY_ROLLUP
    }


def cmd_calls_rebuild(args: argparse.Namespace, config: Config) -> int:
    with open_engine(config) as engine:
        require_current(engine)
        with Session(engine) as session:
            before = _snapshot(session)
            counts = rollups.rebuild(session)
            after = _snapshot(session)
            changed = sorted(name for name in after if after[name] != before[name])
            if args.check:
                session.rollback()
            else:
                session.commit()
    for name, rows in counts.items():
        print(f"{name}: {rows} rows")
    if args.check:
        if changed:
            print(f"out of date: {', '.join(changed)} (run without --check to rebuild)")
            return 1
        print("roll-ups: up to date")
        return 0
    print(f"rebuilt; changed: {', '.join(changed) if changed else 'none'}")
    return 0


def add_parsers(cli: Commands) -> None:
    calls = cli.branch(cli.root, "calls", "Call records and their report roll-ups.", "calls_cmd")
    rebuild = cli.leaf(
        calls,
        "rebuild-rollups",
        "Sum the call reports' daily roll-ups again from every call record and navigator "
        "activity interval (after a restore, a load by hand, a change of time zone).",
        cmd_calls_rebuild,
    )
    rebuild.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a roll-up was out of date"
    )
