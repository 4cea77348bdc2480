"""The call writer: call and activity facts to the database, never lost, never doubled.

It stands beside the transfer facts' :class:`~listener.writer.RecordWriter` and works the
same way: :meth:`CallWriter.submit` only puts the facts on a bounded queue (the event
loop never waits on the database); one daemon thread writes each batch through
``store.calls.record_calls`` and ``record_activity`` in one transaction. When the database
is unavailable the batch goes to its own spool file (``<spool>.calls`` beside the
transfer spool, under the same lock: one listener per spool), one JSON line per fact that
says its kind::

    {"call":{"linkedid":"p2a-574-caller","at":"2026-12-04T16:11:23.376850+00:00",...}}
    {"activity":{"member":"Local/nav5@queue-agents/n","state":"on_call",...}}

fsync'ed, and replayed with exponential backoff, then cut (what was appended meanwhile
is kept: :meth:`listener.spool.Spool.drop_prefix`). A crash in between loses nothing and
a replay doubles nothing: ``record_calls`` merges a call's facts into one row (first
known value wins, earliest arrival, latest end) and ``record_activity`` writes each
interval once, by its key. A fact the database refuses for good goes to
``<spool>.calls.rejected`` with the error; an unreadable line (a write cut by a crash)
too.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from listener.spool import Spool, SpoolFormatError, SpoolWriteError, WriterError
from listener.writer import is_transient
from store.calls import (
    ActivityFact,
    CallFact,
    CallSource,
    CallStoreError,
    QueueOutcome,
    record_activity,
    record_calls,
)

__all__ = ["CallWriter", "Fact", "fact_from_line", "fact_to_line", "spool_path_for"]

log = logging.getLogger(__name__)

Fact = CallFact | ActivityFact
_KINDS: dict[str, type[CallFact] | type[ActivityFact]] = {
    "call": CallFact,
    "activity": ActivityFact,
}
_FIELDS = {kind: {f.name for f in dataclasses.fields(cls)} for kind, cls in _KINDS.items()}
_DATETIMES = frozenset({"at", "ended_at", "queue_joined_at", "queue_left_at", "started_at"})


def spool_path_for(transfer_spool: Path) -> Path:
    """``var/listener-spool.jsonl`` -> ``var/listener-spool.jsonl.calls``."""
    return transfer_spool.with_name(transfer_spool.name + ".calls")


# ---- facts as JSON lines -------------------------------------------------------------


def fact_to_line(fact: Fact) -> str:
    """One line of JSON, lossless: datetimes in ISO 8601 with their offset, enums by value."""
    kind = "call" if isinstance(fact, CallFact) else "activity"
    data: dict[str, Any] = {}
    for name in _FIELDS[kind]:
        value = getattr(fact, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Enum):
            value = value.value
        data[name] = value
    return json.dumps(
        {kind: data}, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True
    )


def fact_from_line(line: str | bytes) -> Fact:
    """The inverse of ``fact_to_line``; SpoolFormatError on anything else."""
    try:
        outer = json.loads(line)
    except ValueError as exc:
        raise SpoolFormatError(f"not JSON: {exc}") from None
    if not isinstance(outer, dict) or len(outer) != 1:
        raise SpoolFormatError("a spooled call fact is an object with one kind")
    ((kind, data),) = outer.items()
    if kind not in _KINDS or not isinstance(data, dict):
        raise SpoolFormatError(f"unknown kind {kind!r}")
    unknown = set(data) - _FIELDS[kind]
    if unknown:
        raise SpoolFormatError(f"unknown fields {sorted(unknown)}")
    try:
        values = dict(data)
        for name in _DATETIMES & set(values):
            if values[name] is not None:
                values[name] = datetime.fromisoformat(values[name])
        if kind == "call":
            values["source"] = CallSource(values["source"])
            if values.get("queue_outcome") is not None:
                values["queue_outcome"] = QueueOutcome(values["queue_outcome"])
        fact: Fact = _KINDS[kind](**values)
    except (KeyError, TypeError, ValueError, CallStoreError) as exc:
        raise SpoolFormatError(f"not a {kind} fact: {exc!r}") from None
    return fact


def parse_lines(data: bytes) -> tuple[list[Fact], list[tuple[str, str]]]:
    """The facts of a spool snapshot, and the (line, error) pairs that are not facts."""
    facts: list[Fact] = []
    bad: list[tuple[str, str]] = []
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            facts.append(fact_from_line(raw))
        except SpoolFormatError as exc:
            bad.append((raw.decode("utf-8", errors="replace"), str(exc)))
    return facts, bad


class _CallSpool(Spool):
    def append_facts(self, facts: Sequence[Fact]) -> None:
        """One fsync'ed line per fact, on a fresh line (SpoolWriteError says how many)."""
        if facts:
            data = "".join(fact_to_line(f) + "\n" for f in facts).encode()
            with self._lock:
                self._append_bytes(self.path, data)


# ---- the writer thread -----------------------------------------------------------------


@dataclasses.dataclass
class _Flush:
    event: threading.Event = dataclasses.field(default_factory=threading.Event)
    stored: bool = False


_STOP = object()


