"""The FastAGI server: one asyncio task per call, routes registered in ``build_routes``.

What the recordings ask of it:

* the dead channel lingers in Asterisk until the script closes its socket (1e), so every
  connection is closed at the end, whatever happened;
* Asterisk never times out a silent server (1j: the caller just waits), so the header,
  each command and the whole call are bounded here;
* an unknown ``agi_network_script`` is logged and closed (1k): Asterisk then goes on with
  AGISTATUS=SUCCESS, and since ``IVR_FLOW_DONE`` was not set the dialplan sends the
  caller to its fallback. A crash in a handler ends the same way, and the server keeps
  serving the other calls;
* 1,000 concurrent calls used about 5 % of one core in the lab (4-timing-and-load): a
  task per connection and no thread per call.

Nobody may starve the others of connection slots: a peer address holds at most
``max_connections_per_peer`` connections (one client opening hundreds of half-open
connections is refused past it, the other peers still get through), and each command
waits for its reply only as long as it can legitimately take (``channel.ReplyLimits``),
so a peer that sends a header then stays silent, or answers slowly, is cut off in
seconds. A refused or cut connection never leaves a caller in silence: Asterisk goes on
with the dialplan (AGISTATUS=SUCCESS once connected, FAILURE when the connection itself
fails) and, without ``IVR_FLOW_DONE=1``, extensions.conf sends the caller to its fallback.

With ``workers`` above 1, that many processes share the port (``SO_REUSEPORT``: the
kernel spreads the connections among them); each one applies the limits above to its
own connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NoReturn

from agi_scripts.calllog import CallLog, flow_fact
from agi_scripts.channel import Channel, ReplyLimits
from agi_scripts.errors import AgiError, ChannelHungUp, HeaderError
from agi_scripts.protocol import AgiHeader, SocketTransport, read_header
from agi_scripts.runner import (
    AstdbMemo,
    CallOutcome,
    Clock,
    SettingsSource,
    call_info,
    run_incoming,
)
from ivr.dialplan import ROUTE_INCOMING
from ivr.logsafe import printable

log = logging.getLogger(__name__)

Handler = Callable[[Channel, AgiHeader], Awaitable[CallOutcome]]

#: How often the server fails the reads past their command's limit: a limit is kept
#: within this much (the shortest is seconds).
SWEEP_S: Final = 0.1


@dataclass
class ServerOptions:
    """Where to listen and how long anything may take.

    ``max_connections``: connections beyond it are closed at once (the caller goes to
    the dialplan fallback at once instead of waiting); ``max_connections_per_peer``:
    the same, for the connections of one peer address; ``quick_reply_s``: the wait for
    a command Asterisk answers at once; ``reply_margin_s``: added to what a command
    waits on (a prompt's length, the caller's own timeout); ``command_timeout_s``: the
    wait for a command whose length is not known; ``shutdown_grace_s``: how long calls
    in progress may finish when the server stops; ``workers``: processes sharing the
    port (``run_forever``).
    """

    host: str = "127.0.0.1"
    port: int = 4573
    header_timeout_s: float = 5.0
    quick_reply_s: float = 5.0
    reply_margin_s: float = 5.0
    command_timeout_s: float = 120.0
    max_call_s: float = 1800.0
    max_header_bytes: int = 16384
    max_connections: int = 2000
    max_connections_per_peer: int = 1200
    shutdown_grace_s: float = 5.0
    workers: int = 1

    @property
    def reply_limits(self) -> ReplyLimits:
        return ReplyLimits(self.quick_reply_s, self.reply_margin_s, self.command_timeout_s)


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_routes(
    settings_source: SettingsSource, clock: Clock, calls: CallLog | None = None
) -> dict[str, Handler]:
    """Every FastAGI route this server answers, in one place (``agi://host:port/<route>``).

    With ``calls``, each finished session of ``incoming`` hands the flow's account of the
    call to it (``agi_scripts.calllog``): a queue put, never a wait on the database."""
    memo = AstdbMemo()

    async def incoming(channel: Channel, header: AgiHeader) -> CallOutcome:
        arrived = clock()
        outcome = await run_incoming(channel, header, settings_source, clock, memo)
        if calls is not None:
            _log_call(calls, header, arrived, clock(), outcome)
        return outcome

    return {ROUTE_INCOMING: incoming}


def _log_call(
    calls: CallLog, header: AgiHeader, arrived: datetime, ended: datetime, outcome: CallOutcome
) -> None:
    """``agi_arg_3`` is the caller channel's linkedid (``AGI(url,<entry>,<lang>,<linkedid>)``
    in extensions.conf); a dialplan older than that passes none, and the call is then
    recorded by the listener and the reconciliation alone."""
    args = header.args
    linkedid = args[2] if len(args) > 2 else ""
    if not linkedid:
        return
    try:
        calls.submit(
            flow_fact(
                linkedid,
                header.uniqueid,
                arrived,
                ended,
                args[0],
                outcome.decision,
                call_info(header).caller_number,
            )
        )
    except Exception:  # the caller's session never fails on its record
        log.exception("call record of %s not queued", printable(linkedid))


class AgiServer:
    """Accepts FastAGI connections and runs the routed handler for each one."""

    def __init__(self, options: ServerOptions, routes: dict[str, Handler]) -> None:
        self.options = options
        self._routes = routes
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_peer: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self._limits = options.reply_limits
        self._connections: set[SocketTransport] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def active_calls(self) -> int:
        return len(self._tasks)

    async def start(self) -> int:
        """Listen; return the bound port (useful with ``port=0``)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SocketTransport(self._start_call),
            self.options.host,
            self.options.port,
            backlog=1024,
            reuse_port=self.options.workers > 1 or None,
        )
        port: int = self._server.sockets[0].getsockname()[1]
        self._sweeper = loop.call_later(SWEEP_S, self._sweep)
        log.info("FastAGI server listening on %s:%d", self.options.host, port)
        return port

    def _sweep(self) -> None:
        """Fail every read that is past its command's limit; again in ``SWEEP_S``.

        One timer for the whole server instead of one per command: with a thousand
        calls in progress, the per-command timers cost more than this walk."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for transport in self._connections:
            transport.expire(now)
        self._sweeper = loop.call_later(SWEEP_S, self._sweep)

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("start() first")
        try:
            await self._server.serve_forever()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop accepting, give calls in progress ``shutdown_grace_s``, cancel the rest."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        pending = set(self._tasks)
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.options.shutdown_grace_s)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _start_call(self, transport: SocketTransport) -> None:
        transport.task = asyncio.get_running_loop().create_task(self._watched(transport))

    async def _watched(self, transport: SocketTransport) -> None:
        transport.watched = self._sweeper is not None
        self._connections.add(transport)
        try:
            await self._on_connect(transport)
        finally:
            self._connections.discard(transport)

    async def _on_connect(self, transport: SocketTransport) -> None:
        task = asyncio.current_task()
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) and peername else "?"
        held = self._per_peer.get(peer, 0)
        if task is None or len(self._tasks) >= self.options.max_connections:
            log.warning(
                "%d calls in progress (max_connections): closing a new connection",
                len(self._tasks),
            )
            await transport.close()
            return
        if held >= self.options.max_connections_per_peer:
            log.warning(
                "%s holds %d connections (max_connections_per_peer): closing a new one",
                printable(peer),
                held,
            )
            await transport.close()
            return
        self._tasks.add(task)
        self._per_peer[peer] = held + 1
        try:
            await self._serve_one(transport, peername)
        finally:
            self._tasks.discard(task)
            left = self._per_peer.pop(peer) - 1
            if left:
                self._per_peer[peer] = left

    async def _serve_one(self, transport: SocketTransport, peer: object) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        header: AgiHeader | None = None
        outcome: CallOutcome | None = None
        status = "error"
        try:
            header = await read_header(
                transport,
                max_bytes=self.options.max_header_bytes,
                timeout_s=self.options.header_timeout_s,
            )
            handler = self._routes.get(header.script)
            if handler is None:
                status = "unknown-route"
                log.warning(
                    "no FastAGI route %r (channel %s, uniqueid %s): closing",
                    header.script,
                    printable(header.channel),
                    printable(header.uniqueid),
                )
                return
            channel = Channel(transport, limits=self._limits, name=header.channel)
            async with asyncio.timeout(self.options.max_call_s):
                outcome = await handler(channel, header)
            status = "finished" if outcome.finished else "hangup" if outcome.hung_up else "ended"
        except HeaderError as exc:
            status = "bad-header"
            log.warning("bad FastAGI header from %s: %s", printable(peer), printable(exc))
        except TimeoutError:
            log.error(
                "call on %s exceeded max_call_s", printable(header.channel if header else peer)
            )
        except ChannelHungUp as exc:
            status = "hangup"
            log.info("connection ended: %s", printable(exc))
        except AgiError as exc:
            log.error(
                "AGI error on %s: %s", printable(header.channel if header else peer), printable(exc)
            )
        except Exception:
            log.exception("handler failed on %s", printable(header.channel if header else peer))
        finally:
            await transport.close()
            if header is not None:
                log.info(
                    "call route=%s uniqueid=%s status=%s decision=%s path=%s duration=%.3fs",
                    printable(header.script),
                    printable(header.uniqueid),
                    status,
                    outcome.route if outcome else "-",
                    printable(outcome.path) if outcome else "-",
                    loop.time() - began,
                )


async def serve(
    options: ServerOptions,
    settings_source: SettingsSource,
    *,
    clock: Clock | None = None,
    started: asyncio.Event | None = None,
    calls: CallLog | None = None,
    freeze_gc: bool = False,
) -> None:
    """Serve until cancelled. With ``port=0`` the bound port is written back into
    ``options.port`` before ``started`` is set, so the caller can connect to it.

    ``freeze_gc`` (the service, ``run_forever``): what start-up made (modules, the
    holiday tables, the first settings) is moved out of the garbage collector's reach
    once listening, so the collections that calls trigger do not walk it again; in the
    burst of ``bench/agi_load.py`` this took CPU per call from 1.85-2.00 to 1.45-1.88 ms
    and p99 from 188-354 to 146-153 ms."""
    server = AgiServer(options, build_routes(settings_source, clock or utc_now, calls))
    options.port = await server.start()
    if freeze_gc:
        gc.collect()
        gc.freeze()
    if started is not None:
        started.set()
    await server.serve_forever()


async def _serve_until_signal(
    options: ServerOptions, settings_source: SettingsSource, calls: CallLog | None
) -> None:
    if calls is not None:
        calls.start()  # here, in each process: a thread does not survive a fork
    try:
        await _serve_signalled(options, settings_source, calls)
    finally:
        if calls is not None:
            await asyncio.to_thread(calls.stop)


async def _serve_signalled(
    options: ServerOptions, settings_source: SettingsSource, calls: CallLog | None
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(serve(options, settings_source, calls=calls, freeze_gc=True))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    serving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stopping
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    log.info("FastAGI server stopped")


def run_forever(
    options: ServerOptions, settings_source: SettingsSource, calls: CallLog | None = None
) -> None:
    """Serve until SIGINT or SIGTERM (blocking); calls in progress get a short grace.

    With ``options.workers`` above 1, ``workers - 1`` processes are forked first, each
    serving the same port (``SO_REUSEPORT``); this process serves too and, when it
    stops, stops them (SIGTERM) and waits for them. Whoever passes ``settings_source``
    makes it safe across ``fork`` (a database pool is disposed of in the child, e.g.
    with ``os.register_at_fork``)."""
    if options.workers > 1 and options.port == 0:
        raise ValueError("several workers need a fixed port, not 0")
    children: list[int] = []
    try:
        for _ in range(options.workers - 1):
            pid = os.fork()
            if pid == 0:
                _worker_main(options, settings_source, calls)
            children.append(pid)
        asyncio.run(_serve_until_signal(options, settings_source, calls))
    finally:
        _stop_workers(children, options.shutdown_grace_s + 5.0)


def _worker_main(
    options: ServerOptions, settings_source: SettingsSource, calls: CallLog | None
) -> NoReturn:
    code = 0
    try:
        asyncio.run(_serve_until_signal(options, settings_source, calls))
    except BaseException:
        log.exception("FastAGI worker %d failed", os.getpid())
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def _stop_workers(children: list[int], wait_s: float) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    waiting = set(children)
    while waiting:
        for pid in list(waiting):
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
                if status:
                    log.warning("FastAGI worker %d ended with status %d", pid, status)
            waiting.discard(pid)
        if waiting and time.monotonic() > deadline:
            for pid in waiting:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        if waiting:
            time.sleep(0.05)
