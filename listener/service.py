"""The listener process: the one AMI client of the line.

One event loop runs the :class:`~listener.ami.AmiLink`; every event feeds the
:class:`~listener.interpreter.Interpreter` (pure) and the facts it concludes go to the
:class:`~listener.writer.RecordWriter` (a thread: the loop never waits on the database).
A poller thread claims due commands from the command table every ``poll_s`` and runs
them as actions on the loop (:class:`~listener.commandrunner.CommandRunner`); a command
past its expiry is expired there, never sent.
When the link drops the interpreter forgets what was in flight; when it is back, and a
CEL file is configured, a reconciliation recovers from CEL what the stream missed.
At start, the same reconciliation runs from the last heartbeat of the listener that ran
before on the same AMI link (its ``service_heartbeats`` row, which only a running
listener writes; the status row, which a refused start also writes, for a database
where none was written yet),
``reconcile_lookback`` earlier: what a crash lost (facts still
in the writer's queue, calls the dead listener was following) and what happened while no
listener ran are taken from the CEL that Asterisk kept writing. Each reconciliation is
done once more ``reconcile_again_s`` later, from the same time: a call in progress at the
first pass (a consultation still ringing) is complete in CEL by then.
One listener at a time runs on a spool (and so on an AMI link): :meth:`run` takes the
spool's lock (:class:`~listener.spool.SpoolLock`) before anything else, and a second one
is refused with :class:`~listener.spool.SpoolBusy`.
The :class:`~listener.calls.CallFollower` (pure) concludes the callers' call records and
the navigators' activity intervals from the same events; the
:class:`~listener.callwriter.CallWriter` writes them (its own spool beside the transfer
spool); when the link drops the follower forgets what was in progress, which the
reconciliation from CEL and queue_log fills.
The :class:`~listener.live.LiveTracker` follows presence and calls waiting; its snapshot
goes to the live tables (``store.live``) from a thread, at most every ``live_write_s``
and on change. When the link is back it is rebuilt from ``QueueStatus`` and ``Status``.
The link's state goes to the listener status row (``ivr211 listener status``).
Work that lives beside the listener (``companions``: ``ivr211`` adds the research box's
sweeper, which moves messages from the spool to storage on every MessageWaiting event)
is started with it, hears every event, and is stopped with it.
The :class:`~listener.pbxvalues.PbxValues` task pushes the line's values (hours,
override, closures, holidays, destination numbers) to Asterisk as dialplan globals
every ``pbx_push_s`` when they changed, and all of them after every ``FullyBooted``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from ivr.mirror import line_mirror
from ivr.settings import LineSettings
from listener.actions import ActionOptions, Actions, CallTracker
from listener.ami import ActionTimeout, AmiLink, Event, LinkDown, LinkOptions, LinkState
from listener.calls import DEFAULT_WRAPUP_S, CallFollower
from listener.callwriter import CallWriter, spool_path_for
from listener.cel import DEFAULT_NOANSWER_TIMEOUT_S
from listener.commandrunner import CommandRunner
from listener.interpreter import Interpreter
from listener.live import LiveTracker
from listener.pbxvalues import PbxValues
from listener.reconcile import ReconcileError, reconcile, reconcile_queue_log
from listener.retry import retry_locked
from listener.spool import SpoolLock
from listener.writer import RecordWriter
from store import commands
from store.facts import TransferFact
from store.heartbeats import beat, get_heartbeat
from store.live import LiveSnapshot, write_snapshot
from store.navigators import get_status, set_status

__all__ = ["Companion", "ListenerOptions", "ListenerService", "heartbeat_name"]

log = logging.getLogger(__name__)


class Companion(Protocol):
    """Work that runs on its own thread beside the listener and hears every AMI event.

    ``on_event`` is called on the event loop: it may only take note and return (wake its
    thread); ``start`` is called once the listener is subscribed, ``stop`` (which may
    block, it runs in a worker thread) once the link has stopped.
    """

    def on_event(self, event: Mapping[str, str]) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class ListenerOptions:
    spool_path: Path = Path("var/listener-spool.jsonl")
    cel_path: Path | None = None
    #: app_queue's queue_log, read after CEL by the same reconciliations.
    queue_log_path: Path | None = None
    poll_s: float = 0.2
    heartbeat_s: float = 10.0
    settings_refresh_s: float = 5.0
    reconcile_lookback: timedelta = timedelta(hours=2)
    #: A reconciliation is done again this long after, from the same time: a call still
    #: in progress at the first pass (begun before a crash or a drop) is complete in CEL.
    reconcile_again_s: float = 600.0
    #: The PBX's ``atxfernoanswertimeout`` (features.conf), for reading CEL.
    noanswer_timeout_s: float = DEFAULT_NOANSWER_TIMEOUT_S
    live_write_s: float = 0.5
    live_resync: bool = True
    actions: ActionOptions = field(default_factory=ActionOptions)
    companions: tuple[Companion, ...] = ()
    # How often the line's values are compared with what Asterisk holds (a version read
    # when the settings source caches; see ivr211.listen.run_listener).
    pbx_push_s: float = 2.0
    #: The PBX host's zone, for CEL rows written without an offset (None: the line's).
    pbx_timezone: tzinfo | None = None
    #: The navigators' queue ``wrapuptime`` (queues.conf): after-call work after each call.
    wrapup_s: float = DEFAULT_WRAPUP_S


class _Directory:
    """Destination keys <-> short codes of the transfer context, refreshed off the loop
    (the interpreter resolves destinations synchronously, inside the event loop)."""

    def __init__(self, transfer_context: str) -> None:
        self.transfer_context = transfer_context
        self.codes: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.numbered: frozenset[str] | None = None
        self.queue = "navigateurs"

    def update(self, settings: LineSettings) -> None:
        codes = {d.key: d.short_code for d in settings.destinations}
        self.codes, self.keys = codes, {code: key for key, code in codes.items()}
        self.numbered = frozenset(
            d.key for d in settings.destinations if d.number_for(settings.territory)
        )
        self.queue = settings.queue_name

    def dialable(self, key: str) -> bool:
        """The destination has a number for the centre's territory (settings not read
        yet: assume it does, and let the dialplan judge)."""
        return self.numbered is None or key in self.numbered

    def resolve(self, exten: str, context: str) -> str | None:
        return self.keys.get(exten) if context == self.transfer_context else None

    def short_codes(self) -> Mapping[str, str]:
        return self.codes


def heartbeat_name(link: LinkOptions) -> str:
    """The listener's row in ``service_heartbeats``: the mark its successor on the same
    PBX (the same AMI link, the same CEL) reconciles from."""
    return f"listener {link.host}:{link.port}"[:40]


class ListenerService:
    def __init__(
        self,
        engine: Engine,
        link_options: LinkOptions,
        settings_source: Callable[[], LineSettings],
        options: ListenerOptions | None = None,
    ) -> None:
        self.engine = engine
        self.options = options or ListenerOptions()
        self.settings_source = settings_source
        self.sessions = sessionmaker(engine)
        self.directory = _Directory(self.options.actions.transfer_context)
        self.interpreter = Interpreter(
            self.directory.resolve, transfer_contexts={self.options.actions.transfer_context}
        )
        self.tracker = CallTracker()
        self.link = AmiLink(link_options, on_state=self._on_state)
        self.heartbeat_name = heartbeat_name(link_options)
        self.actions = Actions(
            self.link,
            self.tracker,
            self.directory.short_codes,
            self.options.actions,
            conferences=self.interpreter,
            dialable=self.directory.dialable,
        )
        self.commands = CommandRunner(self.sessions, self.actions, lambda: self.directory.queue)
        self.writer: RecordWriter | None = None
        self.calls = CallFollower(wrapup_s=self.options.wrapup_s)
        self.call_writer: CallWriter | None = None
        self.spool_lock = SpoolLock(self.options.spool_path)
        self.pbx = PbxValues(self.link, self._line_values, self.options.pbx_push_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._status_pool = concurrent.futures.ThreadPoolExecutor(1, "listener-status")
        self._stop_poller = threading.Event()
        self._poller: threading.Thread | None = None
        self._running: set[concurrent.futures.Future[None]] = set()
        self._was_connected = False
        self._disconnected_at: datetime | None = None
        self._reconciling: concurrent.futures.Future[None] | None = None
        self._reconcile_timers: set[asyncio.TimerHandle] = set()
        self._stopping = False
        self._started_at = datetime.now(UTC)
        self.live = LiveTracker()
        self._live_pool = concurrent.futures.ThreadPoolExecutor(1, "listener-live")
        self._live_timer: asyncio.TimerHandle | None = None
        self._live_last = 0.0
        self._live_connected = False
        self._live_epoch = 0
        self._resync: asyncio.Task[None] | None = None

    # ---- life cycle --------------------------------------------------------------------

    async def run(self, started: asyncio.Event | None = None) -> None:
        """Run until :meth:`stop`; the database must be migrated. Raises SpoolBusy at once,
        having touched nothing, when another listener holds the spool."""
        self.spool_lock.acquire()
        try:
            await self._run(started)
        finally:
            self.spool_lock.release()

    async def _run(self, started: asyncio.Event | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._started_at = datetime.now(UTC)
        mark = await asyncio.to_thread(self._last_heartbeat)
        await asyncio.to_thread(self._refresh_settings)
        self.writer = RecordWriter(self.engine, self.options.spool_path)
        self.call_writer = CallWriter(self.engine, spool_path_for(self.options.spool_path))
        if mark is not None and self._reconciles:
            log.info("reconciling from CEL since the last listener's heartbeat %s", mark)
            self._start_reconcile(mark)
        self.link.subscribe(self._feed_live)
        self.link.subscribe(self.tracker.feed)
        self.link.subscribe(self._interpret)
        self.link.subscribe(self._follow_calls)
        self.link.subscribe(self.pbx.on_event)
        pbx_task = asyncio.ensure_future(self.pbx.run())
        for companion in self.options.companions:
            self.link.subscribe(companion.on_event)
            companion.start()
        self._poller = threading.Thread(target=self._poll, name="listener-commands", daemon=True)
        self._poller.start()
        if started is not None:
            started.set()
        try:
            await self.link.run()
        finally:
            self.pbx.stop()
            await asyncio.wait({pbx_task}, timeout=5.0)
            pbx_task.cancel()
            await asyncio.gather(pbx_task, return_exceptions=True)
            self._stop_poller.set()
            await asyncio.to_thread(self._poller.join, 5.0)
            pending = [asyncio.wrap_future(f) for f in list(self._running)]
            if pending:
                await asyncio.wait(pending, timeout=5.0)
            self._stopping = True
            for timer in self._reconcile_timers:
                timer.cancel()
            if self._reconciling is not None:
                await asyncio.wrap_future(self._reconciling)
            if self._resync is not None:
                await asyncio.gather(self._resync, return_exceptions=True)
            if self._live_timer is not None:
                self._live_timer.cancel()
            for companion in self.options.companions:
                await asyncio.to_thread(companion.stop)
            await asyncio.to_thread(self._shutdown)

    def stop(self) -> None:
        self.link.stop()

    def _shutdown(self) -> None:
        with contextlib.suppress(Exception), self.sessions.begin() as session:
            commands.abandon_running(session, datetime.now(UTC), "the listener stopped")
        if self.writer is not None:
            self.writer.close(timeout=10.0)
        if self.call_writer is not None:
            self.call_writer.close(timeout=10.0)
        self._status_pool.shutdown(wait=True)
        self._live_pool.submit(self._write_live, LiveSnapshot.empty(), False, datetime.now(UTC))
        self._live_pool.shutdown(wait=True)

    # ---- events --------------------------------------------------------------------------

    def _interpret(self, event: Event) -> None:
        facts = self.interpreter.feed(event, datetime.now(UTC))
        if facts:
            self._submit(facts)

    def _follow_calls(self, event: Event) -> None:
        facts = self.calls.feed(event, datetime.now(UTC))
        if facts and self.call_writer is not None:
            self.call_writer.submit(facts)

    def _submit(self, facts: list[TransferFact]) -> None:
        if self.writer is not None and facts:
            log.info("facts: %s", ", ".join(f"{f.key} {f.kind} {f.outcome}" for f in facts))
            self.writer.submit(facts)

    def _on_state(self, state: LinkState) -> None:
        self.pbx.on_link_state(state)
        if state.state == "disconnected" and self._was_connected:
            self._was_connected = False
            self._disconnected_at = state.at
            self.tracker.reset()
            self.calls.reset()
            self._submit(self.interpreter.reset())
        elif state.state == "connected":
            if self._disconnected_at is not None and self._reconciles:
                self._start_reconcile(self._disconnected_at)
            self._was_connected = True
        self._live_state(state.state == "connected")
        with contextlib.suppress(RuntimeError):
            self._status_pool.submit(self._write_status, state.state, state.detail, state.at)

    def _write_status(self, state: str, detail: str, at: datetime) -> None:
        def write() -> None:
            with self.sessions.begin() as session:
                set_status(session, state, detail[:500], at)

        try:
            retry_locked(write)
        except Exception:
            log.exception("cannot write the listener status")

    def _last_heartbeat(self) -> datetime | None:
        """The last sign of life of the listener that ran before this one (read before
        this one writes its own), or None when none ever ran here."""
        try:
            with self.sessions() as session:
                beat_row = get_heartbeat(session, self.heartbeat_name)
                if beat_row is not None:
                    return beat_row.heartbeat_at
                status = get_status(session)
        except Exception:
            log.exception("cannot read the listener's last heartbeat: no reconciliation at start")
            return None
        return None if status is None else status.heartbeat_at

    def _beat(self, now: datetime) -> None:
        def write() -> None:
            with self.sessions.begin() as session:
                beat(session, self.heartbeat_name, self._started_at, now)

        try:
            retry_locked(write)
        except Exception:
            log.exception("cannot write the listener's heartbeat")

    def _start_reconcile(self, since: datetime, again: bool = True) -> None:
        """Reconcile from ``since`` now (or as soon as the pass under way is done), and
        once more ``reconcile_again_s`` later (on the loop's thread)."""
        if self._reconciling is not None and not self._reconciling.done():
            self._later(1.0, since, again)
            return
        try:
            self._reconciling = self._status_pool.submit(self._reconcile, since)
        except RuntimeError:
            return  # shutting down
        if again:
            self._later(self.options.reconcile_again_s, since, False)

    def _later(self, delay_s: float, since: datetime, again: bool) -> None:
        if self._loop is None or self._stopping:
            return
        handle = self._loop.call_later(delay_s, self._start_reconcile, since, again)
        self._reconcile_timers.add(handle)
        # forget fired timers (a TimerHandle cannot say it ran; prune the cancelled/past)
        now = self._loop.time()
        self._reconcile_timers = {h for h in self._reconcile_timers if h.when() > now}

    @property
    def _reconciles(self) -> bool:
        return self.options.cel_path is not None or self.options.queue_log_path is not None

    def _reconcile(self, since: datetime) -> None:
        """CEL first (transfers, and the calls as the dialplan told them), then queue_log
        (the waits, and the navigators' pauses the link missed)."""
        path = self.options.cel_path
        if path is not None:
            self._reconcile_cel(path, since)
        queue_log = self.options.queue_log_path
        if queue_log is not None:
            try:
                found = reconcile_queue_log(
                    queue_log, self.sessions, since - self.options.reconcile_lookback
                )
                log.info("reconciliation from %s: %s", queue_log, found)
            except ReconcileError as exc:
                log.error("reconciliation from %s not done: %s", queue_log, exc)
            except Exception:
                log.exception("reconciliation from %s failed", queue_log)

    def _reconcile_cel(self, path: Path, since: datetime) -> None:
        try:
            report = reconcile(
                path,
                self.sessions,
                self.directory.resolve,
                since - self.options.reconcile_lookback,
                tz=self.options.pbx_timezone or self.settings_source().zone,
                noanswer_timeout_s=self.options.noanswer_timeout_s,
                transfer_contexts={self.options.actions.transfer_context},
            )
            log.info("reconciliation from %s: %s", path, report)
        except Exception:
            log.exception("reconciliation from %s failed", path)

    # ---- live state ------------------------------------------------------------------

    def _feed_live(self, event: Event) -> None:
        if self.live.feed(event, datetime.now(UTC)):
            self._schedule_live()

    def _live_state(self, connected: bool) -> None:
        """Forget everything when the link is lost or stops; rebuild it when it is back."""
        if connected == self._live_connected:
            return
        self._live_connected = connected
        self._live_epoch += 1
        self.live.reset()
        if connected and self.options.live_resync:
            self._resync = asyncio.ensure_future(self._resync_live())
        if self._live_timer is not None:
            self._live_timer.cancel()
        self._flush_live()  # at once: stale state must not outlive the link

    async def _resync_live(self) -> None:
        epoch = self._live_epoch
        self.live.begin_resync()
        replies: list[Event] = []
        try:
            for action in (
                {"Action": "QueueStatus"},
                {"Action": "Status", "Variables": "IVR_LANG,IVR_PATH,IVR_INTERPRETER"},
            ):
                reply = await self.link.send_action(action, as_list=True)
                replies.extend(reply if isinstance(reply, list) else [reply])
        except (LinkDown, ActionTimeout) as exc:
            if epoch == self._live_epoch:
                self.live.abort_resync()
            log.warning("cannot read the queues' state: %s", exc)
            return
        if epoch != self._live_epoch:
            return  # the link dropped meanwhile: these replies describe a past state
        self.live.finish_resync(replies, datetime.now(UTC))
        self._schedule_live()

    def _schedule_live(self) -> None:
        """Write soon: at most one write every ``live_write_s``, the last change included."""
        if self._live_timer is not None or self._loop is None:
            return
        delay = max(0.0, self._live_last + self.options.live_write_s - time.monotonic())
        self._live_timer = self._loop.call_later(delay, self._flush_live)

    def _flush_live(self) -> None:
        self._live_timer = None
        self._live_last = time.monotonic()
        snapshot = self.live.snapshot()
        with contextlib.suppress(RuntimeError):
            self._live_pool.submit(
                self._write_live, snapshot, self._live_connected, datetime.now(UTC)
            )

    def _write_live(self, snapshot: LiveSnapshot, connected: bool, at: datetime) -> None:
        def write() -> None:
            with self.sessions.begin() as session:
                write_snapshot(session, snapshot, connected=connected, at=at)

        try:
            retry_locked(write)
        except Exception:
            log.exception("cannot write the live state")

    # ---- the line's values in Asterisk -------------------------------------------------

    def _line_values(self) -> dict[str, str]:
        """What the dialplan reads without the FastAGI server (in a thread: it may read
        the database)."""
        return line_mirror(self.settings_source(), datetime.now(UTC))

    # ---- commands ----------------------------------------------------------------------

    def _refresh_settings(self) -> None:
        try:
            self.directory.update(self.settings_source())
        except Exception:
            log.exception("cannot read the line settings (destinations)")

    def _poll(self) -> None:
        last_beat = last_settings = 0.0
        loop = self._loop
        assert loop is not None
        while not self._stop_poller.wait(self.options.poll_s):
            now = datetime.now(UTC)
            mono = time.monotonic()

            def claim(now: datetime = now) -> list[commands.Command]:
                with self.sessions.begin() as session:
                    commands.expire_stale(session, now)
                    return commands.claim_due(session, now, kinds=commands.KINDS)

            try:
                due = retry_locked(claim)
            except Exception:
                log.exception("cannot read the command table")
                continue
            for command in due:
                future = asyncio.run_coroutine_threadsafe(
                    self.commands.execute(command.id, command.kind, dict(command.args)), loop
                )
                self._running.add(future)
                future.add_done_callback(self._running.discard)
            if mono - last_settings >= self.options.settings_refresh_s:
                last_settings = mono
                self._refresh_settings()
            state = self.link.state
            if state is not None and mono - last_beat >= self.options.heartbeat_s:
                last_beat = mono
                loop.call_soon_threadsafe(self._schedule_live)
                self._write_status(state.state, state.detail, now)
                self._beat(now)
