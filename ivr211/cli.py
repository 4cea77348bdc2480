"""``ivr211``: prepare the database, run the line's services, and operate the line.

Every command takes ``--config PATH`` (else ``$IVR211_CONFIG``, else defaults).
Bad input prints one line on stderr and exits with status 2, never a traceback.
The call-flow and FastAGI modules are imported inside the commands that use them,
so the storage commands keep working whatever state those are in.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ivr import settings as s
from ivr211.config import Config, ConfigError, ListenerConfig, load_config
from ivr211.listen import run_listener
from ivr211.options import ingest_options
from ivr211.ports import PortInUse, bind_error_message, check_free
from listener.actions import ActionOptions
from listener.cel import DEFAULT_NOANSWER_TIMEOUT_S
from listener.reconcile import (
    DEFAULT_CEL_PATH,
    DEFAULT_FEATURES_PATH,
    ReconcileError,
    destination_resolver,
    noanswer_timeout_from_features,
    reconcile,
)
from listener.service import ListenerOptions
from store import commands
from store import linesettings as ls
from store.db import (
    DatabaseError,
    current_revision,
    head_revision,
    make_engine,
    require_current,
    safe_url,
    session_factory,
    sqlite_path,
    upgrade,
)

PROG = "ivr211"
EXIT_USAGE = 2


class CliError(Exception):
    """Bad input or an unusable environment, reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage is behind --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


Handler = Callable[[argparse.Namespace, Config], int]


# ---- helpers ---------------------------------------------------------------------


@contextmanager
def _open_engine(config: Config, *, must_exist: bool = True) -> Iterator[Engine]:
    path = sqlite_path(config.database.url)
    if must_exist and path is not None and not path.exists():
        raise CliError(f"database file {path} does not exist: run `ivr211 db upgrade` first")
    engine = make_engine(config.database.url, password=config.database.password())
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _open_store(config: Config) -> Iterator[ls.SettingsStore]:
    with _open_engine(config) as engine:
        require_current(engine)
        yield ls.SettingsStore(engine)


def _default_user() -> str:
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except OSError:
        return "cli"


