"""The listener's durable spool: facts as JSON lines in a file, fsync'ed on every append.

:class:`listener.writer.RecordWriter` appends to it whatever the database cannot take
now and replays it once the database is back; a line cut short by a crash is reported,
never fatal (:func:`parse_spool`). Each fact is one line of lossless JSON
(:func:`fact_to_json`, :func:`fact_from_json`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from store.facts import Kind, Outcome, Source, TransferFact
from store.files import fsync_dir

__all__ = [
    "Spool",
    "SpoolFormatError",
    "WriterError",
    "fact_from_json",
    "fact_to_json",
    "parse_spool",
]

_DATETIME_FIELDS = frozenset({"started_at", "ended_at"})
_FACT_FIELDS = tuple(f.name for f in dataclasses.fields(TransferFact))


class WriterError(Exception):
    """The record writer cannot work as asked."""


class SpoolFormatError(WriterError, ValueError):
    """A spool line is not a fact this code can read."""


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
    """An append-only file of JSON facts, one per line, shared by threads under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected_path = path.with_name(path.name + ".rejected")
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, facts: Sequence[TransferFact]) -> None:
        if not facts:
            return
        data = "".join(fact_to_json(f) + "\n" for f in facts).encode()
        with self._lock:
            self._append_bytes(self.path, data)

    def reject(self, entries: Sequence[tuple[str, str]]) -> None:
        """Keep (line, error) pairs the database refused for good, for a person to see."""
        data = "".join(
            json.dumps({"error": error, "line": line}, ensure_ascii=False) + "\n"
            for line, error in entries
        ).encode()
        with self._lock:
            self._append_bytes(self.rejected_path, data)

    @staticmethod
    def _append_bytes(path: Path, data: bytes) -> None:
        new = not path.exists()
        with path.open("ab") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
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


def parse_spool(data: bytes) -> tuple[list[TransferFact], list[tuple[str, str]]]:
    """The facts in a spool snapshot, and the (line, error) pairs that are not facts
    (a line cut short by a crash during an append, for one)."""
    facts: list[TransferFact] = []
    bad: list[tuple[str, str]] = []
    for raw in data.splitlines():
        if not raw.strip():
            continue
        line = raw.decode("utf-8", errors="replace")
        try:
            facts.append(fact_from_json(raw))
        except SpoolFormatError as exc:
            bad.append((line, str(exc)))
    return facts, bad
