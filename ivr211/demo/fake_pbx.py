"""A fake Asterisk AMI server on 127.0.0.1 that says only what the lab recordings say.

The demonstration (``ivr211 demo``) connects the real listener to it, and the listener's
tests do the same. Every byte it sends comes from the lab's recordings of a real
Asterisk 22 (``transcripts/raw``), copied into ``ivr211/demo/transcripts``: the banner
``Asterisk Call Manager/11.0.0\\r\\n``, the Login replies (``Authentication accepted`` +
``FullyBooted``; ``Authentication failed`` after a delay, then EOF, as in ``2g2`` — the
delay is 1 s on a real Asterisk, shortened here), each action's reply as recorded for
that action (``2g``, ``2f``, ``2a1``...) with only its ``ActionID`` line changed to the
client's, and the ``Shutdown`` event of ``2h``. ``Setvar`` is answered as ``2r`` recorded
it for a user with write = call,originate,agent: Success for ``GLOBAL(NAME)``, Error
``Variable not set`` for ``DB(...)``; ``DBPut`` (refused, "Permission denied") is never
expected of the client.

:meth:`FakeAmi.replay` plays a scenario's RECV chunks with their exact chunking; when the
recording has the driver send an action that the client under test is expected to send
(``expect``), the replay waits for the client's action and rewrites the recorded
``ActionID`` to the client's in what follows.

It listens on the loopback only and never connects anywhere itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from listener.transcripts import Chunk, read_raw

#: The recordings the fake answers from (copies of the lab's ``transcripts/raw``).
TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
EOM = b"\r\n\r\n"
_ACTION_ID = re.compile(rb"^ActionID: [^\r]*\r\n", re.MULTILINE)


def raw(name: str, folder: Path = TRANSCRIPTS) -> list[Chunk]:
    """The chunks of recording ``name`` (``<folder>/<name>.raw``)."""
    return read_raw(folder / f"{name}.raw")


def parse_block(block: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block.decode("utf-8", errors="replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep and key not in fields:
            fields[key] = value
    return fields


def blocks(data: bytes) -> list[bytes]:
    """The messages in ``data`` (banner removed), each with its trailing blank line."""
    if data.startswith(BANNER):
        data = data[len(BANNER) :]
    parts = data.split(EOM)
    return [part + EOM for part in parts[:-1]]


def with_action_id(message: bytes, action_id: str) -> bytes:
    return _ACTION_ID.sub(f"ActionID: {action_id}\r\n".encode(), message, count=1)


@dataclass(frozen=True)
class Recorded:
    """A SEND action of a recording and the messages that answered it (same ActionID)."""

    action: dict[str, str]
    replies: list[bytes]


def recorded_actions(name: str) -> list[Recorded]:
    """Every action the lab driver sent in ``name``, with Asterisk's replies to it."""
    chunks = raw(name)
    sent: list[Recorded] = []
    by_id: dict[str, Recorded] = {}
    stream = b""
    for chunk in chunks:
        if chunk.direction == "SEND":
            for block in blocks(chunk.data):
                fields = parse_block(block)
                rec = Recorded(fields, [])
                sent.append(rec)
                by_id[fields.get("ActionID", "")] = rec
        else:
            stream += chunk.data
    for block in blocks(stream):
        fields = parse_block(block)
        answered = by_id.get(fields.get("ActionID", ""))
        if answered is not None:
            answered.replies.append(block)
    return sent


def recorded_reply(name: str, action: str, **match: str) -> list[bytes]:
    """The reply (and its event list, if any) of the first ``action`` in recording ``name``
    whose reply or request has all of ``match`` (e.g. ``Message="Transfer invalid"``)."""
    for rec in recorded_actions(name):
        if rec.action.get("Action") != action or not rec.replies:
            continue
        first = parse_block(rec.replies[0])
        if all(first.get(k) == v or rec.action.get(k) == v for k, v in match.items()):
            return rec.replies
    raise LookupError(f"{name}: no recorded {action} reply with {match}")


TRANSCRIPT_2R = TRANSCRIPTS / "2r-ami-write-rights-setvar-db-global.txt"
_2R_LINE = re.compile(r"^(?P<request>\S.*?)\s+-> (?P<reply>Response: .*?)(?:\s{3,}.*)?$")