def _instant(option: str, text: str, zone: ZoneInfo) -> datetime:
    """ISO 8601; a time without offset is local time of the line."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option}: not an ISO 8601 time: {text!r}") from None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "-"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        text = f"database error: {orig if orig is not None else exc}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


# ---- db --------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace, config: Config) -> int:
    with _open_engine(config, must_exist=False) as engine:
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
    with _open_engine(config) as engine:
        current = current_revision(engine)
        head = head_revision()
        print(f"database: {safe_url(engine.url)}")
        if current == head:
            print(f"revision: {current} (head)")
            return 0
        print(f"revision: {current or 'none'} (code needs {head}: run `ivr211 db upgrade`)")
        return 1


# ---- serve / simulate --------------------------------------------------------------


def _configure_logging(config: Config) -> None:
    logging.basicConfig(
        level=config.logging.level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from agi_scripts.server import ServerOptions, run_forever

    _configure_logging(config)
    with _open_store(config) as store:
        store.load()
        accepted = {f.name for f in dataclasses.fields(ServerOptions)}
        options = ServerOptions(
            **{k: v for k, v in config.agi.model_dump().items() if k in accepted}
        )
        source = ls.CachedSettings(store, config.line.settings_cache_s)
        _check_ports(config, dashboard=config.dashboard.enabled and not args.no_dashboard)
        logging.getLogger(__name__).info(
            "FastAGI server on %s:%d, settings from %s",
            options.host,
            options.port,
            safe_url(store.engine.url),
        )
        supervisor = None
        if not args.no_listener:
            from ivr211.supervise import ChildSupervisor, listener_argv

            source_path = str(config.source) if config.source else None
            supervisor = ChildSupervisor(listener_argv(source_path), name="AMI listener")
            supervisor.start()
        dashboard = None
        if config.dashboard.enabled and not args.no_dashboard:
            from ivr211.supervise import ChildSupervisor

            source_path = str(config.source) if config.source else None
            dashboard = ChildSupervisor(_dashboard_argv(source_path), name="dashboard")
            dashboard.start()
        heartbeat = Heartbeat(store.engine, "fastagi")
        heartbeat.start()
        try:
            run_forever(options, source)
        except OSError as exc:
            # Taken between the check and the bind: still one line, no traceback.
            raise CliError(
                bind_error_message(
                    exc, options.host, options.port, what="FastAGI server", setting=_AGI_PORT
                )
            ) from None
        finally:
            heartbeat.stop()
            for child in (dashboard, supervisor):
                if child is not None:
                    child.stop()
    return 0


class Heartbeat:
    """Writes this process's heartbeat (``service_heartbeats``) every ``interval_s`` from
    a thread, off the FastAGI event loop, so the dashboard can tell a running server from
    a dead one. A failed write is logged and retried at the next beat."""

    def __init__(self, engine: Engine, name: str, interval_s: float = 10.0) -> None:
        import threading

        self._engine = engine
        self._name = name
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._started_at = datetime.now(UTC)
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._interval_s + 5)

    def beat_once(self) -> None:
        from sqlalchemy.orm import Session

        from store.accounts import beat

        with Session(self._engine) as session, session.begin():
            beat(session, self._name, self._started_at, datetime.now(UTC))

    def _run(self) -> None:
        while True:
            try:
                self.beat_once()
            except SQLAlchemyError as exc:
                logging.getLogger(__name__).warning(
                    "%s heartbeat not written: %s", self._name, _one_line(exc)
                )
            if self._stop.wait(self._interval_s):
                return


_AGI_PORT = "[agi] port (IVR211_AGI__PORT)"
_DASHBOARD_PORT = "[dashboard] port (IVR211_DASHBOARD__PORT)"


def _check_ports(config: Config, *, dashboard: bool) -> None:
    """Refuse to start anything when a port the line listens on is taken."""
    try:
        check_free(config.agi.host, config.agi.port, what="FastAGI server", setting=_AGI_PORT)
        if dashboard:
            check_free(
                config.dashboard.host,
                config.dashboard.port,
                what="dashboard",
                setting=_DASHBOARD_PORT,
            )
    except PortInUse as exc:
        raise CliError(str(exc)) from None


def _dashboard_argv(config_path: str | None) -> list[str]:
    argv = [sys.executable, "-m", "ivr211.cli"]
    if config_path:
        argv += ["--config", config_path]
    return [*argv, "dashboard"]


# ---- dashboard / users ------------------------------------------------------------


def cmd_dashboard(args: argparse.Namespace, config: Config) -> int:
    """Serve the dashboard with waitress (a production WSGI server) until SIGINT/SIGTERM."""
    import signal

    import waitress

    from dashboard import create_app
    from ivr211.dashboard_options import dashboard_options  # imports Flask too: on demand

    _configure_logging(config)
    conf = config.dashboard
    host = args.host or conf.host
    port = args.port or conf.port
    if conf.allow_plain_http and host not in ("127.0.0.1", "::1", "localhost"):
        raise CliError(f"--host {host}: allow_plain_http is only allowed on a loopback address")
    with _open_engine(config) as engine:
        require_current(engine)
        app = create_app(dashboard_options(config), engine=engine)
        try:
            server = waitress.create_server(
                app, host=host, port=port, threads=conf.threads, ident="ivr211"
            )
        except OSError as exc:
            setting = "--port or " + _DASHBOARD_PORT
            raise CliError(
                bind_error_message(exc, host, port, what="dashboard", setting=setting)
            ) from None

        def stop(_signum: int, _frame: Any) -> None:
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        logging.getLogger(__name__).info(
            "dashboard on http://%s:%d/ (cookies %s)",
            host,
            port,
            "sent over plain HTTP (loopback only)" if conf.allow_plain_http else "HTTPS only",
        )
        try:
            server.run()
        except SystemExit:
            pass
        finally:
            server.close()
    return 0


def _read_new_password(args: argparse.Namespace, username: str) -> str:
    from store.accounts import AccountError, check_password_strength

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise CliError("no terminal to ask the password: use --password-stdin")
        password = getpass.getpass(f"password for {username}: ")
        again = getpass.getpass("the same password again: ")
        if password != again:
            raise CliError("the two passwords differ")
    try:
        check_password_strength(password, username)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    return password


@contextmanager
def _accounts_session(config: Config) -> Iterator[Any]:
    from sqlalchemy.orm import Session

    from store.accounts import AccountError

    with _open_engine(config) as engine:
        require_current(engine)
        try:
            with Session(engine) as session, session.begin():
                yield session
        except AccountError as exc:
            raise CliError(str(exc)) from None


def cmd_user_add(args: argparse.Namespace, config: Config) -> int:
    from store.accounts import create_user
    from store.navigators import navigator_by_username

    if args.navigator and args.role != "navigator":
        raise CliError("--navigator applies to --role navigator only")
    password = _read_new_password(args, args.username)
    with _accounts_session(config) as session:
        navigator_id = None
        if args.navigator:
            nav = navigator_by_username(session, args.navigator)
            if nav is None:
                raise CliError(
                    f"no navigator {args.navigator!r} (create it with `ivr211 navigator add`)"
                )
            navigator_id = nav.id
        user = create_user(
            session,
            args.username,
            password,
            args.role,
            display_name=args.name or "",
            language=args.language,
            navigator_id=navigator_id,
        )
        tied = f", navigator {args.navigator}" if args.navigator else ""
        print(f"user {user.username} created: role {user.role}{tied}")
    return 0


def cmd_user_list(args: argparse.Namespace, config: Config) -> int:
    from store.accounts import list_users

    now = datetime.now(UTC)
    with _accounts_session(config) as session:
        users = list_users(session)
        if not users:
            print("no users: create the first admin with `ivr211 user add NAME --role admin`")
        for user in users:
            state = "active" if user.active else "disabled"
            if user.locked_until is not None and user.locked_until > now:
                state += f", locked until {user.locked_until.isoformat(timespec='seconds')}"
            print(f"{user.username}\t{user.role}\t{user.display_name}\t{state}")
    return 0


def cmd_user_passwd(args: argparse.Namespace, config: Config) -> int:
    from store.accounts import set_password, user_by_username

    with _accounts_session(config) as session:
        if user_by_username(session, args.username) is None:
            raise CliError(f"no user {args.username!r}")
    password = _read_new_password(args, args.username)
    with _accounts_session(config) as session:
        set_password(session, args.username, password)
    print(f"password of {args.username} changed; its other sessions are closed")
    return 0


def cmd_user_disable(args: argparse.Namespace, config: Config) -> int:
    from store.accounts import user_by_username

    with _accounts_session(config) as session:
        user = user_by_username(session, args.username)
        if user is None:
            raise CliError(f"no user {args.username!r}")
        user.active = args.user_cmd == "enable"
        name, active = user.username, user.active
    print(f"user {name} {'enabled' if active else 'disabled'}")
    return 0


def cmd_user_unlock(args: argparse.Namespace, config: Config) -> int:
    from store.accounts import unlock, user_by_username

    with _accounts_session(config) as session:
        if user_by_username(session, args.username) is None:
            raise CliError(f"no user {args.username!r}")
        unlock(session, args.username)
    print(f"login lock of {args.username} lifted")
    return 0


def reconcile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cel",
        type=Path,
        default=DEFAULT_CEL_PATH,
        help=f"cel_custom CSV file (default {DEFAULT_CEL_PATH})",
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


_TRANSFER_CONTEXT = ListenerConfig().transfer_context


def _reconcile_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReconcileError(f"--tz: unknown time zone {name!r}") from None


def cmd_reconcile(args: argparse.Namespace, config: Config) -> int:
    """One summary line on stdout; unusable input -> exit 2."""
    _configure_logging(config)
    if args.cel == DEFAULT_CEL_PATH and config.listener.cel_path is not None:
        args.cel = config.listener.cel_path
    if args.transfer_context == _TRANSFER_CONTEXT:
        args.transfer_context = config.listener.transfer_context
    engine = make_engine(config.database.url, password=config.database.password())
    try:
        require_current(engine)
        settings = ls.SettingsStore(engine).load()
        zone = _reconcile_zone(args.tz) if args.tz else config.pbx.zone
        timeout = args.noanswer_timeout
        if timeout is None:
            timeout = noanswer_timeout_from_features(args.features) or DEFAULT_NOANSWER_TIMEOUT_S
        since = None
        if args.since is not None:
            try:
                since = _instant("--since", args.since, zone).astimezone(UTC)
            except CliError as exc:
                raise ReconcileError(str(exc)) from None
        report = reconcile(
            args.cel,
            session_factory(engine),
            destination_resolver(settings, args.transfer_context),
            since,
            tz=zone,
            noanswer_timeout_s=timeout,
            transfer_contexts={args.transfer_context},
        )
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
    )
    return 0


def run_simulate(args: argparse.Namespace, extras: Sequence[str]) -> int:
    """``ivr211 simulate``: the simulator's own options, with host/port from the config."""
    try:
        simulate = importlib.import_module("agi_scripts.simulate")
    except ImportError as exc:
        raise CliError(f"the call simulator is not available: {exc}") from None
    parser = _Parser(
        prog=f"{PROG} simulate",
        description="Place simulated calls against the FastAGI server.",
        allow_abbrev=False,
    )
    parser.add_argument("--config", type=Path, help="configuration file (else $IVR211_CONFIG)")
    simulate.add_arguments(parser)
    wants_help = any(arg in ("-h", "--help") for arg in extras)
    config: Config | None = None
    try:
        config = load_config(args.config)
    except ConfigError:
        if not wants_help:
            raise
    else:
        dests = {action.dest for action in parser._actions}
        defaults = {k: v for k, v in (("host", config.agi.host), ("port", config.agi.port))}
        parser.set_defaults(**{k: v for k, v in defaults.items() if k in dests})
        _configure_logging(config)
    parser.add_argument(
        "--leave-message",
        action="store_true",
        help="when the call ends on the research route, leave a message in the voicemail "
        "spool ([voicemail] spool_dir) as app_voicemail would",
    )
    parsed = parser.parse_args(list(extras))
    hook = None
    if parsed.leave_message and config is not None:
        hook = _spool_writer(config)
    return int(simulate.run(parsed, hook))


