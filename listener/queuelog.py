"""Call and navigator facts from app_queue's queue_log, and a reader that follows the file.

Asterisk writes one line per queue event (asterisk_conf/logger.conf)::

    epoch|callid|queue|agent|event|data1|data2|...
    1796400668|p1a-574-caller|navigators-noanswer|NONE|ENTERQUEUE||5145550123|1
    1796400674|p1a-574-caller|navigators-noanswer|NONE|ABANDON|1|1|6

``callid`` is the uniqueid of the channel that ran Queue(): the caller's own channel,
whose uniqueid is the call's linkedid (the trunk's channel is the call's first; in the
recordings 2p1-2p4 the callid ``p1a-574-caller`` is both the caller channel's uniqueid
and its linkedid in CEL, and in the project's dialplan, 6b, the caller channel
``1796398477.55`` is its own linkedid). ``agent`` is the member's name (queues.conf
``log_membername_as_agent``), ``NONE`` when there is none.

What each event tells (recorded in 2i, 2j, 2o, 2p1-2p4), read by
:class:`QueueLogInterpreter` into :class:`store.calls.CallFact` (source ``queue_log``):

* ``ENTERQUEUE|url|callerid|position``: the caller joined (the time, the position);
* ``CONNECT|holdtime|member uniqueid|ringtime``: answered after ``holdtime`` seconds, by
  ``agent``, whose phone rang ``ringtime`` seconds;
* ``COMPLETEAGENT|holdtime|calltime|origposition`` / ``COMPLETECALLER|...``: the call
  ended, ``calltime`` seconds of talk, hung up by the navigator / the caller;
* ``ATTENDEDTRANSFER|method|data|holdtime|calltime|origposition`` (2i) and
  ``BLINDTRANSFER|extension|context|holdtime|calltime|origposition`` (Asterisk's
  documented form; not recorded here): the navigator transferred the caller;
* ``ABANDON|position|origposition|waittime``: the caller hung up while waiting;
* ``EXITWITHTIMEOUT|position|origposition|waittime``: the Queue() timeout ended the wait
  (queue_log cannot tell a wait cut to the closing time from the full wait: CEL's
  ``IVR211_CALL`` event can, and is read first, ``listener.celcalls``);
* ``EXITEMPTY|position|origposition|waittime``: no navigator could answer any more;
* ``RINGNOANSWER|ms`` / ``RINGCANCELED|ms``: a navigator's phone rang without answer;
* ``PAUSE|reason`` / ``UNPAUSE|reason`` (callid ``NONE``): a navigator's pause, one
  :class:`store.calls.ActivityFact` per closed pause; ``PAUSEALL``/``UNPAUSEALL`` come
  with a ``PAUSE``/``UNPAUSE`` line per queue (2j) and are not counted twice;
* ``ADDMEMBER`` / ``REMOVEMEMBER``: a navigator logged in / out (a logged-in interval);
* ``QUEUESTART``, ``CONFIGRELOAD`` and the like tell nothing of a call.

A caller refused at once (``JOINEMPTY``, ``FULL``) leaves no line at all (2p4): CEL's
``IVR211_CALL`` event after Queue() tells those. No caller number is taken from
``ENTERQUEUE``: a re-read of an old file must not bring back a number the retention job
has purged from the records.

:class:`QueueLogFollower` reads the complete lines appended since its last read. The
retention job rewrites the file (``ivr211.retention``: a new file renamed over it, so a
new inode, shorter, with a different first line) and logrotate may rename it away: the
follower first reads what is left of the file it had open, then reads the new file from
its start. Lines read twice give the same facts again, which ``record_calls`` (a merge)
and ``record_activity`` (keyed) make harmless.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Final

from store.calls import ActivityFact, CallFact, CallSource, CallStoreError, QueueOutcome

__all__ = [
    "QueueLogError",
    "QueueLogFollower",
    "QueueLogInterpreter",
    "QueueLogLine",
    "QueueLogPosition",
    "QueueLogRead",
    "parse_line",
]

log = logging.getLogger(__name__)

_NONE: Final = "NONE"
_MAX_LINE: Final = 64 * 1024
_HEAD: Final = 4096
_SECONDS: Final = re.compile(r"\d{1,9}(?:\.\d{1,6})?")
#: Events that end a wait without a navigator: the outcome, data = position|orig|wait.
_LEFT: Final = {
    "ABANDON": QueueOutcome.ABANDONED,
    "EXITWITHTIMEOUT": QueueOutcome.TIMEOUT,
    "EXITEMPTY": QueueOutcome.LEAVEEMPTY,
}
_COMPLETED: Final = {"COMPLETEAGENT": "agent", "COMPLETECALLER": "caller"}
_TRANSFERS: Final = frozenset({"ATTENDEDTRANSFER", "BLINDTRANSFER"})


class QueueLogError(ValueError):
    """A queue_log line that does not read as app_queue writes it."""


@dataclass(frozen=True)
class QueueLogLine:
    at: datetime
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]

    def number(self, index: int) -> float | None:
        """``data[index]`` as a number of seconds, None when absent or not a number."""
        if index >= len(self.data):
            return None
        text = self.data[index].strip()
        if not _SECONDS.fullmatch(text):
            return None  # app_queue writes whole numbers; "inf", "-1", "1e9" are not
        return float(text)

    def integer(self, index: int) -> int | None:
        value = self.number(index)
        return None if value is None or value != int(value) else int(value)


def parse_line(text: str) -> QueueLogLine:
    """One line (with or without its newline)."""
    fields = text.rstrip("\r\n").split("|")
    if len(fields) < 5:
        raise QueueLogError(f"{len(fields)} fields, a queue_log line has at least 5")
    epoch, callid, queue, agent, event = fields[:5]
    if not epoch.isdigit():
        raise QueueLogError(f"time {epoch[:20]!r} is not epoch seconds")
    try:
        at = datetime.fromtimestamp(int(epoch), UTC)
    except (OverflowError, ValueError, OSError):
        raise QueueLogError(f"time {epoch[:20]!r} is out of range") from None
    if not event or not event.replace("_", "").isalnum():
        raise QueueLogError(f"event {event[:40]!r} is not an event name")
    return QueueLogLine(at, callid, queue, agent, event, tuple(fields[5:]))


@dataclass(eq=False)
class _Wait:
    linkedid: str
    queue: str
    joined_at: datetime | None = None
    position: int | None = None


@dataclass
class QueueLogInterpreter:
    """Feed lines in file order; each call returns the facts that line concludes.
    Pure: no I/O, no clock. A line that cannot be understood is reported in
    ``problems`` and skipped."""

    problems: list[str] = field(default_factory=list)
    _waits: dict[str, _Wait] = field(default_factory=dict, init=False)
    _paused: dict[tuple[str, str], tuple[datetime, str]] = field(default_factory=dict, init=False)
    _members: dict[tuple[str, str], datetime] = field(default_factory=dict, init=False)

    def feed(self, line: QueueLogLine) -> list[CallFact | ActivityFact]:
        try:
            return self._feed(line)
        except (CallStoreError, ValueError, TypeError, OverflowError) as exc:
            # a fact refused its values (a pause ending before it began, ...)
            self._problem(line, str(exc))
            return []

    def _problem(self, line: QueueLogLine, why: str) -> None:
        self.problems.append(f"{int(line.at.timestamp())}|{line.callid}|{line.event}: {why}")

    def _feed(self, line: QueueLogLine) -> list[CallFact | ActivityFact]:
        event = line.event
        if event == "ENTERQUEUE":
            if not _is_call(line.callid):
                self._problem(line, "ENTERQUEUE without a call id")
                return []
            self._waits[line.callid] = _Wait(line.callid, line.queue, line.at, line.integer(2))
            return []
        if event == "CONNECT":
            return self._connect(line)
        if event in _COMPLETED or event in _TRANSFERS:
            return self._complete(line)
        if event in _LEFT:
            return self._left(line)
        if event in {"PAUSE", "UNPAUSE"}:
            return self._pause(line)
        if event in {"ADDMEMBER", "REMOVEMEMBER"}:
            return self._member(line)
        return []

    def _wait(self, line: QueueLogLine) -> _Wait | None:
        if not _is_call(line.callid):
            self._problem(line, f"{line.event} without a call id")
            return None
        return self._waits.get(line.callid)

    def _fact(self, line: QueueLogLine, wait: _Wait | None, waited: float | None) -> CallFact:
        """The call's fact, arriving at its join (or the time less the wait, when the
        ENTERQUEUE line was not read)."""
        joined = wait.joined_at if wait is not None else None
        if joined is None and waited is not None:
            joined = line.at - timedelta(seconds=waited)
        return CallFact(
            linkedid=line.callid,
            at=joined or line.at,
            source=CallSource.QUEUE_LOG,
            caller_uniqueid=line.callid,
            queue=line.queue or None,
            queue_joined_at=joined,
            queue_position=wait.position if wait is not None else None,
            wait_s=waited,
        )

    def _connect(self, line: QueueLogLine) -> list[CallFact | ActivityFact]:
        wait = self._wait(line)
        if not _is_call(line.callid):
            return []
        waited, rang = line.number(0), line.number(2)
        answered = replace(
            self._fact(line, wait, waited),
            queue_outcome=QueueOutcome.ANSWERED,
            queue_left_at=line.at,
            ring_s=rang,
            answered_name=_member(line.agent),
        )
        return [answered]

    def _complete(self, line: QueueLogLine) -> list[CallFact | ActivityFact]:
        wait = self._wait(line)
        if not _is_call(line.callid):
            return []
        offset = 2 if line.event in _TRANSFERS else 0
        waited, talked = line.number(offset), line.number(offset + 1)
        fact = self._fact(line, wait, waited)
        by = _COMPLETED.get(line.event, "transfer")
        self._waits.pop(line.callid, None)
        return [
            replace(
                fact,
                queue_outcome=QueueOutcome.ANSWERED,
                talk_s=talked,
                completed_by=by,
                answered_name=_member(line.agent),
                ended_at=line.at if by != "transfer" else None,
            )
        ]

    def _left(self, line: QueueLogLine) -> list[CallFact | ActivityFact]:
        wait = self._wait(line)
        if not _is_call(line.callid):
            return []
        waited = line.number(2)
        if waited is None:
            self._problem(line, "no wait time")
        fact = self._fact(line, wait, waited)
        outcome = _LEFT[line.event]
        self._waits.pop(line.callid, None)
        return [
            replace(
                fact,
                queue_position=fact.queue_position or line.integer(1),
                queue_outcome=outcome,
                queue_left_at=line.at,
                ended_at=line.at if outcome is QueueOutcome.ABANDONED else None,
            )
        ]

    def _pause(self, line: QueueLogLine) -> list[CallFact | ActivityFact]:
        if line.agent in ("", _NONE):
            self._problem(line, f"{line.event} names no member")
            return []
        key = (line.queue, line.agent)
        reason = line.data[0] if line.data else ""
        if line.event == "PAUSE":
            self._paused.setdefault(key, (line.at, reason))  # paused again: same pause (2j)
            return []
        started = self._paused.pop(key, None)
        if started is None:
            return []  # the pause began before what was read
        return [
            ActivityFact(
                member=line.agent,
                state="paused",
                started_at=started[0],
                ended_at=line.at,
                reason=started[1][:200],
            )
        ]

    def _member(self, line: QueueLogLine) -> list[CallFact | ActivityFact]:
        if line.agent in ("", _NONE):
            self._problem(line, f"{line.event} names no member")
            return []
        key = (line.queue, line.agent)
        if line.event == "ADDMEMBER":
            self._members.setdefault(key, line.at)
            return []
        self._paused.pop(key, None)
        started = self._members.pop(key, None)
        if started is None:
            return []
        return [
            ActivityFact(member=line.agent, state="logged_in", started_at=started, ended_at=line.at)
        ]


def _member(agent: str) -> str | None:
    return None if agent in ("", _NONE) else agent


def _is_call(callid: str) -> bool:
    return bool(callid) and callid not in {_NONE, "MANAGER", "REALTIME"}


# ---- following the file -----------------------------------------------------------------


@dataclass(frozen=True)
class QueueLogPosition:
    """Where a follower stopped: the file (device, inode), the offset after the last
    complete line read, and the file's first bytes then (an in-place rewrite changes
    them)."""

    device: int
    inode: int
    offset: int
    head: bytes


@dataclass(frozen=True)
class QueueLogRead:
    """One read: the lines, how many could not be read, and whether the file was found
    replaced or rewritten (and so read again from its start)."""

    lines: tuple[QueueLogLine, ...]
    bad_lines: tuple[str, ...]
    restarted: bool
    position: QueueLogPosition | None


class QueueLogFollower:
    """The complete lines of ``path`` appended since the last :meth:`read`.

    ``position`` (from a previous follower) resumes there when it is still the same
    file. The file may be missing (Asterisk has not written it yet): nothing is read.
    """

    def __init__(self, path: Path, position: QueueLogPosition | None = None) -> None:
        self.path = path
        self.position = position
        self._fh: IO[bytes] | None = None

    def __enter__(self) -> QueueLogFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def seek_time(self, not_before: datetime) -> None:
        """Start (or go back) to the first line at or after ``not_before``, found by a
        binary search on the epoch field (lines are appended in time order)."""
        self.close()
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            self.position = None
            return
        st = os.fstat(fh.fileno())
        offset = _seek(fh, st.st_size, int(not_before.timestamp()))
        self._fh = fh
        self.position = QueueLogPosition(st.st_dev, st.st_ino, offset, _head(fh))

    def read(self) -> QueueLogRead:
        lines: list[QueueLogLine] = []
        bad: list[str] = []
        restarted = False
        if self._fh is None:
            self._open()
        replaced = self._replaced() if self._fh is not None else None
        if replaced is not None:
            if replaced == "other file":
                # what was appended to the old file before it was replaced, then the new one
                self._drain(lines, bad)
            self.close()
            self.position = None
            restarted = True
            self._open()
        if self._fh is not None and self.position is not None:
            self._drain(lines, bad)
        return QueueLogRead(tuple(lines), tuple(bad), restarted, self.position)

    def _open(self) -> None:
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return
        st = os.fstat(fh.fileno())
        known = self.position
        same = known is not None and (known.device, known.inode) == (st.st_dev, st.st_ino)
        if known is None or not same or st.st_size < known.offset or _head(fh) != known.head:
            known = QueueLogPosition(st.st_dev, st.st_ino, 0, b"")
        self._fh = fh
        self.position = known

    def _replaced(self) -> str | None:
        """``"other file"`` when the path is now another file (renamed over, rotated),
        ``"rewritten"`` when this one was cut shorter or rewritten in place, else None."""
        if self._fh is None or self.position is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None  # rotated away, not yet created again: keep reading the old one
        if (st.st_dev, st.st_ino) != (self.position.device, self.position.inode):
            return "other file"
        if st.st_size < self.position.offset:
            return "rewritten"
        head = _head(self._fh)
        if self.position.head and head and head != self.position.head:
            return "rewritten"
        return None

    def _drain(self, lines: list[QueueLogLine], bad: list[str]) -> None:
        if self._fh is None or self.position is None:
            return
        fh = self._fh
        fh.seek(self.position.offset)
        offset = self.position.offset
        for raw in iter(lambda: fh.readline(_MAX_LINE), b""):
            if not raw.endswith(b"\n") and len(raw) < _MAX_LINE:
                break  # still being written: read next time
            offset += len(raw)
            text = raw.decode("utf-8", errors="replace")
            if not text.strip():
                continue
            try:
                lines.append(parse_line(text))
            except QueueLogError as exc:
                bad.append(f"{text.strip()[:120]!r}: {exc}")
                log.warning("queue_log line skipped: %s", exc)
        head = self.position.head or _head(fh)
        self.position = QueueLogPosition(self.position.device, self.position.inode, offset, head)


def _head(fh: IO[bytes]) -> bytes:
    """The file's first line (at most ``_HEAD`` bytes), complete lines only."""
    where = fh.tell()
    fh.seek(0)
    first = fh.readline(_HEAD)
    fh.seek(where)
    return first if first.endswith(b"\n") else b""


def _epoch_at(fh: IO[bytes], pos: int) -> tuple[int, int] | None:
    """Offset and epoch of the first readable line starting after ``pos``."""
    fh.seek(pos)
    if pos > 0:
        fh.readline(_MAX_LINE)
    for _ in range(64):
        start = fh.tell()
        raw = fh.readline(_MAX_LINE)
        if not raw.endswith(b"\n"):
            return None
        head = raw.split(b"|", 1)[0]
        if head.isdigit():
            return start, int(head)
    return None


def _seek(fh: IO[bytes], size: int, not_before: int) -> int:
    lo, hi = 0, size
    while hi - lo > 8192:
        mid = (lo + hi) // 2
        found = _epoch_at(fh, mid)
        if found is None or found[1] >= not_before:
            hi = mid
        else:
            lo = found[0]
    found = _epoch_at(fh, lo) if lo else None
    return found[0] if found is not None else 0


def read_lines(texts: Iterable[str]) -> Iterator[QueueLogLine | QueueLogError]:
    """Each line parsed, or the error that says why it could not be (for tests and
    one-shot reads)."""
    for text in texts:
        if not text.strip():
            continue
        try:
            yield parse_line(text)
        except QueueLogError as exc:
            yield exc
