"""The AMI link: panoramisk 1.4's ``Manager`` behind a wrapper that guards its traps.

Measured against Asterisk 22 (``transcripts/3-panoramisk-compat.txt``) and guarded here:

* an exception in an event callback drops panoramisk's connection (plain callback) or
  vanishes unseen (async callback, a detached task). Every subscriber is wrapped: a
  plain one's exception is logged, an async one runs as a tracked task whose exception
  is logged; the stream goes on.
* what arrives on the socket is read by :mod:`listener.ami_wire` (an incremental UTF-8
  decoder, a bounded buffer): see there.
* it reconnects every 2 s forever and re-sends, after the next ``FullyBooted``, the
  actions that were waiting for a reply when the link dropped: a stale ``Atxfer`` or
  ``Originate`` could fire minutes later. Here the link owns the reconnect (exponential
  backoff with jitter) and :meth:`AmiLink.send_action` refuses to send unless the link
  is up and logged in; nothing is ever queued or re-sent.
* ``Originate`` without ``Async`` raises inside the library (``KeyError('async')``) and
  drops the connection; ``QueueAdd`` never completes (``Added interface to queue`` makes
  it wait for an event list that never comes). Every action is sent with an explicit
  ``as_list`` so one reply completes it, ``Originate`` always carries ``Async: true``,
  and callers judge outcomes from the events that follow (:meth:`AmiLink.watch`).

What Asterisk sends on the way (``2g2``, ``2h``)::

    Asterisk Call Manager/11.0.0          <- banner, on every connection
    Response: Success                     <- Login accepted; FullyBooted follows
    Message: Authentication accepted
    Response: Error                       <- wrong secret: after 1 s, then EOF
    Message: Authentication failed
    Event: Shutdown                       <- restart (Restart: True) or stop, then EOF
    Shutdown: Cleanly
    Restart: True
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from panoramisk.message import Message

from listener.ami_wire import BANNER, MIB, AmiProtocol, Event, LinkManager, to_event

__all__ = [
    "BANNER",
    "ActionTimeout",
    "AmiError",
    "AmiLink",
    "AmiProtocol",
    "Event",
    "EventWatch",
    "LinkDown",
    "LinkOptions",
    "LinkState",
    "to_event",
]

log = logging.getLogger(__name__)

StateName = Literal["connecting", "connected", "disconnected", "stopped"]


class AmiError(Exception):
    """The AMI link could not do what was asked."""


class LinkDown(AmiError):
    """Not connected and logged in (or the link dropped while waiting): nothing was sent,
    or the reply was lost. An action is never queued for later."""


class ActionTimeout(AmiError):
    """Asterisk did not reply in time."""


@dataclass(frozen=True)
class LinkOptions:
    """Where and how to connect. ``username`` is the least-privilege AMI user of
    ``asterisk_conf/manager.conf`` (``[ivr211]``: write = call,agent,user,originate)."""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "ivr211"
    secret: str = ""
    connect_timeout_s: float = 5.0
    login_timeout_s: float = 5.0  # a wrong secret is answered after 1 s (2g2)
    action_timeout_s: float = 5.0
    backoff_initial_s: float = 0.5  # AMI is back ~0.5 s after `core restart now` (2h)
    backoff_max_s: float = 30.0
    backoff_jitter: float = 0.2  # +/- this fraction of each delay
    keepalive_s: float = 20.0
    max_message_bytes: int = MIB


@dataclass(frozen=True)
class LinkState:
    """A change of the link, for the listener's status row."""

    state: StateName
    detail: str
    at: datetime


class EventWatch:
    """Every event received while open, for an action that judges its result from what
    follows. :meth:`next` raises :class:`LinkDown` once the link drops."""

    _LOST = object()

    def __init__(self, predicate: Callable[[Event], bool] | None) -> None:
        self._predicate = predicate
        self._queue: asyncio.Queue[object] = asyncio.Queue()

    def _offer(self, event: Event) -> None:
        if self._predicate is None or self._predicate(event):
            self._queue.put_nowait(event)

    def _lost(self, reason: str) -> None:
        self._queue.put_nowait((self._LOST, reason))

    async def next(self, timeout_s: float) -> Event:
        """The next event; :class:`TimeoutError` after ``timeout_s``."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            item = await asyncio.wait_for(self._queue.get(), max(timeout_s, 0.0))
        if isinstance(item, tuple) and item and item[0] is self._LOST:
            raise LinkDown(f"the link to Asterisk dropped: {item[1]}")
        assert isinstance(item, dict)
        return item

    async def until(self, match: Callable[[Event], Any], timeout_s: float) -> tuple[Event, Any]:
        """Read events until ``match(event)`` is truthy; returns the event and that value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            event = await self.next(deadline - loop.time())
            value = match(event)
            if value:
                return event, value