def _spool_writer(config: Config) -> Callable[[Mapping[str, str], str], None]:
    """Do what [ivr211-research] does after the flow: VoiceMail() with VM_CATEGORY set
    from the caller's language and callback number."""
    from ivr.dialplan import VAR_CALLBACK, VAR_LANG, vm_category
    from ivr211.voicemail_cli import leave_message

    def write(variables: Mapping[str, str], callerid: str) -> None:
        options = ingest_options(config)
        box, _, context = options.mailbox.partition("@")
        language = variables.get(f"__{VAR_LANG}") or variables.get(VAR_LANG) or "fr"
        callback = variables.get(VAR_CALLBACK) or None
        txt = leave_message(
            options.mailbox_dir / "INBOX",
            mailbox=box,
            context=context,
            callerid=callerid,
            category=vm_category("en" if language == "en" else "fr", callback),
        )
        print(f"message left: {txt} (and {txt.with_suffix('.wav').name})")

    return write


# ---- line ------------------------------------------------------------------------


def cmd_line_status(args: argparse.Namespace, config: Config) -> int:
    from ivr.schedule import compute_state

    with _open_store(config) as store:
        zone = ZoneInfo(store.load().schedule.timezone)
        at = _instant("--at", args.at, zone) if args.at else datetime.now(UTC)
        settings = store.load(now=at)
        with store.change() as session:
            to_fill = ls.numbers_to_fill(session)
            to_verify = ls.unverified_numbers(session)
    state = compute_state(settings.schedule, at)
    print(f"state: {'open' if state.is_open else 'closed'}")
    print(f"reason: {state.reason}")
    print(f"detail: {state.detail}")
    until = _local(state.until, zone) if state.until else "not known (or until lifted)"
    print(f"until: {until}")
    if state.holiday_name:
        print(f"holiday: {state.holiday_name}")
    print(f"at: {_local(at, zone)}")
    print(f"settings version: {settings.version}")
    _print_numbers("to fill in", [(k, t, f"(placeholder {n})" if n else "") for k, t, n in to_fill])
    _print_numbers("to verify", to_verify)
    return 0


