"""The same call flow as a classic AGI script over stdin/stdout.

``exten => s,n,AGI(/path/to/python,-m,agi_scripts.classic,incoming)`` runs one process per
call: Asterisk writes the ``agi_*`` header and the replies to its stdin and reads the
commands from its stdout. There a hang-up arrives as SIGHUP, not as a ``HANGUP`` line
(../shared/asterisk/README.md), so SIGHUP marks the channel hung up and the next command
raises ``ChannelHungUp``. The FastAGI server is the production path; this is the fallback
for a host where the server cannot run, and a proof that the runner is transport-neutral.

Usage: ``python -m agi_scripts.classic incoming [--settings MODULE:CALLABLE] [--now ISO]``.
``--settings`` names a zero-argument callable returning ``LineSettings``, loaded by name
with importlib (a plug-in, not an import of this package); the default,
:data:`DEFAULT_SETTINGS`, is ``ivr211``'s: the database named by the ivr211
configuration. ``--now`` fixes the clock (replays, tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
from datetime import datetime
from typing import BinaryIO

from agi_scripts.channel import Channel
from agi_scripts.errors import AgiError, ChannelHungUp
from agi_scripts.protocol import LINE_LIMIT, read_header, read_stream_line
from agi_scripts.runner import AstdbMemo, Clock, SettingsSource, run_incoming
from agi_scripts.server import ServerOptions, utc_now
from ivr.dialplan import ROUTE_INCOMING
from ivr.settings import LineSettings

log = logging.getLogger("agi_scripts.classic")

#: The settings source without ``--settings``: named, never imported here, since
#: ``ivr211`` (the composition root) sits above this adapter.
DEFAULT_SETTINGS = "ivr211.agi:line_settings"


class PipeTransport:
    """``LineTransport`` over this process's stdin (asyncio pipe) and stdout (blocking
    writes of one short line: Asterisk reads them at once)."""

    def __init__(self, reader: asyncio.StreamReader, out: BinaryIO) -> None:
        self._reader = reader
        self._out = out

    @classmethod
    async def from_stdio(cls) -> PipeTransport:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        protocol = asyncio.StreamReaderProtocol(reader)
        await loop.connect_read_pipe(lambda: protocol, sys.stdin.buffer)
        return cls(reader, sys.stdout.buffer)

    async def read_line(self) -> bytes:
        return await read_stream_line(self._reader)

    async def write(self, data: bytes) -> None:
        try:
            self._out.write(data)
            self._out.flush()
        except (OSError, ValueError) as exc:
            raise ChannelHungUp(f"stdout closed ({exc!r})") from exc

    async def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._out.flush()


def load_callable(spec: str) -> SettingsSource:
    """``package.module:function`` -> the function."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--settings wants MODULE:CALLABLE, got {spec!r}")
    source = getattr(importlib.import_module(module_name), attr)
    if not callable(source):
        raise ValueError(f"{spec} is not callable")

    def settings() -> LineSettings:
        value = source()
        if not isinstance(value, LineSettings):
            raise TypeError(f"{spec} returned {type(value).__name__}, not LineSettings")
        return value

    return settings


async def run_classic(
    route: str, settings_source: SettingsSource, clock: Clock, options: ServerOptions
) -> int:
    """Serve one call on stdin/stdout; 0 when the flow finished, 1 otherwise.

    SIGHUP is caught before the header is read: its default action would kill the
    process before the hang-up could be recorded.
    """
    transport = await PipeTransport.from_stdio()
    channel = Channel(transport, command_timeout_s=options.command_timeout_s)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, channel.mark_hung_up)
    try:
        header = await read_header(
            transport, max_bytes=options.max_header_bytes, timeout_s=options.header_timeout_s
        )
        channel.name = header.channel
        if route != ROUTE_INCOMING:
            log.warning("no AGI route %r (channel %s)", route, header.channel)
            return 1
        async with asyncio.timeout(options.max_call_s):
            outcome = await run_incoming(channel, header, settings_source, clock, AstdbMemo())
        log.info(
            "call route=%s uniqueid=%s decision=%s path=%s",
            route,
            header.uniqueid,
            outcome.route,
            outcome.path,
        )
        return 0 if outcome.finished else 1
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        await channel.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agi_scripts.classic")
    parser.add_argument("route", help="the AGI route, e.g. incoming")
    parser.add_argument(
        "--settings", default=DEFAULT_SETTINGS, help="MODULE:CALLABLE returning LineSettings"
    )
    parser.add_argument("--now", help="fixed ISO 8601 time with offset (replays and tests)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("IVR211_LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.now:
        fixed = datetime.fromisoformat(args.now)
        if fixed.tzinfo is None:
            parser.error("--now needs a UTC offset")
        clock: Clock = lambda: fixed  # noqa: E731
    else:
        clock = utc_now
    source = load_callable(args.settings)
    try:
        return asyncio.run(run_classic(args.route, source, clock, ServerOptions()))
    except AgiError as exc:
        log.error("AGI session failed: %s", exc)
        return 1
    except Exception:
        log.exception("AGI script failed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
