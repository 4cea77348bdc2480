"""The demonstration's live line: the real listener, connected to the fake PBX, which
replays the lab's recordings of a real Asterisk's queue, over and over.

Nothing writes the live tables but the listener: the fake PBX answers its Login,
``QueueStatus`` (``2f``: one navigator free, one on a break) and every other action as
recorded, then plays the queue's events of a recorded scene (``2p2``: a caller answered
after 5 s; ``2p1``: two callers who give up; ``2j``: a navigator logs in, pauses and
leaves; ...), one scene after another in a random order. Only what a replay must change
is changed: the channel and call ids (so that each replay is a new call, and the call
records of the day grow), the ``Timestamp`` of each event (the time it is sent), and the
callers' numbers (other fictional 555-01xx numbers). The pace is the recording's, slowed
down by ``stretch`` so that a caller stays in line long enough to be seen. While the
line is closed only the navigators' scene plays: force it open to see callers.
The recordings' answers to the lab driver's own actions (``Response`` and event lists
carrying an ``ActionID``) are not replayed: the listener never sent those actions.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from agi_scripts.calllog import CallLog
from agi_scripts.server import ServerOptions, serve
from ivr.schedule import compute_state
from ivr.settings import LineSettings
from ivr211.cli.services import Heartbeat
from ivr211.demo.fake_pbx import EOM, FakeAmi, raw, recorded_reply
from ivr211.wiring import call_writer
from listener.ami import LinkOptions
from listener.service import ListenerOptions, ListenerService

__all__ = ["LISTENER_SPOOL", "NAVIGATOR_SCENES", "SCENES", "LiveLine", "Scene", "scene_events"]

log = logging.getLogger(__name__)

#: The recorded scenes the line replays (each a file of ``ivr211/demo/transcripts``).
SCENES = (
    "2p2-queue-answered-after-5s",
    "2p1-queue-abandon-after-wait",
    "2f-queue",
    "2j-queue-member-actions",
    "2o-queuestatus-caller-waiting",
    "2p3-queue-timeout",
)
#: The listener's spool in the demonstration's folder (its lock: one live line a folder).
LISTENER_SPOOL = "listener-spool.jsonl"
#: The scenes with no caller in them (a navigator logs in, pauses, leaves).
NAVIGATOR_SCENES = frozenset({"2j-queue-member-actions"})
#: The numbers the lab's callers had; each replay gives them other fictional ones.
_RECORDED_NUMBERS = ("5145550123", "8195550142")
_SKIPPED_EVENTS = (b"Event: FullyBooted", b"Event: SuccessfulAuth", b"Event: Shutdown")
_SUFFIX = re.compile(r"-([0-9a-f]{8})(?=;\d|$)")
_ID_HEADER = re.compile(r"(?:Uniqueid|Linkedid|ChannelId)$", re.IGNORECASE)


@dataclass(frozen=True)
class Scene:
    """One recorded event, ``t`` seconds after the recording's start."""

    t: float
    message: bytes


def scene_events(name: str) -> list[Scene]:
    """The events of recording ``name`` that the replay sends, with their times."""
    out: list[Scene] = []
    buffer = b""
    for chunk in raw(name):
        if chunk.direction != "RECV":
            continue
        buffer += chunk.data
        *complete, buffer = buffer.split(EOM)
        for block in complete:
            message = block + EOM
            if not message.startswith(b"Event: ") or b"\r\nActionID: " in message:
                continue
            if message.startswith(_SKIPPED_EVENTS):
                continue
            out.append(Scene(chunk.t, message))
    return out


class _Renamer:
    """The ids, channel suffixes and numbers of one replay, each replaced consistently."""

    def __init__(self, rng: random.Random, counter: Callable[[], int]) -> None:
        self.rng = rng
        self.counter = counter
        self.ids: dict[str, str] = {}
        self.suffixes: dict[str, str] = {}
        self.numbers = {
            n: f"{rng.choice(('418', '581', '819'))}5550{rng.randrange(100, 200)}"
            for n in _RECORDED_NUMBERS
        }

    def learn(self, events: Sequence[Scene]) -> None:
        for event in events:
            for line in event.message.decode("utf-8", "surrogateescape").split("\r\n"):
                key, sep, value = line.partition(": ")
                if sep and value and _ID_HEADER.search(key) and value not in self.ids:
                    self.ids[value] = f"{int(time.time())}.{self.counter()}"

    def rename(self, message: bytes, now: float) -> bytes:
        lines = []
        for line in message.decode("utf-8", "surrogateescape").split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                if key == "Timestamp":
                    value = f"{now:.6f}"
                elif value in self.ids:
                    value = self.ids[value]
                elif value in self.numbers:
                    value = self.numbers[value]
                else:
                    value = _SUFFIX.sub(self._suffix, value)
                line = f"{key}: {value}"
            lines.append(line)
        return "\r\n".join(lines).encode("utf-8", "surrogateescape")

    def _suffix(self, match: re.Match[str]) -> str:
        old = match.group(1)
        if old not in self.suffixes:
            self.suffixes[old] = f"{self.counter() & 0xFFFFFFFF:08x}"
        return f"-{self.suffixes[old]}"