class CallWriter:
    """Writes call and activity facts from a daemon thread, replaying its spool first."""

    def __init__(
        self,
        engine: Engine,
        spool_path: Path,
        *,
        queue_size: int = 20_000,
        batch_size: int = 500,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise WriterError("queue_size and batch_size must be at least 1")
        if not 0 < retry_initial_s <= retry_max_s:
            raise WriterError("need 0 < retry_initial_s <= retry_max_s")
        self._engine = engine
        self.spool = _CallSpool(spool_path)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._backoff_s = retry_initial_s
        self._retry_at: float | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.counts = {"written": 0, "spooled": 0, "rejected": 0}
        self._thread = threading.Thread(target=self._run, name="call-writer", daemon=True)
        self._thread.start()

    # ---- the caller's side (the event loop) ----

    def submit(self, facts: Iterable[Fact]) -> None:
        """Hand facts to the writer; returns at once (spools them when the queue is full)."""
        batch = list(facts)
        if not batch:
            return
        with self._lock:
            if not self._closed:
                try:
                    self._queue.put_nowait(batch)
                    return
                except queue.Full:
                    log.warning("call writer queue full: spooling %d facts", len(batch))
        self._to_spool(batch)

    def flush(self, timeout: float | None = None) -> bool:
        """True once everything submitted before is in the database; False when some is
        still in the spool (the database is unavailable) or ``timeout`` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        marker = _Flush()
        while True:
            with self._lock:
                if self._closed:
                    self._thread.join(timeout)
                    return not self._thread.is_alive() and not self.spool.has_data()
                try:
                    self._queue.put_nowait(marker)
                    break
                except queue.Full:
                    pass
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return marker.event.wait(remaining) and marker.stored

    def close(self, timeout: float | None = None) -> None:
        """Write (or spool) everything submitted, then stop; safe to call twice."""
        with self._lock:
            first, self._closed = not self._closed, True
        if first:
            self._queue.put(_STOP)
        self._thread.join(timeout)

    def __enter__(self) -> CallWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ---- the thread ----

    def _run(self) -> None:
        self._guard(self._replay)
        while True:
            item = self._next()
            if item is None:
                self._guard(self._replay)
                continue
            batch: list[Fact] = []
            while isinstance(item, list):
                batch.extend(item)
                item = None
                if len(batch) >= self._batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._guard(functools.partial(self._store, batch))
            if isinstance(item, _Flush):
                self._guard(self._replay)
                item.stored = not self.spool.has_data()
                item.event.set()
            elif item is _STOP:
                self._guard(self._replay)
                return

    def _guard(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception:
            log.exception("call writer: unexpected error; the spool is retried later")
            self._schedule_retry()

    def _next(self) -> object | None:
        """The next queue item, or None when a spool retry is due."""
        if self._retry_at is None:
            return self._queue.get()
        delay = self._retry_at - time.monotonic()
        if delay <= 0:
            return None
        try:
            return self._queue.get(timeout=delay)
        except queue.Empty:
            return None

    def _store(self, batch: list[Fact]) -> None:
        if self._retry_at is not None and time.monotonic() < self._retry_at:
            self._to_spool(batch)
            return
        left = self._write_all(batch)
        if left:
            self._to_spool(left)
            self._schedule_retry()
        elif self.spool.has_data():
            self._replay()

    def _write(self, facts: Sequence[Fact]) -> None:
        with Session(self._engine) as session, session.begin():
            record_calls(session, [f for f in facts if isinstance(f, CallFact)])
            record_activity(session, [f for f in facts if isinstance(f, ActivityFact)])

    def _write_all(self, facts: Sequence[Fact]) -> list[Fact]:
        """Write ``facts``; return those still to write (the database is unavailable)."""
        try:
            self._write(facts)
        except Exception as exc:
            if is_transient(exc):
                log.warning("database unavailable, %d call facts kept in the spool", len(facts))
                return list(facts)
            log.error("database refused %d call facts, one by one now: %s", len(facts), exc)
            for index, fact in enumerate(facts):
                try:
                    self._write([fact])
                except Exception as one:
                    if is_transient(one):
                        return list(facts[index:])
                    self.spool.reject([(fact_to_line(fact), repr(one))])
                    self.counts["rejected"] += 1
                else:
                    self.counts["written"] += 1
            return []
        self.counts["written"] += len(facts)
        return []

    def _to_spool(self, facts: Sequence[Fact]) -> None:
        try:
            self.spool.append_facts(facts)
        except OSError as exc:
            kept = exc.kept if isinstance(exc, SpoolWriteError) else 0
            lost = "\n".join(fact_to_line(f) for f in facts[kept:])
            log.critical(
                "cannot write the spool %s (%s); %d call facts lost:\n%s",
                self.spool.path,
                exc,
                len(facts) - kept,
                lost,
            )
            self.counts["spooled"] += kept
            return
        self.counts["spooled"] += len(facts)

    def _replay(self) -> None:
        snapshot = self.spool.snapshot()
        if not snapshot:
            self._retry_at, self._backoff_s = None, self._retry_initial_s
            return
        facts, bad = parse_lines(snapshot)
        if self._write_all(facts):
            self._schedule_retry()
            return
        if bad:
            log.error("%d unreadable call spool lines moved aside", len(bad))
            self.spool.reject(bad)
            self.counts["rejected"] += len(bad)
        self.spool.drop_prefix(len(snapshot))
        log.info("call spool replayed: %d facts", len(facts))
        self._retry_at, self._backoff_s = None, self._retry_initial_s

    def _schedule_retry(self) -> None:
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self._retry_max_s)
