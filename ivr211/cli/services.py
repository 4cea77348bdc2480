"""``ivr211 serve`` (the FastAGI server, with the listener and the dashboard as
supervised children) and ``ivr211 dashboard`` (the dashboard alone, under waitress).

Both check their ports before they start anything (``ivr211.ports``), so a second
start prints one line naming the port, its holder and the setting, not a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from agi_scripts.calllog import CallLog
from agi_scripts.server import run_forever
from ivr211.cli.common import (
    CliError,
    Commands,
    configure_logging,
    one_line,
    open_engine,
    open_store,
)
from ivr211.config import Config
from ivr211.ports import PortInUse, bind_error_message, check_free
from ivr211.supervise import ChildSupervisor, cli_argv, listener_argv
from ivr211.wiring import call_writer, server_options
from store import linesettings as ls
from store.db import require_current, safe_url
from store.heartbeats import beat

__all__ = ["Heartbeat", "add_dashboard_parser", "add_serve_parser"]


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    configure_logging(config)
    with open_store(config) as store:
        store.load()
        options = server_options(config)
        source = ls.CachedSettings(store, config.line.settings_cache_s)
        if options.workers > 1:
            # run_forever forks the other workers: none may reuse this pool's connections.
            engine = store.engine
            os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        _check_ports(config, dashboard=config.dashboard.enabled and not args.no_dashboard)
        logging.getLogger(__name__).info(
            "FastAGI server on %s:%d, settings from %s",
            options.host,
            options.port,
            safe_url(store.engine.url),
        )
        source_path = str(config.source) if config.source else None
        supervisor = None
        if not args.no_listener:
            supervisor = ChildSupervisor(listener_argv(source_path), name="AMI listener")
            supervisor.start()
        dashboard = None
        if config.dashboard.enabled and not args.no_dashboard:
            dashboard = ChildSupervisor(cli_argv(source_path, "dashboard"), name="dashboard")
            dashboard.start()
        heartbeat = Heartbeat(store.engine, "fastagi")
        heartbeat.start()
        try:
            run_forever(options, source, CallLog(call_writer(store.engine)))
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
        with Session(self._engine) as session, session.begin():
            beat(session, self._name, self._started_at, datetime.now(UTC))

    def _run(self) -> None:
        while True:
            try:
                self.beat_once()
            except SQLAlchemyError as exc:
                logging.getLogger(__name__).warning(
                    "%s heartbeat not written: %s", self._name, one_line(exc)
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


def cmd_dashboard(args: argparse.Namespace, config: Config) -> int:
    """Serve the dashboard with waitress (a production WSGI server) until SIGINT/SIGTERM."""
    # Imported here, not above: Flask, its extensions and waitress are for this command
    # alone; every other command (each `ivr211 listen` child too) starts without them.
    import waitress

    from dashboard import create_app, warm_up
    from ivr211.dashboard_options import dashboard_options
    from ivr211.twilio_options import register_twilio, start_twilio_console

    configure_logging(config)
    conf = config.dashboard
    host = args.host or conf.host
    port = args.port or conf.port
    if conf.allow_plain_http and host not in ("127.0.0.1", "::1", "localhost"):
        raise CliError(f"--host {host}: allow_plain_http is only allowed on a loopback address")
    with open_engine(config) as engine:
        require_current(engine)
        app = create_app(dashboard_options(config), engine=engine)
        if register_twilio(app, config, engine):
            logging.getLogger(__name__).info(
                "Twilio webhooks on %s%s", config.twilio.public_url, config.twilio.url_prefix
            )
        warm_up(app)
        console = start_twilio_console(config, engine)
        try:
            server = waitress.create_server(
                app, host=host, port=port, threads=conf.threads, ident="ivr211"
            )
        except OSError as exc:
            if console is not None:
                console.stop()
            setting = "--port or " + _DASHBOARD_PORT
            raise CliError(
                bind_error_message(exc, host, port, what="dashboard", setting=setting)
            ) from None

        def stop(_signum: int, _frame: FrameType | None) -> None:
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
            if console is not None:
                console.stop()
    return 0


def add_serve_parser(cli: Commands) -> None:
    serve = cli.leaf(
        cli.root,
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


def add_dashboard_parser(cli: Commands) -> None:
    dash = cli.leaf(
        cli.root,
        "dashboard",
        "Serve the dashboard with waitress until SIGINT/SIGTERM (`serve` starts it too).",
        cmd_dashboard,
    )
    dash.add_argument("--host", help="listen address ([dashboard] host)")
    dash.add_argument("--port", type=int, help="port ([dashboard] port)")
