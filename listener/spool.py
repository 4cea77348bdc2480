"""The listener's durable spool: facts as JSON lines in a file, fsync'ed on every append.

A :class:`listener.writer.SpoolWriter` appends to it whatever the database cannot take
now and replays it once the database is back; a line cut short by a crash is reported,
never fatal (:func:`parse_lines`). How a fact is one line is the writer's
:class:`LineCodec`: a transfer fact is one line of lossless JSON (:data:`TRANSFER_LINES`:
:func:`fact_to_json`, :func:`fact_from_json`), call facts have theirs
(:mod:`listener.callwriter`).

Every append starts on a fresh line: when the file ends inside a line (a crash or a
full disk cut the last write), a newline closes that fragment first, so the fragment
alone is unreadable and the facts after it are not. An append the disk cuts short
raises :class:`SpoolWriteError` saying how many of its facts are whole in the file.

One process owns a spool (:class:`SpoolLock`): the replay rewrites the file, and a
second process appending meanwhile would lose what it appended.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from store.facts import Kind, Outcome, Source, TransferFact
from store.files import fsync_dir

__all__ = [
    "TRANSFER_LINES",
    "LineCodec",
    "Spool",
    "SpoolBusy",
    "SpoolFormatError",
    "SpoolLock",
    "SpoolWriteError",
    "WriterError",
    "fact_from_json",
    "fact_to_json",
    "parse_lines",
    "parse_spool",
]

F = TypeVar("F")

_DATETIME_FIELDS = frozenset({"started_at", "ended_at"})
_FACT_FIELDS = tuple(f.name for f in dataclasses.fields(TransferFact))


class WriterError(Exception):
    """The record writer cannot work as asked."""


class SpoolFormatError(WriterError, ValueError):
    """A spool line is not a fact this code can read."""


class SpoolWriteError(OSError):
    """An append failed (disk full, I/O error); the first ``kept`` lines of it are whole in
    the file (and will be replayed), the others are not there at all."""

    def __init__(self, cause: OSError, kept: int) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.kept = kept


class SpoolBusy(WriterError):
    """Another process holds the spool's lock: another listener is running on it."""


# ---- facts as JSON lines -------------------------------------------------------------


def fact_to_json(fact: TransferFact) -> str:
    """One line of JSON, lossless: datetimes in ISO 8601 with their offset, enums by value,
    floats by their shortest exact representation."""
    data: dict[str, Any] = {}
    for name in _FACT_FIELDS:
        value = getattr(fact, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Kind | Outcome | Source):
            value = value.value
        data[name] = value
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def fact_from_json(line: str | bytes) -> TransferFact:
    """The inverse of ``fact_to_json``; raises SpoolFormatError on anything else."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise SpoolFormatError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpoolFormatError("a spooled fact must be a JSON object")
    unknown = set(data) - set(_FACT_FIELDS)
    if unknown:
        raise SpoolFormatError(f"unknown fields {sorted(unknown)}")
    try:
        values = dict(data)
        for name in _DATETIME_FIELDS:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        values["kind"] = Kind(values["kind"])
        values["outcome"] = Outcome(values["outcome"])
        if "source" in values:
            values["source"] = Source(values["source"])
        return TransferFact(**values)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpoolFormatError(f"not a transfer fact: {exc!r}") from None


# ---- the spool file --------------------------------------------------------------------


class Spool:
    """An append-only file of facts, one line each, shared by threads under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected_path = path.with_name(path.name + ".rejected")
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def append_lines(self, lines: Sequence[str]) -> None:
        """Append ``lines`` (one fact each, no newline in them), fsync'ed; SpoolWriteError
        says how many made it."""
        if not lines:
            return
        data = "".join(line + "\n" for line in lines).encode()
        with self._lock:
            self._append_bytes(self.path, data)

    def reject(self, entries: Sequence[tuple[str, str]]) -> None:
        """Keep (line, error) pairs the database refused for good, for a person to see,
        with the time they were set aside (``rejected_at``, UTC: the retention job purges
        them by it, since they may hold callers' numbers)."""
        at = datetime.now(UTC).isoformat()
        data = "".join(
            json.dumps({"rejected_at": at, "error": error, "line": line}, ensure_ascii=False) + "\n"
            for line, error in entries
        ).encode()
        with self._lock:
            self._append_bytes(self.rejected_path, data)

    @staticmethod
    def _append_bytes(path: Path, data: bytes) -> None:
        """Append ``data`` (whole lines) on a fresh line: a fragment left at the end of
        the file by a cut write is closed by a newline first."""
        new = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(fd).st_size
            fresh = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
            head = b"" if fresh else b"\n"
            payload = head + data
            done = 0
            try:
                while done < len(payload):
                    done += os.write(fd, payload[done:])
                os.fsync(fd)
            except OSError as exc:
                kept = payload[len(head) : max(done, len(head))].count(b"\n")
                raise SpoolWriteError(exc, kept) from exc
        finally:
            os.close(fd)
        if new:
            fsync_dir(path.parent)

    def has_data(self) -> bool:
        with self._lock:
            try:
                return self.path.stat().st_size > 0
            except FileNotFoundError:
                return False

    def snapshot(self) -> bytes:
        """Everything spooled so far; pass its length to ``drop_prefix`` once written."""
        with self._lock:
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                return b""

    def drop_prefix(self, length: int) -> None:
        """Remove the first ``length`` bytes (a snapshot now written to the database),
        keeping what was appended since: write the rest to a new file, fsync, rename."""
        with self._lock:
            try:
                rest = self.path.read_bytes()[length:]
            except FileNotFoundError:
                return
            tmp = self.path.with_name(self.path.name + ".tmp")
            with tmp.open("wb") as file:
                file.write(rest)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)