def recorded_2r(request: str) -> bytes:
    """The reply 2r shows for the first request starting with ``request``, as wire bytes.

    2r prints each reply on one line, CRLF as `` | `` and without the ActionID line.
    Asterisk puts ``ActionID`` right after ``Response`` (2g's raw Setvar reply:
    ``Response: Success`` / ``ActionID: ami-155`` / ``Message: Variable Set``); an empty
    one is put there for :func:`with_action_id`.
    """
    for line in TRANSCRIPT_2R.read_text(encoding="utf-8").splitlines():
        match = _2R_LINE.match(line)
        if match is None or not match["request"].startswith(request):
            continue
        first, *rest = match["reply"].split(" | ")
        return "".join(f"{f}\r\n" for f in (first, "ActionID: ", *rest)).encode() + b"\r\n"
    raise LookupError(f"2r: no request starting with {request!r}")


def _default_replies() -> dict[str, list[bytes]]:
    return {
        "Ping": recorded_reply("2g-ami-actions", "Ping"),
        "Atxfer": recorded_reply("2a1-attended-transfer-ami", "Atxfer"),
        "CancelAtxfer": recorded_reply("2b3-attended-transfer-cancel", "CancelAtxfer"),
        "BlindTransfer": recorded_reply("2c1-blind-transfer-ami", "BlindTransfer"),
        "Redirect": recorded_reply("2d1-threeway-confbridge", "Redirect"),
        "Originate": recorded_reply("2d1-threeway-confbridge", "Originate", Exten="room78443")[:1],
        "QueueAdd": recorded_reply("2f-queue", "QueueAdd"),
        "QueuePause": recorded_reply("2f-queue", "QueuePause"),
        "QueueRemove": recorded_reply("2f-queue", "QueueRemove"),
        "Status": recorded_reply("2g-ami-actions", "Status"),
        "Logoff": recorded_reply("2g-ami-actions", "Logoff"),
        "Setvar": [recorded_2r("Setvar Variable: GLOBAL(")],
    }


@dataclass
class _Client:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    logged_in: bool = False


