"""What every command group of the CLI shares: the one-line error, the parsers' shape,
opening the database, reading times on the command line.

Each group module (``schema``, ``services``, ``users``, ``line``, ``listening``,
``navigation``, ``research_box``, ``privacy``, ``simulation``) adds its commands through
:class:`Commands` and imports from here, never from the package (``ivr211.cli``), which
imports them all.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import NoReturn, TypeAlias

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ivr.logsafe import EscapingFormatter
from ivr211.config import Config
from store.db import make_engine, require_current, sqlite_path
from store.linesettings import SettingsStore

__all__ = [
    "EXIT_USAGE",
    "PROG",
    "CliError",
    "Commands",
    "Group",
    "Handler",
    "Parser",
    "configure_logging",
    "default_user",
    "instant",
    "local_time",
    "one_line",
    "open_engine",
    "open_store",
]

PROG = "ivr211"
EXIT_USAGE = 2


class CliError(Exception):
    """Bad input or an unusable environment, reported as one line with exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage is behind --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


Handler = Callable[[argparse.Namespace, Config], int]
#: A group of sub-commands (what ``add_subparsers`` returns).
Group: TypeAlias = "argparse._SubParsersAction[Parser]"


class Commands:
    """Where a command group adds its commands: ``root`` (the top-level commands), the
    parent parsers they share (``common``: ``--config``; ``by``: ``--by``, for the
    commands that change something) and :meth:`leaf` / :meth:`branch`."""

    def __init__(self, root: Group) -> None:
        self.root = root
        self.common = Parser(add_help=False)
        self.common.add_argument(
            "--config",
            type=Path,
            default=argparse.SUPPRESS,
            metavar="PATH",
            help="configuration file (else $IVR211_CONFIG, else built-in defaults)",
        )
        self.by = Parser(add_help=False)
        self.by.add_argument(
            "--by", default=default_user(), help="who makes the change (default: your user name)"
        )

    def leaf(
        self,
        group: Group,
        name: str,
        text: str,
        handler: Handler,
        parents: Sequence[Parser] = (),
    ) -> Parser:
        """A command that runs ``handler``."""
        p = group.add_parser(
            name,
            help=text,
            description=text,
            parents=[self.common, *parents],
            allow_abbrev=False,
        )
        p.set_defaults(handler=handler)
        return p

    def branch(self, group: Group, name: str, text: str, dest: str) -> Group:
        """A command made of sub-commands (the one chosen is in ``args.<dest>``)."""
        p = group.add_parser(name, help=text, description=text, parents=[self.common])
        return p.add_subparsers(dest=dest, metavar="COMMAND", required=True)


# ---- helpers ---------------------------------------------------------------------


@contextmanager
def open_engine(config: Config, *, must_exist: bool = True) -> Iterator[Engine]:
    path = sqlite_path(config.database.url)
    if must_exist and path is not None and not path.exists():
        raise CliError(f"database file {path} does not exist: run `ivr211 db upgrade` first")
    engine = make_engine(config.database.url, password=config.database.password())
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def open_store(config: Config) -> Iterator[SettingsStore]:
    with open_engine(config) as engine:
        require_current(engine)
        yield SettingsStore(engine)


def default_user() -> str:
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except OSError:
        return "cli"


def instant(option: str, text: str, zone: tzinfo) -> datetime:
    """ISO 8601; a time without offset is local time of the line."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option}: not an ISO 8601 time: {text!r}") from None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def local_time(value: datetime | None, zone: tzinfo) -> str:
    if value is None:
        return "-"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def one_line(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        text = f"database error: {orig if orig is not None else exc}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def configure_logging(config: Config) -> None:
    # Control characters in a message are escaped: a value from outside (an AGI header,
    # an AMI field) cannot start a log line of its own.
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=config.logging.level, handlers=[handler])
