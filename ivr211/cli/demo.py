"""``ivr211 demo``: the whole line on a laptop, without a PBX.

A demonstration database under the project's data folder (``var/demo``, never the
configured database; a database there that is not a demonstration's and holds records is
refused), a year of made-up calls, transfers, referrals and research messages, one
account per role with a new random password printed once, then the dashboard (with a
banner on every page) and a live line: the real listener connected to a fake PBX that
replays the lab's recordings of a real Asterisk (``ivr211.demo.live``). Nothing is sent
to anyone: no notification is built (email, SMS) and no connection leaves this machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ivr.schedule import compute_state
from ivr211.cli.common import CliError, Commands, configure_logging
from ivr211.config import Config, NotifyConfig
from ivr211.ports import PortInUse, bind_error_message, check_free
from ivr211.wiring import server_options

if TYPE_CHECKING:
    from agi_scripts.server import ServerOptions
    from dashboard.options import DashboardOptions

__all__ = ["add_parsers", "demo_dashboard_options", "without_notifications"]

DEMO_PORT = 8212
#: Not [agi] port (4573): a PBX's dialplan never reaches the demonstration's menu.
DEMO_AGI_PORT = 4583


def demo_dashboard_options(config: Config, folder: Path) -> DashboardOptions:
    """The dashboard's options for the demonstration: ``[dashboard]``'s thresholds, the
    demonstration's own folders and secret, plain HTTP on the loopback, no notification."""
    from ivr211.dashboard_options import dashboard_options

    options = dashboard_options(without_notifications(config))
    return dataclasses.replace(
        options,
        instance_path=folder / "dashboard",
        secret_key_file=None,
        secret_key_env=None,
        generated_secret_path=folder / "dashboard-secret",
        allow_plain_http=True,
        trusted_proxies=0,
        voicemail_storage_dir=folder / "voicemail",
        on_research_account_change=None,
        ami_configured=True,
        demo=True,
    )


def without_notifications(config: Config) -> Config:
    """``config`` with ``[notify]`` off (no email, no SMS address): whatever the file
    says, the demonstration tells nobody anything."""
    return config.model_copy(update={"notify": NotifyConfig()})


def _agi_options(config: Config, port: int) -> ServerOptions | None:
    """The FastAGI server's options ([agi], on the demonstration's own ``port``, never
    the one a PBX's dialplan calls) when that port is free, else None."""
    options = dataclasses.replace(server_options(config), host="127.0.0.1", port=port, workers=1)
    try:
        check_free(options.host, options.port, what="FastAGI server", setting="--agi-port")
    except PortInUse as exc:
        print(f"no voice menu in this demonstration: {exc}")
        return None
    return options


def _not_running(folder: Path) -> None:
    """Refuse at once when another demonstration runs on ``folder`` (its listener holds
    the spool's lock): starting would set new passwords under its feet."""
    from ivr211.demo.live import LISTENER_SPOOL
    from listener.spool import SpoolBusy, SpoolLock

    folder.mkdir(parents=True, exist_ok=True)
    lock = SpoolLock(folder / LISTENER_SPOOL)
    try:
        lock.acquire()
    except SpoolBusy:
        raise CliError(f"another demonstration is running on {folder}") from None
    lock.release()


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    # Imported here: Flask and waitress are for this command (and `dashboard`) alone.
    import waitress

    from dashboard import create_app, warm_up
    from ivr211.demo.database import DemoRefused, prepare
    from ivr211.demo.live import LiveLine
    from store.db import make_engine
    from store.linesettings import CachedSettings, SettingsStore

    configure_logging(config)
    folder: Path = args.folder
    host = "127.0.0.1"
    port: int = args.port
    _not_running(folder)
    try:
        check_free(host, port, what="demonstration dashboard", setting="--port")
    except PortInUse as exc:
        raise CliError(str(exc)) from None
    print(f"demonstration database: {folder / 'demo.db'} (never the configured database)")
    try:
        demo = prepare(
            folder, seed_file=config.line.settings_seed, production_url=config.database.url
        )
    except DemoRefused as exc:
        raise CliError(str(exc)) from None
    if demo.figures is not None:
        f = demo.figures
        print(
            f"made up {f.calls} calls from {f.first_day} to {f.last_day}: {f.answered} answered,"
            f" {sum(f.transfers.values())} transfers and referrals,"
            f" {f.research_messages} research messages"
        )
    else:
        print("reused the demonstration database already there")
    engine = make_engine(demo.url)
    line = None
    try:
        store = SettingsStore(engine)
        agi = _agi_options(config, args.agi_port)
        line = LiveLine(
            engine, CachedSettings(store, config.line.settings_cache_s), folder, agi=agi
        )
        try:
            line.start()
        except RuntimeError as exc:  # e.g. another demonstration runs on this folder
            raise CliError(str(exc)) from None
        app = create_app(demo_dashboard_options(config, folder), engine=engine)
        warm_up(app)
        try:
            server = waitress.create_server(app, host=host, port=port, threads=8, ident="ivr211")
        except OSError as exc:
            raise CliError(
                bind_error_message(exc, host, port, what="dashboard", setting="--port")
            ) from None
        print(f"\ndashboard: http://{host}:{port}/  (Ctrl-C to stop)")
        print("accounts (these passwords are shown once; a new start sets new ones):")
        for username, role, password in demo.passwords:
            print(f"  {role:<10} {username:<16} {password}")
        print("live line: a fake PBX replays recorded queue events to the real listener")
        state = compute_state(store.load().schedule, datetime.now(UTC))
        if not state.is_open:
            print(
                "the line is closed now: no caller joins the queue until it opens, or until"
                " an administrator forces it open on the dashboard (Administration)"
            )
        if agi is not None:
            print(
                f"the voice menu (FastAGI) on {agi.host}:{agi.port}: try a call with"
                f" `.venv/bin/ivr211 simulate --port {agi.port}` from another terminal"
            )
        print()

        def stop(_signum: int, _frame: FrameType | None) -> None:
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        logging.getLogger(__name__).info("demonstration dashboard on http://%s:%d/", host, port)
        try:
            server.run()
        except (SystemExit, KeyboardInterrupt):
            pass
        finally:
            server.close()
    finally:
        if line is not None:
            line.stop()
        engine.dispose()
    return 0


def add_parsers(cli: Commands) -> None:
    demo = cli.leaf(
        cli.root,
        "demo",
        "Try the line without a PBX: a demonstration database with a year of made-up calls "
        "(under var/demo, never the configured database), one account per role, the "
        "dashboard and a simulated live line. Sends no notification.",
        cmd_demo,
    )
    demo.add_argument(
        "--folder",
        type=Path,
        default=Path("var/demo"),
        help="the demonstration's folder (default var/demo)",
    )
    demo.add_argument(
        "--port",
        type=int,
        default=DEMO_PORT,
        help=f"the dashboard's port on 127.0.0.1 (default {DEMO_PORT})",
    )
    demo.add_argument(
        "--agi-port",
        type=int,
        default=DEMO_AGI_PORT,
        help=f"the voice menu's (FastAGI) port on 127.0.0.1 (default {DEMO_AGI_PORT})",
    )