@dataclass
class FakeAmi:
    """The fake server. ``received`` holds every action the clients sent, in order."""

    username: str = "ivr211"
    secret: str = "test-secret"
    auth_fail_delay_s: float = 0.05
    replies: dict[str, list[bytes]] = field(default_factory=_default_replies)
    received: list[dict[str, str]] = field(default_factory=list)
    connections: int = 0
    logins: int = 0

    def __post_init__(self) -> None:
        login = recorded_actions("2g2-ami-login-and-permissions")
        accepted = next(r for r in login if r.action.get("Username") == "watcher")
        failed = next(r for r in login if r.action.get("Secret") == "wrong")
        self._login_ok = accepted.replies[0]
        self._login_failed = failed.replies[0]
        self._fully_booted = next(
            b
            for b in blocks(b"".join(c.data for c in raw("2g2-ami-login-and-permissions")))
            if b.startswith(b"Event: FullyBooted")
        )
        shutdown = [
            b
            for c in raw("2h-ami-restart")
            if c.direction == "RECV"
            for b in blocks(c.data)
            if b.startswith(b"Event: Shutdown")
        ]
        self.shutdown_restart, self.shutdown_stop = shutdown[0], shutdown[1]
        self.fully_booted = self._fully_booted
        self._server: asyncio.Server | None = None
        self._replayed: set[str] = set()
        self._client: _Client | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._action_seen = asyncio.Condition()
        self._logged_in = asyncio.Condition()
        self.port = 0

    # ---- life cycle ----------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        """Asterisk down: new connections are refused (the port is kept for :meth:`start`)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        await self.stop_listening()
        await self.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FakeAmi:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # ---- what the test drives ------------------------------------------------------

    async def wait_logins(self, count: int, timeout_s: float = 5.0) -> None:
        async with self._logged_in:
            await asyncio.wait_for(
                self._logged_in.wait_for(lambda: self.logins >= count), timeout_s
            )

    async def wait_action(
        self, name: str, count: int = 1, timeout_s: float = 5.0
    ) -> dict[str, str]:
        def seen() -> list[dict[str, str]]:
            return [a for a in self.received if a.get("Action") == name]

        async with self._action_seen:
            await asyncio.wait_for(
                self._action_seen.wait_for(lambda: len(seen()) >= count), timeout_s
            )
        return seen()[count - 1]

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action") == name]

    async def push(self, data: bytes) -> None:
        client = self._client
        if client is None:
            raise ConnectionError("no client connected")
        client.writer.write(data)
        await client.writer.drain()

    async def drop(self) -> None:
        """Close the client's connection (EOF on the client's side)."""
        client, self._client = self._client, None
        if client is not None:
            client.writer.close()
            with contextlib.suppress(ConnectionError):
                await client.writer.wait_closed()

    async def shutdown(self, restart: bool = True) -> None:
        """What ``core restart now`` (or a stop) does: ``Event: Shutdown``, then EOF (2h)."""
        await self.push(self.shutdown_restart if restart else self.shutdown_stop)
        await self.drop()

    async def replay(
        self,
        chunks: Iterable[Chunk],
        *,
        expect: Mapping[str, Collection[int]] | None = None,
        substitute: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        """Send the RECV chunks as recorded, after the login. ``expect`` names the recorded
        SENDs the client under test makes instead of the lab driver (action name -> which
        occurrences, from 1): there the replay waits for the client's next action of that
        name and maps the recorded ActionID to the client's; those actions get no scripted
        reply (the recorded one is replayed). ``substitute`` maps a recorded
        field value to one taken from the client's action: ``{"1795878560.110":
        "ChannelId"}`` puts the client's ``ChannelId`` where Asterisk used the recorded id.
        """
        wanted = {name: set(nth) for name, nth in (expect or {}).items()}
        self._replayed = set(wanted)
        recorded: dict[str, int] = {}
        counts: dict[str, int] = {}
        ids: dict[bytes, bytes] = {}
        subs: dict[bytes, bytes] = {}
        started = False
        for chunk in chunks:
            if chunk.direction == "SEND":
                fields = parse_block(chunk.data)
                name = fields.get("Action", "")
                if name == "Login":
                    continue
                recorded[name] = recorded.get(name, 0) + 1
                if recorded[name] in wanted.get(name, ()):
                    counts[name] = counts.get(name, 0) + 1
                    mine = await self.wait_action(name, counts[name], timeout_s)
                    ids[f"ActionID: {fields.get('ActionID', '')}\r\n".encode()] = (
                        f"ActionID: {mine.get('ActionID', '')}\r\n".encode()
                    )
                    for value, key in (substitute or {}).items():
                        if key in mine:
                            subs[value.encode()] = mine[key].encode()
                continue
            data = chunk.data
            if not started:
                started = True
                if data.startswith(BANNER):
                    # the banner and the login reply went out live; the rest of that read
                    # (FullyBooted, SuccessfulAuth) is sent as recorded
                    data = b"".join(blocks(data)[1:])
                    if not data:
                        continue
            for old, new in [*ids.items(), *subs.items()]:
                data = data.replace(old, new)
            await self.push(data)

    # ---- the server ------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        client = _Client(reader, writer)
        self._client = client
        self.connections += 1
        try:
            writer.write(BANNER)
            await writer.drain()
            while True:
                try:
                    block = await reader.readuntil(EOM)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                fields = parse_block(block)
                self.received.append(fields)
                async with self._action_seen:
                    self._action_seen.notify_all()
                if not await self._answer(client, fields):
                    return
        finally:
            self._tasks.discard(task)
            if self._client is client:
                self._client = None
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, client: _Client, fields: dict[str, str]) -> bool:
        name = fields.get("Action", "")
        action_id = fields.get("ActionID", "")
        writer = client.writer
        if name == "Login":
            if fields.get("Username") != self.username or fields.get("Secret") != self.secret:
                await asyncio.sleep(self.auth_fail_delay_s)
                writer.write(with_action_id(self._login_failed, action_id))
                await writer.drain()
                return False
            client.logged_in = True
            writer.write(with_action_id(self._login_ok, action_id) + self._fully_booted)
            await writer.drain()
            async with self._logged_in:
                self.logins += 1
                self._logged_in.notify_all()
            return True
        replies = self.replies.get(name)
        if name == "Setvar" and fields.get("Variable", "").startswith("DB("):
            replies = [recorded_2r("Setvar Variable: DB(")]
        if replies is None or name in self._replayed:
            return True  # not scripted: Asterisk's reply is not recorded, so say nothing
        for message in replies:
            writer.write(with_action_id(message, action_id))
        await writer.drain()
        return name != "Logoff"
