"""``ivr211 listen``: the AMI listener process, built from the configuration.

The listener package (:class:`listener.service.ListenerService`) knows AMI, the
command table and the transfer records; it does not know the research box. This is
where the two meet: the research box's :class:`~research.ingest.Sweeper` joins the
listener as a companion, so that each ``MessageWaiting`` event for our mailbox starts a
sweep, besides the one every ``[voicemail] sweep_s``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal

from sqlalchemy import Engine

from ivr211.config import Config
from ivr211.wiring import ingest_options, link_options, new_message_hook
from listener.service import ListenerOptions, ListenerService
from research.ingest import Ingester, Sweeper
from store.db import make_engine, require_current
from store.linesettings import CachedSettings, SettingsStore

__all__ = ["research_sweeper", "run_listener"]


def research_sweeper(engine: Engine, config: Config) -> Sweeper | None:
    """The research box's sweeper ([voicemail]), or None when it is not enabled."""
    if not config.voicemail.enabled:
        return None
    ingester = Ingester(engine, ingest_options(config), on_new=new_message_hook(config))
    return Sweeper(ingester, config.voicemail.sweep_s)


def run_listener(config: Config, options: ListenerOptions | None = None) -> None:
    """Run the listener until SIGINT or SIGTERM (blocking)."""
    options = options or ListenerOptions()
    engine = make_engine(config.database.url, password=config.database.password())
    try:
        require_current(engine)
        store = SettingsStore(engine)
        # The version is read at least once per push round: a change reaches Asterisk
        # within about ``pbx_push_s``, whatever the FastAGI server's cache time.
        source = CachedSettings(store, min(config.line.settings_cache_s, options.pbx_push_s))
        sweeper = research_sweeper(engine, config)
        if sweeper is not None:
            options = dataclasses.replace(options, companions=(*options.companions, sweeper))
        service = ListenerService(engine, link_options(config), source, options)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, service.stop)
            try:
                await service.run()
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

        asyncio.run(main())
    finally:
        engine.dispose()