class LiveLine:
    """The fake PBX and the listener, on one event loop in a thread of their own; with
    ``agi``, the FastAGI server too (its call log writes to the same database), so that
    ``ivr211 simulate`` can call the demonstration's menu."""

    def __init__(
        self,
        engine: Engine,
        settings_source: Callable[[], LineSettings],
        folder: Path,
        *,
        stretch: float = 4.0,
        pause_s: tuple[float, float] = (3.0, 12.0),
        max_gap_s: float = 30.0,
        seed: int | None = None,
        agi: ServerOptions | None = None,
    ) -> None:
        self.engine = engine
        self.agi = agi
        self.settings_source = settings_source
        self.folder = folder
        self.stretch = stretch
        self.pause_s = pause_s
        self.max_gap_s = max_gap_s
        self.rng = random.Random(seed)
        self.scenes_played = 0
        self.played: list[str] = []
        self.fake: FakeAmi | None = None
        self.service: ListenerService | None = None
        self._count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-live-line", daemon=True)

    def start(self, timeout_s: float = 30.0) -> None:
        """Start, and return once the listener is connected to the fake PBX."""
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError("the demonstration's listener did not connect to the fake PBX")
        if self._error is not None:
            raise RuntimeError(f"the demonstration's live line failed: {self._error}")

    def stop(self, timeout_s: float = 30.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout_s)

    # ---- the thread ---------------------------------------------------------------------

    def _counter(self) -> int:
        self._count += 1
        return self._count

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            log.error(
                "the demonstration's live line stopped: %s",
                exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with FakeAmi(secret=secrets.token_urlsafe(16)) as fake:
            fake.replies["QueueStatus"] = recorded_reply("2f-queue", "QueueStatus")
            self.fake = fake
            service = ListenerService(
                self.engine,
                LinkOptions(host="127.0.0.1", port=fake.port, secret=fake.secret),
                self.settings_source,
                ListenerOptions(spool_path=self.folder / LISTENER_SPOOL),
            )
            self.service = service
            task = asyncio.create_task(service.run())
            agi = await self._start_agi()
            try:
                connected = asyncio.ensure_future(service.link.wait_connected(20))
                await asyncio.wait({task, connected}, return_when=asyncio.FIRST_COMPLETED)
                if task.done():  # it could not start (another listener holds the spool)
                    connected.cancel()
                    task.result()
                await connected
                self._ready.set()
                player = asyncio.create_task(self._play(fake))
                await self._stop.wait()
                player.cancel()
                await asyncio.gather(player, return_exceptions=True)
            finally:
                service.stop()
                await task
                if agi is not None:
                    await agi()

    async def _start_agi(self) -> Callable[[], Awaitable[None]] | None:
        """The FastAGI server (and its heartbeat, which the line status shows); returns
        what stops them."""
        if self.agi is None:
            return None
        calls = CallLog(call_writer(self.engine))
        calls.start()
        started = asyncio.Event()
        server = asyncio.create_task(
            serve(self.agi, self.settings_source, calls=calls, started=started)
        )
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if server.done():
            await asyncio.to_thread(calls.stop)
            server.result()  # the bind failed: reported to start()
        heartbeat = Heartbeat(self.engine, "fastagi")
        heartbeat.start()

        async def stop() -> None:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
            await asyncio.to_thread(heartbeat.stop)
            await asyncio.to_thread(calls.stop)

        return stop

    async def _play(self, fake: FakeAmi) -> None:
        """Scene after scene; while the line is closed (its hours, a closure, the
        override), only the navigators' own scene, less often: nobody calls a closed
        line's queue. Forcing the line open (the admin pages) brings the callers back."""
        scenes = {name: scene_events(name) for name in SCENES}
        await asyncio.sleep(self.rng.uniform(*self.pause_s) / 2)
        while True:
            order = list(SCENES)
            self.rng.shuffle(order)
            for name in order:
                is_open = await asyncio.to_thread(self._line_open)
                if not is_open and name not in NAVIGATOR_SCENES:
                    continue
                await self._scene(fake, scenes[name])
                self.scenes_played += 1
                self.played.append(name)
                pause = self.rng.uniform(*self.pause_s)
                await asyncio.sleep(pause if is_open else pause * 3)

    def _line_open(self) -> bool:
        try:
            return compute_state(self.settings_source().schedule, datetime.now(UTC)).is_open
        except Exception:
            log.exception("cannot read the line settings: the live line plays as if open")
            return True

    async def _scene(self, fake: FakeAmi, events: Sequence[Scene]) -> None:
        renamer = _Renamer(self.rng, self._counter)
        renamer.learn(events)
        previous = events[0].t if events else 0.0
        for event in events:
            gap = min(self.max_gap_s, max(0.0, (event.t - previous) * self.stretch))
            previous = event.t
            if gap:
                await asyncio.sleep(gap)
            try:
                await fake.push(renamer.rename(event.message, time.time()))
            except ConnectionError:
                return  # the listener is reconnecting: this scene is lost, as on a real line