def _print_numbers(title: str, rows: list[tuple[str, str, str]]) -> None:
    """One line per destination: ``to fill in (crise): capitale-nationale, ...`` (a
    transfer there fails until an administrator enters the number) or ``to verify (911):
    capitale-nationale 911, ...`` (it dials, but nobody has checked it with the centre)."""
    if not rows:
        print(f"{title}: nothing")
    by_key: dict[str, list[str]] = {}
    for key, territory, number in rows:
        by_key.setdefault(key, []).append(f"{territory} {number}".strip())
    for key, items in by_key.items():
        print(f"{title} ({key}): {', '.join(items)}")


def cmd_line_override(args: argparse.Namespace, config: Config) -> int:
    with _open_store(config) as store:
        zone = ZoneInfo(store.load().schedule.timezone)
        mode: s.OverrideMode | None = None
        if args.mode == "open":
            mode = "open"
        elif args.mode == "closed":
            mode = "closed"
        elif args.until or args.reason:
            raise CliError("line override clear: --until and --reason apply to open/closed")
        if args.exceptional and mode != "closed":
            raise CliError("line override: --exceptional applies to closed only")
        until = _instant("--until", args.until, zone) if args.until else None
        with store.change() as session:
            version = ls.set_override(
                session, mode, until, args.reason or "", args.by, exceptional=args.exceptional
            )
    if mode is None:
        print(f"override cleared (settings version {version})")
    else:
        end = _local(until, zone) if until else "lifted"
        kind = " (exceptional closure)" if args.exceptional else ""
        print(f"override: forced {mode}{kind} until {end} (settings version {version})")
    return 0


