"""The record writer: facts from the event loop to the database, never lost, never doubled.

The listener's asyncio loop concludes facts and must never wait on the database, so
``submit`` only puts them on a bounded queue that one daemon thread drains, writing
each batch through ``store.transfers.record_facts`` in one transaction.

When the database is unavailable (OperationalError and friends: SQLite "database is
locked", PostgreSQL down or restarting) the batch is appended to a spool file, one
JSON fact per line, fsync'ed, and retried with exponential backoff. On start and
after each successful write the spool is replayed, then truncated by writing what
was appended meanwhile to a new file and renaming it over the spool. A crash
anywhere in between loses nothing (the spool still holds the facts) and doubles
nothing (facts are inserted with ON CONFLICT (key) DO NOTHING). A new writer on the
same spool path, in a new process, writes what the last one left.

A fact the database refuses for good (a value it cannot store) is moved to
``<spool>.rejected`` with the error, so it neither blocks the others nor vanishes.
The spool file and its line format are :mod:`listener.spool`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from listener.spool import (
    Spool,
    SpoolFormatError,
    SpoolWriteError,
    WriterError,
    fact_from_json,
    fact_to_json,
    parse_spool,
)
from store.facts import TransferFact
from store.transfers import record_facts

__all__ = [
    "RecordWriter",
    "Spool",
    "SpoolFormatError",
    "WriterError",
    "fact_from_json",
    "fact_to_json",
    "is_transient",
    "parse_spool",
]

log = logging.getLogger(__name__)

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


_Item = list[TransferFact] | _Flush | _Stop


class RecordWriter:
    """Writes facts from a daemon thread; starts at construction, replaying the spool.

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
        *,
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
        self.spool = Spool(spool_path)
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=queue_size)
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
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    # ---- the caller's side (any thread, including the event loop) ----

    def submit(self, facts: Iterable[TransferFact]) -> None:
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
                    log.warning("record writer queue full: spooling %d facts", len(batch))
            else:
                log.warning("record writer closed: spooling %d facts for the next", len(batch))
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

    def __enter__(self) -> RecordWriter:
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
                log.exception("record writer: unexpected error; the spool is retried later")
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
        batch: list[TransferFact] = []
        pending: _Item | None = item
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
                lines = "\n".join(fact_to_json(f) for f in batch)
                log.exception(
                    "record writer: a batch may be neither stored nor spooled:\n%s", lines
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

    def _next_item(self) -> _Item | None:
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

    def _handle(self, batch: list[TransferFact]) -> None:
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
            log.exception("record writer: last spool replay failed; the spool is kept")

    def _to_spool(self, facts: Sequence[TransferFact]) -> None:
        """Append to the spool; if even that fails (disk full), log the facts themselves
        so a person can still recover them from the log: only those not whole in the
        spool (the first lines of a cut write are there, and will be replayed)."""
        try:
            self.spool.append(facts)
        except OSError as exc:
            kept = exc.kept if isinstance(exc, SpoolWriteError) else 0
            lines = "\n".join(fact_to_json(f) for f in facts[kept:])
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

    def _write(self, facts: Sequence[TransferFact]) -> int:
        with Session(self._engine) as session, session.begin():
            return record_facts(session, facts)

    def _write_all(self, facts: Sequence[TransferFact]) -> list[TransferFact] | None:
        """Write ``facts``; None when done (written or rejected), else those still to write
        because the database is unavailable."""
        try:
            written = self._write(facts)
        except Exception as exc:
            if is_transient(exc):
                log.warning("database unavailable, %d facts kept in the spool: %s", len(facts), exc)
                return list(facts)
            log.error(
                "database refused a batch of %d facts, trying one by one: %s", len(facts), exc
            )
            return self._write_one_by_one(facts)
        self._count_written(written)
        return None

    def _write_one_by_one(self, facts: Sequence[TransferFact]) -> list[TransferFact] | None:
        for index, fact in enumerate(facts):
            try:
                written = self._write([fact])
            except Exception as exc:
                if is_transient(exc):
                    return list(facts[index:])
                log.error(
                    "fact %s rejected: %s (kept in %s)", fact.key, exc, self.spool.rejected_path
                )
                self.spool.reject([(fact_to_json(fact), repr(exc))])
                with self._counts_lock:
                    self._rejected += 1
                continue
            self._count_written(written)
        return None

    def _count_written(self, count: int) -> None:
        with self._counts_lock:
            self._written += count

    def _store(self, batch: list[TransferFact]) -> bool:
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
        facts, bad = parse_spool(snapshot)
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
        log.info("spool replayed: %d facts", len(facts))
        self._retry_done()

    def _retry_done(self) -> None:
        self._retry_at = None
        self._backoff_s = self._retry_initial_s
