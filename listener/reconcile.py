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
from listener.cel import (
    COLUMNS,
    DEFAULT_NOANSWER_TIMEOUT_S,
    CelError,
    CelInterpreter,
    CelRow,
    header_columns,
    parse_row,
)
from store.facts import TransferFact
from store.transfers import record_facts

__all__ = [
    "DEFAULT_CEL_PATH",
    "DEFAULT_FEATURES_PATH",
    "ReconcileError",
    "ReconcileReport",
    "destination_resolver",
    "noanswer_timeout_from_features",
    "reconcile",
]

DEFAULT_CEL_PATH = Path("/var/log/asterisk/cel-custom/Master.csv")
DEFAULT_FEATURES_PATH = Path("/etc/asterisk/features.conf")
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

    @property
    def already(self) -> int:
        return self.facts - self.inserted


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
) -> ReconcileReport:
    """Read ``csv_path`` and insert the facts whose key is not recorded yet.

    ``tz`` is the PBX host's zone, for rows whose ``eventtime`` has no offset (written
    while cel.conf had a ``dateformat``; epoch rows need none). ``since`` must be aware.
    """
    if since is not None:
        try:
            since = require_utc(since, "since")
        except ValueError as exc:
            raise ReconcileError(str(exc)) from None
    interpreter = CelInterpreter(resolve_destination, transfer_contexts, noanswer_timeout_s)
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
            for fact in interpreter.feed(row):
                found.setdefault(fact.key, fact)
        for fact in interpreter.finish():
            found.setdefault(fact.key, fact)
    if since is not None:
        found = {
            key: fact for key, fact in found.items() if (fact.ended_at or fact.started_at) >= since
        }
    inserted = 0
    if found:
        with session_factory() as session, session.begin():
            inserted = record_facts(session, found.values())
    report = ReconcileReport(
        path=csv_path,
        since=since,
        start_offset=offset,
        rows=rows,
        bad_lines=bad,
        partial_last_line=lines.partial,
        facts=len(found),
        inserted=inserted,
    )
    log.info(
        "reconcile %s: %d rows, %d facts, %d new, %d bad lines%s",
        csv_path,
        rows,
        len(found),
        inserted,
        bad,
        ", last line still being written" if lines.partial else "",
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