def cmd_closure_add(args: argparse.Namespace, config: Config) -> int:
    with _open_store(config) as store:
        zone = ZoneInfo(store.load().schedule.timezone)
        starts = _instant("--start", args.start, zone)
        ends = _instant("--end", args.end, zone)
        with store.change() as session:
            closure_id = ls.add_closure(session, starts, ends, args.reason, args.by)
    print(f"closure {closure_id} added: {_local(starts, zone)} -> {_local(ends, zone)}")
    return 0


def cmd_closure_list(args: argparse.Namespace, config: Config) -> int:
    with _open_store(config) as store:
        zone = ZoneInfo(store.load().schedule.timezone)
        with store.change() as session:
            rows = ls.list_closures(session, ending_after=None if args.all else datetime.now(UTC))
    if not rows:
        print("no closures" if args.all else "no current or coming closures")
    for row in rows:
        print(
            f"{row.id}\t{_local(row.starts, zone)}\t{_local(row.ends, zone)}"
            f"\t{row.reason}\t(by {row.created_by})"
        )
    return 0


def cmd_closure_remove(args: argparse.Namespace, config: Config) -> int:
    with _open_store(config) as store, store.change() as session:
        ls.remove_closure(session, args.id, args.by)
    print(f"closure {args.id} removed")
    return 0


# ---- settings / config -------------------------------------------------------------


def cmd_settings_show(args: argparse.Namespace, config: Config) -> int:
    with _open_store(config) as store:
        settings = store.load()
        with store.change() as session:
            unverified = ls.unverified_numbers(session)
            to_fill = ls.numbers_to_fill(session)
    view = dict(ls.describe(settings))
    view["numbers_to_fill"] = [f"{k} {t} {n}".strip() for k, t, n in to_fill]
    view["numbers_to_verify"] = [f"{k} {t} {n}" for k, t, n in unverified]
    if args.json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return 0
    _print_tree(view)
    return 0