class SpoolLock:
    """An exclusive ``flock`` on ``<spool>.lock``, held until :meth:`release` or the
    process ends (the kernel releases it then, even after kill -9: a restart is never
    refused). The holder's pid is written in the file, for the message to whoever is
    refused."""

    def __init__(self, spool_path: Path) -> None:
        self.spool_path = spool_path
        self.path = spool_path.with_name(spool_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise SpoolBusy at once (never waits)."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WriterError(f"cannot lock {self.path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise WriterError(f"cannot lock {self.path}: {exc.strerror}") from None
            who = f" (pid {holder})" if holder else ""
            raise SpoolBusy(
                f"the spool {self.spool_path} is held by another listener{who}: only one "
                f"listener may run on a spool and its AMI link (lock file {self.path})"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the pid is only informative; the lock is what counts
        self._fd = fd

    def release(self) -> None:
        """Let the next listener in (the file stays: removing it would race a newcomer)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> SpoolLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class LineCodec(Generic[F]):
    """How one fact of a kind is one line of its spool, and how a log names it.

    ``line_start``, when every line of the kind starts with it (and JSON cannot hold it
    unescaped inside a value), lets :func:`parse_lines` take a whole fact out of a line
    where an older append glued it after a fragment."""

    encode: Callable[[F], str]
    decode: Callable[[bytes], F]
    label: Callable[[F], str]
    line_start: bytes | None = None


def parse_lines(data: bytes, codec: LineCodec[F]) -> tuple[list[F], list[tuple[str, str]]]:
    """The facts in a spool snapshot, and the (line, error) pairs that are not facts
    (a line cut short by a crash during an append, for one)."""
    facts: list[F] = []
    bad: list[tuple[str, str]] = []
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            facts.append(codec.decode(raw))
            continue
        except SpoolFormatError as exc:
            error = str(exc)
        fragment, glued = raw, _split_glued(raw, codec)
        if glued is not None:
            fragment, fact = glued
            facts.append(fact)
            try:
                facts.append(codec.decode(fragment))  # a whole line that lost its newline
                continue
            except SpoolFormatError as exc:
                error = str(exc)
        bad.append((fragment.decode("utf-8", errors="replace"), error))
    return facts, bad


def _split_glued(raw: bytes, codec: LineCodec[F]) -> tuple[bytes, F] | None:
    """A fragment and the whole fact after it on one line (what an append made before
    appends started on a fresh line), or None."""
    if codec.line_start is None:
        return None
    start = raw.find(codec.line_start, 1)
    while start > 0:
        try:
            return raw[:start], codec.decode(raw[start:])
        except SpoolFormatError:
            start = raw.find(codec.line_start, start + 1)
    return None


#: A transfer fact's line: every one starts with ``{"key":``.
TRANSFER_LINES: LineCodec[TransferFact] = LineCodec(
    encode=fact_to_json,
    decode=fact_from_json,
    label=lambda fact: fact.key,
    line_start=b'{"key":',
)


def parse_spool(data: bytes) -> tuple[list[TransferFact], list[tuple[str, str]]]:
    """The transfer facts in a spool snapshot, and the (line, error) pairs that are not."""
    return parse_lines(data, TRANSFER_LINES)
