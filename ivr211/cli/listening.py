"""``ivr211 listen`` (the AMI listener, until SIGINT/SIGTERM), ``ivr211 listener status``
and ``ivr211 reconcile`` (the transfers and calls CEL holds and the database misses, then
the calls' waits and the navigators' pauses from queue_log).

``listen`` maps ``[listener]`` (and its command-line overrides) onto the listener's
options and runs it through :func:`ivr211.listen.run_listener`; when the AMI secret is
missing it leaves the reason in the listener's status row and exits with status 2,
which ``serve`` takes as "do not restart". So does a second listener on a spool another
one holds (it says which spool, and the other's pid), without touching the status row:
that row is the running listener's.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ivr.times import known_zone
from ivr211.cli.common import CliError, Commands, configure_logging, instant, open_engine
from ivr211.config import Config, ConfigError, ListenerConfig
from ivr211.listen import run_listener
from listener.actions import ActionOptions
from listener.cel import DEFAULT_NOANSWER_TIMEOUT_S
from listener.reconcile import (
    DEFAULT_CEL_PATH,
    DEFAULT_FEATURES_PATH,
    QueueLogReport,
    ReconcileError,
    destination_resolver,
    noanswer_timeout_from_features,
    reconcile,
    reconcile_queue_log,
)
from listener.service import ListenerOptions
from listener.spool import WriterError
from store.db import DatabaseError, make_engine, require_current, session_factory
from store.linesettings import SettingsStore
from store.navigators import get_status, set_status

__all__ = ["add_listen_parser", "add_reconcile_parser", "add_status_parser"]


def cmd_listen(args: argparse.Namespace, config: Config) -> int:
    configure_logging(config)
    try:
        config.ami.secret()
    except ConfigError as exc:
        _record_listener_stopped(config, f"not started: {exc}")
        raise
    conf = config.listener
    timeout = args.noanswer_timeout
    if timeout is None:
        timeout = noanswer_timeout_from_features(args.features) or DEFAULT_NOANSWER_TIMEOUT_S
    options = ListenerOptions(
        spool_path=args.spool or conf.spool_path,
        cel_path=args.cel or conf.cel_path,
        queue_log_path=args.queue_log or conf.queue_log_path,
        actions=ActionOptions(
            transfer_context=args.transfer_context or conf.transfer_context,
            conference_context=args.conference_context or conf.conference_context,
        ),
        pbx_timezone=config.pbx.zone,
        noanswer_timeout_s=timeout,
        wrapup_s=conf.wrapup_s,
    )
    try:
        run_listener(config, options)
    except WriterError as exc:  # SpoolBusy: another listener holds the spool
        logging.getLogger(__name__).error("listener not started: %s", exc)
        raise CliError(f"not started: {exc}") from None
    return 0


def _record_listener_stopped(config: Config, detail: str) -> None:
    """Leave the reason in the status row, so `listener status` and the dashboard show
    why the listener is not running (best effort: the database may be the problem)."""
    try:
        with open_engine(config) as engine, Session(engine) as session, session.begin():
            set_status(session, "stopped", detail, datetime.now(UTC))
    except (CliError, DatabaseError, SQLAlchemyError) as exc:
        logging.getLogger(__name__).warning("cannot record the listener's state: %s", exc)


def cmd_listener_status(args: argparse.Namespace, config: Config) -> int:
    with open_engine(config) as engine:
        require_current(engine)
        with Session(engine) as session:
            state = get_status(session)
    if state is None:
        print("listener: never ran on this database")
        return 1
    now = datetime.now(UTC)
    print(f"state: {state.state}")
    print(f"detail: {state.detail}")
    print(f"since: {state.since.isoformat(timespec='seconds')}")
    print(f"last heard: {state.heartbeat_at.isoformat(timespec='seconds')}")
    if state.stale(now, args.max_age):
        print(f"WARNING: no news from the listener for over {args.max_age:g} s: is it running?")
        return 1
    return 0 if state.state == "connected" else 1


#: The navigators' transfer context when neither --transfer-context nor the file says.
_TRANSFER_CONTEXT = ListenerConfig().transfer_context


def _reconcile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cel",
        type=Path,
        default=DEFAULT_CEL_PATH,
        help=f"cel_custom CSV file (default {DEFAULT_CEL_PATH})",
    )
    parser.add_argument(
        "--queue-log",
        type=Path,
        help="app_queue's queue_log, read after CEL (default: [listener] queue_log_path; "
        "not read when neither is set)",
    )
    parser.add_argument(
        "--since",
        help="only transfers that ended at or after this ISO 8601 time "
        "(without offset: in --tz); default: the whole file",
    )
    parser.add_argument(
        "--tz",
        help="time zone of CEL rows written with a dateformat (epoch rows need none); "
        "default: [pbx] timezone",
    )
    parser.add_argument(
        "--features",
        type=Path,
        default=DEFAULT_FEATURES_PATH,
        help=f"features.conf to read atxfernoanswertimeout from (default {DEFAULT_FEATURES_PATH})",
    )
    parser.add_argument(
        "--noanswer-timeout",
        type=float,
        help="atxfernoanswertimeout in seconds (overrides --features)",
    )
    parser.add_argument(
        "--transfer-context",
        default=_TRANSFER_CONTEXT,
        help=f"the navigators' TRANSFER_CONTEXT (default {_TRANSFER_CONTEXT})",
    )
    parser.add_argument(
        "--twilio",
        action="store_true",
        help="rebuild the call records of the Twilio back end from Twilio's Calls resource "
        "instead ([twilio]); needs --since",
    )


def _reconcile_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(known_zone(name))
    except ValueError as exc:
        raise ReconcileError(f"--tz: {exc}") from None


def cmd_reconcile(args: argparse.Namespace, config: Config) -> int:
    """One summary line on stdout; unusable input -> exit 2."""
    configure_logging(config)
    if getattr(args, "twilio", False):
        # Imported here: twilio is loaded only for this back end.
        from ivr211.twilio_options import reconcile_from_twilio

        return reconcile_from_twilio(config, args.since, args.tz)
    if args.cel == DEFAULT_CEL_PATH and config.listener.cel_path is not None:
        args.cel = config.listener.cel_path
    if args.transfer_context == _TRANSFER_CONTEXT:
        args.transfer_context = config.listener.transfer_context
    engine = make_engine(config.database.url, password=config.database.password())
    try:
        require_current(engine)
        settings = SettingsStore(engine).load()
        zone = _reconcile_zone(args.tz) if args.tz else config.pbx.zone
        timeout = args.noanswer_timeout
        if timeout is None:
            timeout = noanswer_timeout_from_features(args.features) or DEFAULT_NOANSWER_TIMEOUT_S
        since = None
        if args.since is not None:
            try:
                since = instant("--since", args.since, zone).astimezone(UTC)
            except CliError as exc:
                raise ReconcileError(str(exc)) from None
        sessions = session_factory(engine)
        report = reconcile(
            args.cel,
            sessions,
            destination_resolver(settings, args.transfer_context),
            since,
            tz=zone,
            noanswer_timeout_s=timeout,
            transfer_contexts={args.transfer_context},
        )
        queue_log = args.queue_log or config.listener.queue_log_path
        waits: QueueLogReport | None = None
        if queue_log is not None:
            waits = reconcile_queue_log(queue_log, sessions, since)
    except ReconcileError as exc:
        print(f"ivr211 reconcile: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(
        f"{report.path}: {report.rows} rows, {report.facts} transfer facts, "
        f"{report.inserted} recorded now, {report.already} already recorded"
        + (f", {report.bad_lines} unreadable lines" if report.bad_lines else "")
        + (
            ", last line still being written (left for the next run)"
            if report.partial_last_line
            else ""
        )
        + f"; {report.calls} calls"
        + (f", {report.bad_call_events} unreadable call events" if report.bad_call_events else "")
    )
    if waits is not None:
        print(
            f"{waits.path}: {waits.lines} lines, {waits.calls} calls completed, "
            f"{waits.intervals} navigator intervals recorded now"
            + (
                f", {waits.bad_lines + waits.problems} unreadable lines"
                if waits.bad_lines + waits.problems
                else ""
            )
        )
    return 0


def add_reconcile_parser(cli: Commands) -> None:
    rec = cli.leaf(
        cli.root,
        "reconcile",
        "Record the transfers and calls missing from the database from Asterisk's CEL CSV, "
        "then the calls' waits from queue_log (on the PBX host; [listener] cel_path, "
        "queue_log_path).",
        cmd_reconcile,
    )
    _reconcile_arguments(rec)


def add_listen_parser(cli: Commands) -> None:
    listen = cli.leaf(
        cli.root,
        "listen",
        "Run the AMI listener (transfer records, navigators' actions) until SIGINT/SIGTERM.",
        cmd_listen,
    )
    listen.add_argument(
        "--spool",
        type=Path,
        help="durable spool for records while the database is down ([listener] spool_path)",
    )
    listen.add_argument(
        "--cel",
        type=Path,
        help="CEL CSV to reconcile from at start and after a reconnect ([listener] cel_path)",
    )
    listen.add_argument(
        "--queue-log",
        type=Path,
        help="queue_log to reconcile from with CEL ([listener] queue_log_path)",
    )
    listen.add_argument("--transfer-context", help="[listener] transfer_context")
    listen.add_argument(
        "--features",
        type=Path,
        default=DEFAULT_FEATURES_PATH,
        help="features.conf to read atxfernoanswertimeout from, for reading CEL "
        f"(default {DEFAULT_FEATURES_PATH})",
    )
    listen.add_argument(
        "--noanswer-timeout",
        type=float,
        help="atxfernoanswertimeout in seconds (overrides --features)",
    )
    listen.add_argument(
        "--conference-context",
        help="ConfBridge room context ([listener] conference_context; three-way is off without it)",
    )


def add_status_parser(cli: Commands) -> None:
    lis = cli.branch(cli.root, "listener", "The AMI listener's state.", "listener_cmd")
    lstat = cli.leaf(
        lis,
        "status",
        "Show the listener's link state (exit 1 unless connected).",
        cmd_listener_status,
    )
    lstat.add_argument("--max-age", type=float, default=60.0, help="seconds before stale")