class AmiLink:
    """One AMI connection, kept up by :meth:`run` until :meth:`stop`.

    Subscribers get every event as a plain dict (``{"Event": "Hangup", ...}``).
    ``on_state`` hears every change: connecting, connected, disconnected (with the
    reason: refused, login failed, Asterisk shut down, EOF, no keepalive answer), stopped.
    """

    def __init__(
        self,
        options: LinkOptions,
        *,
        on_state: Callable[[LinkState], object] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options
        self._on_state = on_state
        self._rng = rng or random.Random()
        self._subscribers: list[Callable[[Event], object]] = []
        self._watches: set[EventWatch] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._manager: LinkManager | None = None
        self._protocol: AmiProtocol | None = None
        self._lost: asyncio.Future[str] | None = None
        self._logged_in = False
        self._stopping: asyncio.Event | None = None
        self._up: asyncio.Event | None = None
        self.state: LinkState | None = None

    # ---- public ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Connected and logged in: the only state in which an action is sent."""
        return self._logged_in and self._lost is not None and not self._lost.done()

    def subscribe(self, callback: Callable[[Event], object]) -> None:
        """Call ``callback(event)`` for every event (plain or async; its errors are logged)."""
        self._subscribers.append(callback)

    @contextlib.asynccontextmanager
    async def watch(
        self, predicate: Callable[[Event], bool] | None = None
    ) -> AsyncIterator[EventWatch]:
        """Collect the events (matching ``predicate``) that arrive while the block runs."""
        watch = EventWatch(predicate)
        self._watches.add(watch)
        try:
            yield watch
        finally:
            self._watches.discard(watch)

    async def wait_connected(self, timeout_s: float) -> None:
        up = self._ensure_events()[1]
        await asyncio.wait_for(up.wait(), timeout_s)

    async def send_action(
        self,
        action: Mapping[str, str],
        *,
        timeout_s: float | None = None,
        as_list: bool = False,
    ) -> Event | list[Event]:
        """Send one action now and return Asterisk's reply (``Response: Success`` or
        ``Error``; an event list when ``as_list``). Raises :class:`LinkDown` when the
        link is not up (nothing is sent) or drops before the reply,
        :class:`ActionTimeout` when no reply comes."""
        if not self.connected:
            raise LinkDown("not connected to Asterisk")
        fields = dict(action)
        if fields.get("Action", "").lower() == "originate" and fields.get("Async") != "true":
            fields["Async"] = "true"
        reply: Event | list[Event] = await self._send(fields, timeout_s, as_list)
        return reply

    async def send(self, action: Mapping[str, str], *, timeout_s: float | None = None) -> Event:
        """:meth:`send_action` for a one-reply action."""
        reply = await self.send_action(action, timeout_s=timeout_s)
        assert isinstance(reply, dict)
        return reply

    async def run(self) -> None:
        """Connect, log in, and reconnect with backoff until :meth:`stop`."""
        stopping, _ = self._ensure_events()
        loop = asyncio.get_running_loop()
        attempt = 0
        try:
            while not stopping.is_set():
                logged_in, reason = await self._session(loop)
                if stopping.is_set():
                    break
                if logged_in:
                    attempt = 0
                delay = self._backoff(attempt)
                attempt += 1
                self._set_state("disconnected", f"{reason}; retry in {delay:.2f} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
        finally:
            await self._close_connection("stopped")
            await self._drain_tasks()
            self._set_state("stopped", "listener stopped")

    def stop(self) -> None:
        self._ensure_events()[0].set()

    # ---- connection --------------------------------------------------------------

    def _ensure_events(self) -> tuple[asyncio.Event, asyncio.Event]:
        if self._stopping is None or self._up is None:
            self._stopping = asyncio.Event()
            self._up = asyncio.Event()
        return self._stopping, self._up

    def _backoff(self, attempt: int) -> float:
        o = self.options
        base: float = min(o.backoff_max_s, o.backoff_initial_s * (2.0 ** min(attempt, 30)))
        spread: float = self._rng.uniform(-o.backoff_jitter, o.backoff_jitter)
        return max(0.0, base * (1.0 + spread))

    async def _session(self, loop: asyncio.AbstractEventLoop) -> tuple[bool, str]:
        """One connection: whether it logged in, and why it ended."""
        o = self.options
        stopping, up = self._ensure_events()
        self._set_state("connecting", f"{o.host}:{o.port}")
        lost: asyncio.Future[str] = loop.create_future()
        self._lost = lost
        self._logged_in = False
        manager = LinkManager(
            self,
            host=o.host,
            port=o.port,
            loop=loop,
            protocol_factory=AmiProtocol,
            ping_delay=10**6,
            encoding="utf-8",
        )
        self._manager = manager
        limit = max(1024, o.max_message_bytes)

        def factory() -> AmiProtocol:
            protocol = AmiProtocol()
            protocol.max_message_chars = limit
            return protocol

        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(factory, o.host, o.port), o.connect_timeout_s
            )
        except (OSError, TimeoutError) as exc:
            return False, f"cannot connect to {o.host}:{o.port}: {exc or type(exc).__name__}"
        done: asyncio.Future[Any] = loop.create_future()
        done.set_result((transport, protocol))
        manager.connection_made(done)
        self._protocol = protocol
        try:
            reply = await self._send(
                {
                    "Action": "Login",
                    "Username": o.username,
                    "Secret": o.secret,
                    "Events": "on",
                },
                o.login_timeout_s,
                False,
            )
        except AmiError as exc:
            await self._close_connection(f"login: {exc}")
            return False, f"login: {exc}"
        assert isinstance(reply, dict)
        if reply.get("Response") != "Success":
            why = f"login refused: {reply.get('Message', reply.get('Response', '?'))}"
            await self._close_connection(why)
            return False, why
        self._logged_in = True
        self._set_state("connected", f"logged in to {o.host}:{o.port} as {o.username}")
        up.set()
        keepalive = asyncio.ensure_future(self._keepalive())
        stop_wait: asyncio.Future[Any] = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait([lost, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.clear()
            self._logged_in = False
            for task in (keepalive, stop_wait):
                task.cancel()
            await asyncio.gather(keepalive, stop_wait, return_exceptions=True)
        if lost.done():
            return True, lost.result()
        await self._close_connection("stopped")
        return True, "stopped"

    async def _close_connection(self, reason: str) -> None:
        protocol, lost = self._protocol, self._lost
        if protocol is None:
            return
        self._protocol = None
        if lost is not None and not lost.done():
            protocol.abort(reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(lost), 2.0)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.options.keepalive_s)
            try:
                await self._send({"Action": "Ping"}, self.options.action_timeout_s, False)
            except ActionTimeout:
                log.error("AMI: no answer to Ping; closing the connection")
                if self._protocol is not None:
                    self._protocol.abort("no answer to the keepalive Ping")
                return
            except LinkDown:
                return

    async def _send(self, fields: dict[str, str], timeout_s: float | None, as_list: bool) -> Any:
        manager, lost = self._manager, self._lost
        if manager is None or lost is None or lost.done():
            raise LinkDown("not connected to Asterisk")
        future = manager.send_action(fields, as_list=as_list)
        timeout = self.options.action_timeout_s if timeout_s is None else timeout_s
        done, _ = await asyncio.wait(
            {future, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if future in done:
            reply = future.result()
            if isinstance(reply, list):
                return [to_event(m) for m in reply]
            return to_event(reply)
        if lost in done:
            raise LinkDown(f"the link to Asterisk dropped: {lost.result()}")
        raise ActionTimeout(f"no reply to {fields.get('Action')} within {timeout:g} s")

    # ---- called by panoramisk (inside data_received / connection_lost) -------------

    def _on_connection_lost(self, exc: object) -> None:
        reason = _describe_loss(exc)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)
        for watch in list(self._watches):
            watch._lost(reason)

    def _on_message(self, message: Any) -> None:
        try:
            event = to_event(message)
        except Exception:
            log.exception("AMI: cannot read event %r", message)
            return
        self._on_event(event)

    def _on_event(self, event: Event) -> None:
        if self._watches:
            for watch in list(self._watches):
                try:
                    watch._offer(event)
                except Exception:
                    log.exception("AMI: event watch failed on %s", event.get("Event"))
        for callback in tuple(self._subscribers):
            try:
                result = callback(event)
            except Exception:
                log.exception("AMI: event callback %r failed on %s", callback, event.get("Event"))
                continue
            if result is not None and inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("AMI: async event callback failed", exc_info=exc)

    async def _drain_tasks(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _set_state(self, state: StateName, detail: str) -> None:
        self.state = LinkState(state, detail, datetime.now(UTC))
        log.log(
            logging.WARNING if state == "disconnected" else logging.INFO,
            "AMI %s: %s",
            state,
            detail,
        )
        if self._on_state is not None:
            try:
                self._on_state(self.state)
            except Exception:
                log.exception("AMI: state callback failed")


def _describe_loss(exc: object) -> str:
    if exc is None:
        return "connection closed by Asterisk"
    if isinstance(exc, Message) or (isinstance(exc, Mapping) and "Event" in exc):
        event = to_event(exc)
        if event.get("Event") == "Shutdown":
            restart = event.get("Restart", "?")
            return f"Asterisk shut down ({event.get('Shutdown', '?')}, Restart: {restart})"
    return str(exc) or type(exc).__name__
