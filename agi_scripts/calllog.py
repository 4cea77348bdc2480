"""The flow's own account of each call, written as a call record off the caller's path.

The FastAGI server knows what no other source knows for certain: the line's state when
the call arrived, the language, the path through the menus and the route the flow
decided (``ivr.actions.Decision``), and what the queue-exit menu did. Each finished
session gives one :class:`store.calls.CallFact` (source ``flow``), keyed on the caller
channel's linkedid, worded by ``store.flowfacts.flow_fact`` (the rule the Twilio back
end shares), merged with what the listener, queue_log and CEL saw
(``store.calls.record_calls``).

A caller never waits on the database: :meth:`CallLog.submit` only puts the fact on a
bounded queue that one daemon thread drains in batches. When the database is down the
thread retries the batch for ``retry_s``, then gives it up with one error line: the same
facts reach the call records from the dialplan's ``IVR211_CALL`` CEL events at the next
reconciliation, so nothing a report needs depends on this writer alone. A full queue
(the database far behind a burst) drops the newest fact the same way, counted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import exc as sa_exc

from store.calls import CallFact
from store.flowfacts import flow_fact

__all__ = ["CallLog", "flow_fact"]

log = logging.getLogger(__name__)

Writer = Callable[[Sequence[CallFact]], None]


class CallLog:
    """A bounded queue of call facts and the thread that writes them with ``write``."""

    def __init__(
        self,
        write: Writer,
        *,
        max_pending: int = 20_000,
        batch: int = 500,
        retry_s: float = 60.0,
    ) -> None:
        self._write = write
        self._queue: queue.Queue[CallFact | None] = queue.Queue(max_pending)
        self._batch = batch
        self._retry_s = retry_s
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="call-log", daemon=True)
            self._thread.start()

    def submit(self, fact: CallFact) -> None:
        """Queue ``fact``; never blocks the caller's session."""
        try:
            self._queue.put_nowait(fact)
        except queue.Full:
            self.dropped += 1
            log.error(
                "call record of %s not written now (%d waiting): CEL reconciliation will"
                " complete it",
                fact.linkedid,
                self._queue.qsize(),
            )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Write what is queued (within ``timeout_s``) and stop the thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            log.error("call log: queue still full at shutdown")
        self._thread.join(timeout_s)
        self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [] if first is None else [first]
            stop = first is None
            while not stop and len(batch) < self._batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch:
                self._flush(batch)
            if stop:
                return

    def _flush(self, batch: list[CallFact]) -> None:
        deadline = time.monotonic() + self._retry_s
        delay = 0.2
        while True:
            try:
                self._write(batch)
            except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
                if time.monotonic() + delay > deadline:
                    self.dropped += len(batch)
                    log.error(
                        "call records of %d calls not written (database unavailable: %s):"
                        " CEL reconciliation will complete them",
                        len(batch),
                        str(exc).splitlines()[0][:200],
                    )
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                self.dropped += len(batch)
                log.exception("call records of %d calls refused by the database", len(batch))
                return
            else:
                self.written += len(batch)
                return