def _print_tree(value: Any, indent: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                print(f"{indent}{key}:")
                _print_tree(item, indent + "  ")
            else:
                print(f"{indent}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                first, *rest = item.items()
                print(f"{indent}- {first[0]}: {_scalar(first[1])}")
                _print_tree(dict(rest), indent + "  ")
            else:
                print(f"{indent}- {_scalar(item)}")


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def cmd_config_check(args: argparse.Namespace, config: Config) -> int:
    data = config.model_dump(mode="json")
    data["database"]["url"] = safe_url(config.database.url)
    source = config.source or "defaults only (no file, no $IVR211_CONFIG)"
    print(f"# configuration: {source}")
    for section, values in data.items():
        print(f"[{section}]")
        for key, value in values.items():
            if value is not None:
                print(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    try:
        config.ami.secret()
        secret_state = "present"
    except ConfigError as exc:
        secret_state = f"MISSING ({exc})"
    print(f"# AMI secret from {config.ami.secret_source()}: {secret_state}")
    print("# configuration OK")
    return 0


# ---- listener / nav ----------------------------------------------------------------


def cmd_listen(args: argparse.Namespace, config: Config) -> int:
    _configure_logging(config)
    try:
        config.ami.secret()
    except ConfigError as exc:
        _record_listener_stopped(config, f"not started: {exc}")
        raise
    conf = config.listener
    options = ListenerOptions(
        spool_path=args.spool or conf.spool_path,
        cel_path=args.cel or conf.cel_path,
        actions=ActionOptions(
            transfer_context=args.transfer_context or conf.transfer_context,
            conference_context=args.conference_context or conf.conference_context,
        ),
        pbx_timezone=config.pbx.zone,
    )
    run_listener(config, options)
    return 0


def cmd_navigator_add(args: argparse.Namespace, config: Config) -> int:
    from sqlalchemy.orm import Session

    from store.navigators import NavigatorError, add_navigator

    with _open_engine(config) as engine:
        require_current(engine)
        try:
            with Session(engine) as session, session.begin():
                nav = add_navigator(
                    session, args.username, args.name or args.username, args.endpoint, args.queue
                )
                print(
                    f"navigator {nav.username}: phone {nav.phone_endpoint}, "
                    f"queue member {nav.queue_interface}"
                )
        except NavigatorError as exc:
            raise CliError(str(exc)) from None
        except IntegrityError:
            raise CliError(
                f"a navigator already uses the name {args.username!r}, the phone "
                f"{args.endpoint!r} or its queue member interface"
            ) from None
    return 0


def cmd_navigator_list(args: argparse.Namespace, config: Config) -> int:
    from sqlalchemy.orm import Session

    from store.navigators import list_navigators

    with _open_engine(config) as engine:
        require_current(engine)
        with Session(engine) as session:
            for nav in list_navigators(session):
                state = "" if nav.active else " (inactive)"
                print(f"{nav.username}\t{nav.phone_endpoint}\t{nav.queue_interface}{state}")
    return 0


def _record_listener_stopped(config: Config, detail: str) -> None:
    """Leave the reason in the status row, so `listener status` and the dashboard show
    why the listener is not running (best effort: the database may be the problem)."""
    from sqlalchemy.orm import Session

    from store.navigators import set_status

    try:
        with _open_engine(config) as engine, Session(engine) as session, session.begin():
            set_status(session, "stopped", detail, datetime.now(UTC))
    except (CliError, DatabaseError, SQLAlchemyError) as exc:
        logging.getLogger(__name__).warning("cannot record the listener's state: %s", exc)


def cmd_listener_status(args: argparse.Namespace, config: Config) -> int:
    from sqlalchemy.orm import Session

    from store.navigators import get_status

    with _open_engine(config) as engine:
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


def _submit_and_wait(
    config: Config, args: argparse.Namespace, kind: str, cmd_args: dict[str, Any]
) -> int:
    from sqlalchemy.orm import Session

    from store.navigators import navigator_by_username

    if args.ttl <= 0:
        raise CliError("--ttl must be positive")
    with _open_store(config) as store:
        settings = store.load()
        dest = cmd_args.get("destination")
        if dest is not None and settings.destination(dest) is None:
            known = ", ".join(d.key for d in settings.destinations)
            raise CliError(f"unknown destination {dest!r} (known: {known})")
        with Session(store.engine) as session, session.begin():
            if navigator_by_username(session, cmd_args["user"]) is None:
                raise CliError(f"no navigator {cmd_args['user']!r}")
            command_id = commands.submit(session, kind, cmd_args, args.by, ttl_s=args.ttl)
        result = commands.wait_result(store.engine, command_id, args.ttl + args.wait)
    payload = result.result or {}
    message = payload.get("message", "")
    if result.status == "ok":
        print(message or "done")
        return 0
    if result.status == "expired":
        print(
            f"{PROG}: not done: nobody picked the command up within {args.ttl:g} s "
            "(is `ivr211 listen` running and connected?)",
            file=sys.stderr,
        )
    elif result.status == "error":
        print(f"{PROG}: failed: {message} [{payload.get('code', 'error')}]", file=sys.stderr)
    else:
        print(f"{PROG}: no result yet (command {command_id} is {result.status})", file=sys.stderr)
    return 1


def cmd_nav_queue(args: argparse.Namespace, config: Config) -> int:
    cmd_args: dict[str, Any] = {"user": args.user}
    if getattr(args, "reason", None):
        cmd_args["reason"] = args.reason
    return _submit_and_wait(config, args, commands.PRESENCE_KINDS[args.nav_cmd], cmd_args)


def cmd_nav_transfer(args: argparse.Namespace, config: Config) -> int:
    mode = commands.ATTENDED
    if args.blind or args.three_way:
        mode = commands.BLIND if args.blind else commands.THREE_WAY
    cmd_args = {"user": args.user, "destination": args.destination, "mode": mode}
    return _submit_and_wait(config, args, commands.TRANSFER, cmd_args)


def cmd_nav_cancel(args: argparse.Namespace, config: Config) -> int:
    return _submit_and_wait(config, args, commands.CANCEL, {"user": args.user})


def cmd_nav_referral(args: argparse.Namespace, config: Config) -> int:
    cmd_args = {"user": args.user, "linkedid": args.linkedid, "destination": args.destination}
    return _submit_and_wait(config, args, commands.REFERRAL, cmd_args)


# ---- the parser ------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="configuration file (else $IVR211_CONFIG, else built-in defaults)",
    )
    by = _Parser(add_help=False)
    by.add_argument(
        "--by", default=_default_user(), help="who makes the change (default: your user name)"
    )

    root = _Parser(
        prog=PROG,
        description="The 211 phone line: database, FastAGI server, line status and settings.",
        allow_abbrev=False,
    )
    root.add_argument("--config", type=Path, default=None, metavar="PATH", help="as below")
    cmds = root.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def leaf(
        group: Any, name: str, text: str, handler: Handler, parents: Sequence[Any] = ()
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(
            name,
            help=text,
            description=text,
            parents=[common, *parents],
            allow_abbrev=False,
        )
        p.set_defaults(handler=handler)
        return p

    def branch(group: Any, name: str, text: str, dest: str) -> Any:
        p = group.add_parser(name, help=text, description=text, parents=[common])
        return p.add_subparsers(dest=dest, metavar="COMMAND", required=True)

    db = branch(cmds, "db", "Database schema: upgrade, current revision.", "db_command")
    leaf(
        db,
        "upgrade",
        "Migrate the schema to the latest revision, then seed the line settings "
        "from [line].settings_seed if the database has none.",
        cmd_db_upgrade,
    )
    leaf(
        db,
        "current",
        "Show the schema revision (exit status 1 if behind the code).",
        cmd_db_current,
    )

    serve = leaf(
        cmds,
        "serve",
        "Run the line's services until SIGINT or SIGTERM: the FastAGI server, and the "
        "AMI listener as a child process.",
        cmd_serve,
    )
    serve.add_argument(
        "--no-listener", action="store_true", help="only the FastAGI server (no AMI listener)"
    )
    serve.add_argument(
        "--no-dashboard", action="store_true", help="do not start the dashboard ([dashboard])"
    )
    rec = leaf(
        cmds,
        "reconcile",
        "Record the transfers missing from the database from Asterisk's CEL CSV "
        "(on the PBX host; [listener] cel_path).",
        cmd_reconcile,
    )
    reconcile_arguments(rec)
    sim = cmds.add_parser(
        "simulate",
        help="Place simulated calls against the FastAGI server (see `simulate --help`).",
        add_help=False,
        parents=[common],
        allow_abbrev=False,
    )
    sim.set_defaults(handler=None)

    line = branch(cmds, "line", "The line now: status, override, exceptional closures.", "line_cmd")
    status = leaf(
        line,
        "status",
        "Say whether the line is open or closed, and why (now or --at).",
        cmd_line_status,
    )
    status.add_argument("--at", metavar="ISO8601", help="another instant (local if no offset)")
    override = leaf(
        line,
        "override",
        "Force the line open or closed (the day/night switch), or clear the override.",
        cmd_line_override,
        parents=[by],
    )
    override.add_argument("mode", choices=["open", "closed", "clear"])
    override.add_argument(
        "--until", metavar="ISO8601", help="end of the override (default: lifted by hand)"
    )
    override.add_argument("--reason", default="", help="why (shown in status and to the team)")
    override.add_argument(
        "--exceptional",
        action="store_true",
        help="closed for an exceptional reason (storm, outage): callers hear that the line "
        "is exceptionally closed; without it a forced closure is the night switch and "
        "callers hear the opening hours",
    )

    closure = branch(line, "closure", "Exceptional closures (storm, team meeting).", "closure_cmd")
    add = leaf(closure, "add", "Add an exceptional closure [start, end).", cmd_closure_add, [by])
    add.add_argument("--start", required=True, metavar="ISO8601", help="local if no offset")
    add.add_argument("--end", required=True, metavar="ISO8601", help="local if no offset")
    add.add_argument("--reason", required=True, help="why the line is closed")
    lst = leaf(closure, "list", "List current and coming closures.", cmd_closure_list)
    lst.add_argument("--all", action="store_true", help="include past closures")
    rm = leaf(closure, "remove", "Remove a closure by id.", cmd_closure_remove, [by])
    rm.add_argument("id", type=int, help="closure id (from `line closure list`)")

    sett = branch(cmds, "settings", "Line settings stored in the database.", "settings_cmd")
    show = leaf(sett, "show", "Print the effective line settings.", cmd_settings_show)
    show.add_argument("--json", action="store_true", help="print JSON")

    conf = branch(cmds, "config", "The deployment configuration file.", "config_cmd")
    leaf(conf, "check", "Load and print the configuration, secrets masked.", cmd_config_check)
    listen = leaf(
        cmds,
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
        "--cel", type=Path, help="CEL CSV to reconcile from after a reconnect ([listener] cel_path)"
    )
    listen.add_argument("--transfer-context", help="[listener] transfer_context")
    listen.add_argument(
        "--conference-context",
        help="ConfBridge room context ([listener] conference_context; three-way is off without it)",
    )
    navs = branch(
        cmds, "navigator", "Navigator accounts, each tied to one phone and queue member.", "n_cmd"
    )
    nadd = leaf(navs, "add", "Create a navigator account.", cmd_navigator_add)
    nadd.add_argument("username")
    nadd.add_argument("--endpoint", required=True, help='the phone, e.g. "PJSIP/nav-alice"')
    nadd.add_argument("--queue", help="queue member interface (default: the phone endpoint)")
    nadd.add_argument("--name", help="display name (default: the username)")
    leaf(navs, "list", "List the navigator accounts.", cmd_navigator_list)
    lis = branch(cmds, "listener", "The AMI listener's state.", "listener_cmd")
    lstat = leaf(
        lis,
        "status",
        "Show the listener's link state (exit 1 unless connected).",
        cmd_listener_status,
    )
    lstat.add_argument("--max-age", type=float, default=60.0, help="seconds before stale")

    waits = _Parser(add_help=False)
    waits.add_argument(
        "--ttl", type=float, default=10.0, help="seconds the listener has to start it"
    )
    waits.add_argument("--wait", type=float, default=40.0, help="seconds to wait for its result")
    nav = branch(cmds, "nav", "Navigators' actions, run by the listener.", "nav_cmd")
    for name, text in (
        ("login", "Log the navigator in to the queue."),
        ("pause", "Pause the navigator in the queue."),
        ("unpause", "Make the navigator available again."),
        ("logout", "Log the navigator out of the queue."),
    ):
        q = leaf(nav, name, text, cmd_nav_queue, [by, waits])
        q.add_argument("user", help="navigator username")
        if name == "pause":
            q.add_argument("--reason", default="", help="pause reason (queue_log)")
    tr = leaf(
        nav,
        "transfer",
        "Warm transfer (default), blind or three-way.",
        cmd_nav_transfer,
        [by, waits],
    )
    tr.add_argument("user", help="navigator username")
    tr.add_argument("destination", help="destination key (e.g. 911, 811, cps)")
    mode = tr.add_mutually_exclusive_group()
    mode.add_argument("--blind", action="store_true")
    mode.add_argument("--three-way", action="store_true")
    cn = leaf(nav, "cancel", "Cancel a warm transfer in progress.", cmd_nav_cancel, [by, waits])
    cn.add_argument("user", help="navigator username")
    rf = leaf(
        nav, "referral", "Record a referral given without transfer.", cmd_nav_referral, [by, waits]
    )
    rf.add_argument("linkedid", help="the call's Linkedid")
    rf.add_argument("destination", help="destination key")
    rf.add_argument("--user", required=True, help="navigator username")
    _dashboard_parsers(cmds, leaf, branch)
    from ivr211.voicemail_cli import add_voicemail_parsers

    add_voicemail_parsers(cmds, leaf, branch)
    from ivr211.privacy_cli import add_privacy_parsers

    add_privacy_parsers(cmds, leaf, branch, by)
    return root


def _dashboard_parsers(cmds: Any, leaf: Callable[..., Any], branch: Callable[..., Any]) -> None:
    from store.accounts import LANGUAGES, ROLES

    dash = leaf(
        cmds,
        "dashboard",
        "Serve the dashboard with waitress until SIGINT/SIGTERM (`serve` starts it too).",
        cmd_dashboard,
    )
    dash.add_argument("--host", help="listen address ([dashboard] host)")
    dash.add_argument("--port", type=int, help="port ([dashboard] port)")
    users = branch(cmds, "user", "Dashboard users: add, list, passwd, disable.", "user_cmd")
    secret = _Parser(add_help=False)
    secret.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (else asked twice)",
    )
    uadd = leaf(
        users, "add", "Create a dashboard user (asks the password).", cmd_user_add, [secret]
    )
    uadd.add_argument("username")
    uadd.add_argument("--role", required=True, choices=ROLES)
    uadd.add_argument("--navigator", metavar="USER", help="the navigator account it acts for")
    uadd.add_argument("--name", help="display name (default: the username)")
    uadd.add_argument("--language", choices=LANGUAGES, default="fr")
    leaf(users, "list", "List the dashboard users.", cmd_user_list)
    upw = leaf(users, "passwd", "Set a user's password (asks it).", cmd_user_passwd, [secret])
    upw.add_argument("username")
    for name, text in (("disable", "Stop a user from logging in."), ("enable", "Let it again.")):
        leaf(users, name, text, cmd_user_disable).add_argument("username")
    leaf(users, "unlock", "Lift a login lock (too many failures).", cmd_user_unlock).add_argument(
        "username"
    )


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
            return run_simulate(args, extras)
        config = load_config(args.config)
        handler: Handler = args.handler
        return handler(args, config)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except (CliError, ConfigError, ls.SettingsError, DatabaseError, ValueError) as exc:
        return _fail(_one_line(exc))
    except SQLAlchemyError as exc:
        return _fail(_one_line(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
