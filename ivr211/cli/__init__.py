"""``ivr211``: prepare the database, run the line's services, and operate the line.

Every command takes ``--config PATH`` (else ``$IVR211_CONFIG``, else defaults).
Bad input prints one line on stderr and exits with status 2, never a traceback.

One module per command group, each adding its own parsers: ``schema`` (db),
``services`` (serve, dashboard), ``listening`` (listen, listener, reconcile),
``simulation`` (simulate), ``line`` (line, settings, config), ``navigation``
(navigator, nav), ``users`` (user), ``research_box`` (voicemail), ``privacy``
(retention, privacy, notify), ``calls`` (calls), ``demo`` (demo), ``twilio`` (twilio);
``common`` holds what they share. This package imports them all; they import
``common``, never this package.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from ivr211.cli import (
    calls,
    demo,
    line,
    listening,
    navigation,
    privacy,
    research_box,
    schema,
    services,
    simulation,
    twilio,
    users,
)
from ivr211.cli.common import EXIT_USAGE, PROG, CliError, Commands, Handler, Parser, one_line
from ivr211.cli.services import Heartbeat
from ivr211.config import ConfigError, load_config
from store.db import DatabaseError
from store.linesettings import SettingsError

__all__ = ["PROG", "CliError", "Heartbeat", "build_parser", "main"]


def build_parser() -> Parser:
    root = Parser(
        prog=PROG,
        description="The 211 phone line: database, FastAGI server, line status and settings.",
        allow_abbrev=False,
    )
    root.add_argument("--config", type=Path, default=None, metavar="PATH", help="as below")
    cli = Commands(root.add_subparsers(dest="command", metavar="COMMAND", required=True))
    # In the order `ivr211 --help` lists them.
    schema.add_parsers(cli)
    services.add_serve_parser(cli)
    listening.add_reconcile_parser(cli)
    simulation.add_parser(cli)
    line.add_parsers(cli)
    listening.add_listen_parser(cli)
    navigation.add_navigator_parsers(cli)
    listening.add_status_parser(cli)
    navigation.add_nav_parsers(cli)
    services.add_dashboard_parser(cli)
    users.add_parsers(cli)
    research_box.add_parsers(cli)
    privacy.add_parsers(cli)
    calls.add_parsers(cli)
    demo.add_parsers(cli)
    twilio.add_parsers(cli)
    return root


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        if args.handler is not None and extras:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.handler is None:
            return simulation.run_simulate(args, extras)
        config = load_config(args.config)
        handler: Handler = args.handler
        return handler(args, config)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except (CliError, ConfigError, SettingsError, DatabaseError, ValueError) as exc:
        return _fail(one_line(exc))
    except SQLAlchemyError as exc:
        return _fail(one_line(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
