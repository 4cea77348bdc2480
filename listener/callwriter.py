"""The call writer: call and activity facts to the database, never lost, never doubled.

It is a :class:`~listener.writer.SpoolWriter`, as the transfer facts'
:class:`~listener.writer.RecordWriter` is: :meth:`CallWriter.submit` only puts the facts
on a bounded queue (the event loop never waits on the database); one daemon thread writes
each batch through ``store.calls.record_calls`` and ``record_activity`` in one
transaction. When the database is unavailable the batch goes to its own spool file
(``<spool>.calls`` beside the transfer spool, under the same lock: one listener per
spool), one JSON line per fact that says its kind (:data:`CALL_LINES`)::

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
import json
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Unpack

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from listener.spool import LineCodec, SpoolFormatError
from listener.writer import SpoolWriter, WriterOptions
from store.calls import (
    ActivityFact,
    CallFact,
    CallSource,
    CallStoreError,
    QueueOutcome,
    record_activity,
    record_calls,
)

__all__ = ["CALL_LINES", "CallWriter", "Fact", "fact_from_line", "fact_to_line", "spool_path_for"]

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


def _record(session: Session, facts: Sequence[Fact]) -> int:
    """Both kinds of a batch in the session's transaction; counts every fact."""
    record_calls(session, [f for f in facts if isinstance(f, CallFact)])
    record_activity(session, [f for f in facts if isinstance(f, ActivityFact)])
    return len(facts)


def _label(fact: Fact) -> str:
    return fact.linkedid if isinstance(fact, CallFact) else fact.key


#: A call or activity fact's line (no repair of lines glued by older appends: the call
#: spool was always appended to on a fresh line).
CALL_LINES: LineCodec[Fact] = LineCodec(encode=fact_to_line, decode=fact_from_line, label=_label)


class CallWriter(SpoolWriter[Fact]):
    """Writes call and activity facts from a daemon thread, replaying its spool first;
    its counts are the facts written, 500 at most per transaction by default."""

    def __init__(self, engine: Engine, spool_path: Path, **options: Unpack[WriterOptions]) -> None:
        options.setdefault("batch_size", 500)
        super().__init__(engine, spool_path, _record, CALL_LINES, name="call writer", **options)
