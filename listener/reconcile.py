"""Record the transfers that CEL holds and the database does not (``ivr211 reconcile``,
and the listener after a reconnect).

The listener loses events while its AMI link is down; Asterisk keeps writing CEL to
``/var/log/asterisk/cel-custom/Master.csv`` on the PBX host. This command reads that
file (streaming: a year of CEL is hundreds of megabytes), concludes the facts with
`listener.cel`, and inserts those whose key is missing through
`store.transfers.record_facts` (INSERT ... ON CONFLICT DO NOTHING): running it twice,
or on a transfer the listener did record, adds nothing.

Asterisk may be writing the last line while we read: a final line without its newline
is left for the next run, never an error. With ``since``, the file is entered by a
binary search on ``eventtime`` (rows are appended in time order), ``lookback`` before
``since`` so a consultation dialled before it is still understood, and only facts that
ended at or after ``since`` are kept.

The same pass reads the calls themselves (`listener.celcalls`: the caller channel's life
and the dialplan's ``IVR211_CALL`` events) and merges them into the call records
(`store.calls.record_calls`). :func:`reconcile_queue_log` then completes them from
app_queue's queue_log (`listener.queuelog`: waits, answers, abandons) and fills the
navigators' pauses the listener missed; CEL is read first, so that a wait CEL knows was
cut to the closing time is not stored as a plain timeout from queue_log.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session

from ivr.settings import LineSettings
from ivr.times import require_utc
from listener.cel import DEFAULT_NOANSWER_TIMEOUT_S, CelInterpreter
from listener.celcalls import DEFAULT_CALL_CONTEXTS, CelCallInterpreter
from listener.celrows import COLUMNS, CelError, CelRow, header_columns, parse_row
from listener.queuelog import QueueLogFollower, QueueLogInterpreter
from store.activitygaps import record_activity_gaps
from store.calls import ActivityFact, CallFact, record_calls
from store.facts import TransferFact
from store.transfers import record_facts

__all__ = [
    "DEFAULT_CEL_PATH",
    "DEFAULT_FEATURES_PATH",
    "DEFAULT_QUEUE_LOG_PATH",
    "QueueLogReport",
    "ReconcileError",
    "ReconcileReport",
    "destination_resolver",
    "noanswer_timeout_from_features",
    "reconcile",
    "reconcile_queue_log",
]

DEFAULT_CEL_PATH = Path("/var/log/asterisk/cel-custom/Master.csv")
DEFAULT_FEATURES_PATH = Path("/etc/asterisk/features.conf")
DEFAULT_QUEUE_LOG_PATH = Path("/var/log/asterisk/queue_log")
DEFAULT_LOOKBACK = timedelta(hours=4)
_SEEK_WINDOW = 64 * 1024
_PROBE_LINES = 64
_MAX_RECORD_LINES = 3

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]
Resolver = Callable[[str, str], str | None]


class ReconcileError(Exception):
    """The CEL file or an option cannot be used (missing file, unknown time zone, ...)."""


@dataclass(frozen=True)
class ReconcileReport:
    """What one run read and wrote. ``already`` = facts found that were recorded before."""

    path: Path
    since: datetime | None
    start_offset: int
    rows: int
    bad_lines: int
    partial_last_line: bool
    facts: int
    inserted: int
    #: Calls whose record CEL created or completed.
    calls: int = 0
    #: IVR211_CALL events that could not be read (skipped).
    bad_call_events: int = 0

    @property
    def already(self) -> int:
        return self.facts - self.inserted


@dataclass(frozen=True)
class QueueLogReport:
    """What one queue_log pass read and wrote. ``restarted``: the file had been
    rewritten or replaced since the last pass, and was read again from its start."""

    path: Path
    since: datetime | None
    lines: int
    bad_lines: int
    problems: int
    restarted: bool
    calls: int
    intervals: int


class _Lines:
    """Complete CSV records of a binary file from ``offset``, with byte offsets.

    A record ends at a newline outside quotes (cel_custom's ``CSV_QUOTE`` does not
    escape newlines, so a caller name could hold one), but a line cut by a crash is
    not allowed to swallow the rows after it: past three lines the record is returned
    as it is (and counted as unreadable). Whatever follows the last
    newline is a record still being written: counted in ``partial``, not returned.
    """

    def __init__(self, fh: IO[bytes], offset: int) -> None:
        self._fh = fh
        self._fh.seek(offset)
        self.partial = False

    def __iter__(self) -> Iterator[str]:
        pending = b""
        for line in self._fh:
            pending += line
            if not pending.endswith(b"\n"):
                continue
            if pending.count(b'"') % 2 and pending.count(b"\n") < _MAX_RECORD_LINES:
                continue
            yield pending.decode("utf-8", errors="replace")
            pending = b""
        self.partial = bool(pending)


def _fields(record: str) -> list[str] | None:
    try:
        return next(csv.reader([record]), None)
    except csv.Error:
        return None


def _columns(fh: IO[bytes]) -> tuple[tuple[str, ...], int]:
    """The column names and the offset of the first data line (after a header line)."""
    fh.seek(0)
    first = fh.readline()
    fields = _fields(first.decode("utf-8", errors="replace")) if first.endswith(b"\n") else None
    named = header_columns(fields) if fields else None
    return (named, len(first)) if named else (COLUMNS, 0)


def _probe(
    fh: IO[bytes], pos: int, floor: int, columns: tuple[str, ...], tz: tzinfo
) -> tuple[int, datetime] | None:
    """Offset and time of the first readable row starting after ``pos``."""
    fh.seek(pos)
    if pos > floor:
        fh.readline()
    for _ in range(_PROBE_LINES):
        start = fh.tell()
        line = fh.readline()
        if not line.endswith(b"\n"):
            return None
        fields = _fields(line.decode("utf-8", errors="replace"))
        if fields is None:
            continue
        try:
            return start, parse_row(fields, tz, columns).eventtime
        except CelError:
            continue
    return None


def _seek(
    fh: IO[bytes], floor: int, size: int, not_before: datetime, columns: tuple[str, ...], tz: tzinfo
) -> int:
    """A line offset at or before the first row with ``eventtime >= not_before``."""
    lo, hi = floor, size
    while hi - lo > _SEEK_WINDOW:
        mid = (lo + hi) // 2
        found = _probe(fh, mid, floor, columns, tz)
        if found is None or found[1] >= not_before:
            hi = mid
        else:
            lo = found[0]
    if lo == floor:
        return floor
    found = _probe(fh, lo, floor, columns, tz)
    return found[0] if found is not None else floor


def reconcile(
    csv_path: Path,
    session_factory: SessionFactory,
    resolve_destination: Resolver,
    since: datetime | None,
    *,
    tz: tzinfo,
    noanswer_timeout_s: float = DEFAULT_NOANSWER_TIMEOUT_S,
    transfer_contexts: Collection[str] | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    call_contexts: Collection[str] | None = DEFAULT_CALL_CONTEXTS,
) -> ReconcileReport:
    """Read ``csv_path`` and insert the facts whose key is not recorded yet.

    ``tz`` is the PBX host's zone, for rows whose ``eventtime`` has no offset (written
    while cel.conf had a ``dateformat``; epoch rows need none). ``since`` must be aware.
    The calls of the line (their caller channel in one of ``call_contexts``; None: no
    call records) are merged into the call records in the same transaction.
    """
    if since is not None:
        try:
            since = require_utc(since, "since")
        except ValueError as exc:
            raise ReconcileError(str(exc)) from None
    interpreter = CelInterpreter(resolve_destination, transfer_contexts, noanswer_timeout_s)
    calls = CelCallInterpreter(call_contexts) if call_contexts is not None else None
    found: dict[str, TransferFact] = {}
    rows = bad = 0
    try:
        fh = csv_path.open("rb")
    except OSError as exc:
        raise ReconcileError(f"cannot read {csv_path}: {exc.strerror}") from exc
    with fh:
        columns, floor = _columns(fh)
        size = csv_path.stat().st_size
        offset = floor
        if since is not None:
            offset = _seek(fh, floor, size, since - lookback, columns, tz)
        lines = _Lines(fh, offset)
        for record in lines:
            fields = _fields(record)
            row: CelRow | None = None
            if fields:
                try:
                    row = parse_row(fields, tz, columns)
                except CelError as exc:
                    log.debug("CEL line skipped: %s", exc)
            if row is None:
                bad += 1
                continue
            rows += 1
            if calls is not None:
                calls.feed(row)
            for fact in interpreter.feed(row):
                found.setdefault(fact.key, fact)
        for fact in interpreter.finish():
            found.setdefault(fact.key, fact)
    if since is not None:
        found = {
            key: fact for key, fact in found.items() if (fact.ended_at or fact.started_at) >= since
        }
    call_facts = [] if calls is None else calls.facts()
    if since is not None:
        call_facts = [f for f in call_facts if f.ended_at is None or f.ended_at >= since]
    inserted = written = 0
    if found or call_facts:
        with session_factory() as session, session.begin():
            if found:
                inserted = record_facts(session, found.values())
            written = record_calls(session, call_facts)
    report = ReconcileReport(
        path=csv_path,
        since=since,
        start_offset=offset,
        rows=rows,
        bad_lines=bad,
        partial_last_line=lines.partial,
        facts=len(found),
        inserted=inserted,
        calls=written,
        bad_call_events=0 if calls is None else len(calls.problems),
    )
    log.info(
        "reconcile %s: %d rows, %d facts, %d new, %d calls, %d bad lines%s",
        csv_path,
        rows,
        len(found),
        inserted,
        written,
        bad,
        ", last line still being written" if lines.partial else "",
    )
    return report


def reconcile_queue_log(
    path: Path,
    session_factory: SessionFactory,
    since: datetime | None,
    *,
    follower: QueueLogFollower | None = None,
    interpreter: QueueLogInterpreter | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> QueueLogReport:
    """Merge what queue_log says of the calls into their records, and write the
    navigators' pauses and logins the live record misses (`store.activitygaps`).

    Without a ``follower`` the file is read once, from ``lookback`` before ``since``
    (binary search on the epoch field) or whole. A ``follower`` (and ``interpreter``)
    kept from one pass to the next reads only the lines appended since, and the whole
    file again when the retention job has rewritten it (harmless: the facts merge).
    A missing file is an error for a one-off read, nothing to read for a follower.
    """
    if since is not None:
        try:
            since = require_utc(since, "since")
        except ValueError as exc:
            raise ReconcileError(str(exc)) from None
    own = follower is None
    if follower is None:
        if not path.is_file():
            raise ReconcileError(f"cannot read {path}: no such file")
        follower = QueueLogFollower(path)
        if since is not None:
            follower.seek_time(since - lookback)
    reader = interpreter or QueueLogInterpreter()
    try:
        read = follower.read()
    except OSError as exc:
        raise ReconcileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    finally:
        if own:
            follower.close()
    before = len(reader.problems)
    calls: list[CallFact] = []
    intervals: list[ActivityFact] = []
    for line in read.lines:
        for fact in reader.feed(line):
            if isinstance(fact, CallFact):
                calls.append(fact)
            else:
                intervals.append(fact)
    if since is not None:
        # every fact of a call that went on at or after since (its CONNECT may be older)
        recent = {f.linkedid for f in calls if (f.queue_left_at or f.ended_at or f.at) >= since}
        calls = [f for f in calls if f.linkedid in recent]
        intervals = [f for f in intervals if f.ended_at >= since]
    written = new = 0
    if calls or intervals:
        with session_factory() as session, session.begin():
            written = record_calls(session, calls)
            new = record_activity_gaps(session, intervals)
    report = QueueLogReport(
        path=path,
        since=since,
        lines=len(read.lines),
        bad_lines=len(read.bad_lines),
        problems=len(reader.problems) - before,
        restarted=read.restarted,
        calls=written,
        intervals=new,
    )
    log.info(
        "queue_log %s: %d lines, %d calls, %d new intervals, %d bad lines%s",
        path,
        report.lines,
        written,
        new,
        report.bad_lines + report.problems,
        ", read again from its start (rewritten or replaced)" if read.restarted else "",
    )
    return report


# ---- what the command reads beside the CEL file ---------------------------------------

_FEATURE_LINE = re.compile(r"^\s*atxfernoanswertimeout\s*=>?\s*(\d+)\s*(?:;.*)?$")
_SECTION_LINE = re.compile(r"^\s*\[(?P<name>[^\]]+)\]")


def noanswer_timeout_from_features(path: Path) -> float | None:
    """``atxfernoanswertimeout`` of ``[general]`` in features.conf, None when absent."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    section = ""
    for line in text.splitlines():
        header = _SECTION_LINE.match(line)
        if header:
            section = header["name"].strip()
            continue
        match = _FEATURE_LINE.match(line)
        if match and section == "general":
            return float(match[1])
    return None


def destination_resolver(settings: LineSettings, transfer_context: str) -> Resolver:
    """``(exten, context) -> key``: a seed short code dialled in the transfer context."""
    by_code = {dest.short_code: dest.key for dest in settings.destinations}

    def resolve(exten: str, context: str) -> str | None:
        return by_code.get(exten) if context == transfer_context else None

    return resolve
