"""The spool writers: facts from the event loop to the database, never lost, never doubled.

The listener's asyncio loop concludes facts and must never wait on the database, so
``submit`` only puts them on a bounded queue that one daemon thread drains, writing
each batch through the writer's record function in one transaction. There are two
writers, each on its own spool file, both :class:`SpoolWriter`: :class:`RecordWriter`
for the transfer facts (``store.transfers.record_facts``, spool ``<spool>``) and
:class:`listener.callwriter.CallWriter` for the call and activity facts (spool
``<spool>.calls``).

When the database is unavailable (OperationalError and friends: SQLite "database is
locked", PostgreSQL down or restarting) the batch is appended to the spool file, one
fact per line (the writer's :class:`~listener.spool.LineCodec`), fsync'ed, and retried
with exponential backoff. On start and after each successful write the spool is
replayed, then truncated by writing what was appended meanwhile to a new file and
renaming it over the spool. A crash anywhere in between loses nothing (the spool still
holds the facts) and doubles nothing (the record functions write a fact seen twice
once). A new writer on the same spool path, in a new process, writes what the last
one left.

A fact the database refuses for good (a value it cannot store) is moved to
``<spool>.rejected`` with the error, so it neither blocks the others nor vanishes.
The spool file and its lines are :mod:`listener.spool`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Self, TypedDict, TypeVar, Unpack

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from listener.spool import (
    TRANSFER_LINES,
    LineCodec,
    Spool,
    SpoolFormatError,
    SpoolWriteError,
    WriterError,
    fact_from_json,
    fact_to_json,
    parse_lines,
    parse_spool,
)
from store.facts import TransferFact
from store.transfers import record_facts

__all__ = [
    "RecordWriter",
    "Spool",
    "SpoolFormatError",
    "SpoolWriter",
    "WriterError",
    "WriterOptions",
    "fact_from_json",
    "fact_to_json",
    "is_transient",
    "parse_spool",
]

log = logging.getLogger(__name__)

F = TypeVar("F")

# ---- the writer thread -------------------------------------------------------------------

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
)


def is_transient(error: Exception) -> bool:
    """The database may accept the same write later (it is down, locked, restarting)."""
    if isinstance(error, TRANSIENT_ERRORS):
        return True
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated


@dataclass
class _Flush:
    event: threading.Event = field(default_factory=threading.Event)
    stored: bool = False


class _Stop:
    pass


class WriterOptions(TypedDict, total=False):
    """The tuning of a :class:`SpoolWriter` (its keyword arguments)."""

    queue_size: int
    batch_size: int
    retry_initial_s: float
    retry_max_s: float


class SpoolWriter(Generic[F]):
    """Writes facts from a daemon thread; starts at construction, replaying the spool.

    ``record`` writes a batch in the session's transaction and returns how many facts it
    wrote (for :attr:`counts`); ``codec`` makes a fact one spool line and back; ``name``
    names the writer in the log and its thread.

    ``submit`` never blocks on the database: when the queue is full it appends to the
    spool directly (a short fsync'ed write). ``flush`` waits until what was submitted
    before it is in the database; ``close`` drains the queue and stops the thread,
    leaving anything it could not write in the spool for the next writer.

    The queue holds ``queue_size`` submits (the listener submits one fact as a call
    ends): 20,000, twice a burst of ten times the line's peak of 1,000 calls ending at
    once, about 13 MB when full. The thread writes up to ``batch_size`` facts per
    transaction.
    """

    def __init__(
        self,
        engine: Engine,
        spool_path: Path,
        record: Callable[[Session, Sequence[F]], int],
        codec: LineCodec[F],
        *,
        name: str,
        queue_size: int = 20_000,
        batch_size: int = 200,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise WriterError("queue_size and batch_size must be at least 1")
        if not 0 < retry_initial_s <= retry_max_s:
            raise WriterError("need 0 < retry_initial_s <= retry_max_s")
        self._engine = engine
        self._record = record
        self._codec = codec
        self.name = name
        self.spool = Spool(spool_path)
        self._queue: queue.Queue[list[F] | _Flush | _Stop] = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._backoff_s = retry_initial_s
        self._retry_at: float | None = None
        self._state_lock = threading.Lock()
        self._closed = False
        self._counts_lock = threading.Lock()
        self._written = 0
        self._spooled = 0
        self._rejected = 0
        self._started = False
        self._thread = threading.Thread(target=self._run, name=name.replace(" ", "-"), daemon=True)
        self._thread.start()

    # ---- the caller's side (any thread, including the event loop) ----

    def submit(self, facts: Iterable[F]) -> None:
        """Hand facts to the writer; returns at once."""
        batch = list(facts)
        if not batch:
            return
        with self._state_lock:
            if not self._closed:
                try:
                    self._queue.put_nowait(batch)
                    return
                except queue.Full:
                    log.warning("%s queue full: spooling %d facts", self.name, len(batch))
            else:
                log.warning("%s closed: spooling %d facts for the next", self.name, len(batch))
        self._to_spool(batch)

    def flush(self, timeout: float | None = None) -> bool:
        """Write out what was submitted so far, retrying the spool once now.

        True when all of it is in the database; False when some is still in the spool
        (the database is unavailable: it will be written when it returns) or the
        timeout passed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        marker = _Flush()
        while True:
            with self._state_lock:
                closed = self._closed
                if not closed:
                    try:
                        self._queue.put_nowait(marker)
                        break
                    except queue.Full:
                        pass
            if closed:
                self._thread.join(timeout)
                return not self._thread.is_alive() and not self.spool.has_data()
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return marker.event.wait(remaining) and marker.stored

    def close(self, timeout: float | None = None) -> None:
        """Stop after writing (or spooling) everything submitted; safe to call twice."""
        with self._state_lock:
            first = not self._closed
            self._closed = True
        if first:
            self._queue.put(_Stop())
        self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def counts(self) -> dict[str, int]:
        """Facts inserted (new keys only), spooled and rejected since start."""
        with self._counts_lock:
            return {
                "written": self._written,
                "spooled": self._spooled,
                "rejected": self._rejected,
            }

    # ---- hooks (tests simulate crashes here) ----

    def _after_replay_write(self) -> None:
        """Called when a spool snapshot is in the database, before the spool is cut."""

    # ---- the thread ----

    def _run(self) -> None:
        while True:
            try:
                if self._step():
                    return
            except Exception:
                log.exception("%s: unexpected error; the spool is retried later", self.name)
                self._schedule_retry()

    def _step(self) -> bool:
        """Handle one queue item (with what follows it, as one batch); True to stop."""
        if not self._started:
            self._started = True
            self._replay()
        item = self._next_item()
        if item is None:
            self._replay()
            return False
        batch: list[F] = []
        pending: list[F] | _Flush | _Stop | None = item
        while isinstance(pending, list):
            batch.extend(pending)
            pending = None
            if len(batch) >= self._batch_size:
                break
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                break
        if batch:
            try:
                self._handle(batch)
            except Exception:
                lines = "\n".join(self._codec.encode(f) for f in batch)
                log.exception(
                    "%s: a batch may be neither stored nor spooled:\n%s", self.name, lines
                )
                self._schedule_retry()
        if isinstance(pending, _Flush):
            try:
                self._flush(pending)
            finally:
                pending.event.set()
        elif isinstance(pending, _Stop):
            self._stop()
            return True
        return False

    def _next_item(self) -> list[F] | _Flush | _Stop | None:
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

    def _handle(self, batch: list[F]) -> None:
        if self._retry_at is not None and time.monotonic() < self._retry_at:
            self._to_spool(batch)
            return
        if self._store(batch) and self.spool.has_data():
            self._replay()

    def _flush(self, marker: _Flush) -> None:
        if self.spool.has_data():
            self._replay()
        marker.stored = not self.spool.has_data()
        marker.event.set()

    def _stop(self) -> None:
        try:
            if self.spool.has_data():
                self._replay()
        except Exception:
            log.exception("%s: last spool replay failed; the spool is kept", self.name)

    def _to_spool(self, facts: Sequence[F]) -> None:
        """Append to the spool; if even that fails (disk full), log the facts themselves
        so a person can still recover them from the log: only those not whole in the
        spool (the first lines of a cut write are there, and will be replayed)."""
        try:
            self.spool.append_lines([self._codec.encode(f) for f in facts])
        except OSError as exc:
            kept = exc.kept if isinstance(exc, SpoolWriteError) else 0
            lines = "\n".join(self._codec.encode(f) for f in facts[kept:])
            log.critical(
                "cannot write the spool %s (%s); %d facts lost:\n%s",
                self.spool.path,
                exc,
                len(facts) - kept,
                lines,
            )
            with self._counts_lock:
                self._spooled += kept
            return
        with self._counts_lock:
            self._spooled += len(facts)

    def _write(self, facts: Sequence[F]) -> int:
        with Session(self._engine) as session, session.begin():
            return self._record(session, facts)

    def _write_all(self, facts: Sequence[F]) -> list[F] | None:
        """Write ``facts``; None when done (written or rejected), else those still to write
        because the database is unavailable."""
        try:
            written = self._write(facts)
        except Exception as exc:
            if is_transient(exc):
                log.warning(
                    "%s: database unavailable, %d facts kept in the spool: %s",
                    self.name,
                    len(facts),
                    exc,
                )
                return list(facts)
            log.error(
                "%s: database refused a batch of %d facts, trying one by one: %s",
                self.name,
                len(facts),
                exc,
            )
            return self._write_one_by_one(facts)
        self._count_written(written)
        return None

    def _write_one_by_one(self, facts: Sequence[F]) -> list[F] | None:
        for index, fact in enumerate(facts):
            try:
                written = self._write([fact])
            except Exception as exc:
                if is_transient(exc):
                    return list(facts[index:])
                log.error(
                    "fact %s rejected: %s (kept in %s)",
                    self._codec.label(fact),
                    exc,
                    self.spool.rejected_path,
                )
                self.spool.reject([(self._codec.encode(fact), repr(exc))])
                with self._counts_lock:
                    self._rejected += 1
                continue
            self._count_written(written)
        return None

    def _count_written(self, count: int) -> None:
        with self._counts_lock:
            self._written += count

    def _store(self, batch: list[F]) -> bool:
        left = self._write_all(batch)
        if left is None:
            return True
        self._to_spool(left)
        self._schedule_retry()
        return False

    def _schedule_retry(self) -> None:
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self._retry_max_s)

    def _replay(self) -> None:
        snapshot = self.spool.snapshot()
        if not snapshot:
            self._retry_done()
            return
        facts, bad = parse_lines(snapshot, self._codec)
        if bad:
            log.error("%d unreadable spool lines moved to %s", len(bad), self.spool.rejected_path)
        left = self._write_all(facts)
        if left is not None:
            self._schedule_retry()
            return
        try:
            self._after_replay_write()
        except Exception:
            log.exception("spool replay interrupted before the spool was cut")
            self._schedule_retry()
            return
        if bad:
            self.spool.reject(bad)
            with self._counts_lock:
                self._rejected += len(bad)
        self.spool.drop_prefix(len(snapshot))
        log.info("%s: spool replayed: %d facts", self.name, len(facts))
        self._retry_done()

    def _retry_done(self) -> None:
        self._retry_at = None
        self._backoff_s = self._retry_initial_s


class RecordWriter(SpoolWriter[TransferFact]):
    """The transfer facts' writer (``store.transfers.record_facts``): its counts are the
    facts inserted (new keys only)."""

    def __init__(self, engine: Engine, spool_path: Path, **options: Unpack[WriterOptions]) -> None:
        super().__init__(
            engine, spool_path, record_facts, TRANSFER_LINES, name="record writer", **options
        )
