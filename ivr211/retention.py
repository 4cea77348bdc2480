"""Retention of personal data, and the export of one caller's data (Loi 25, P-39.1).

``ivr211 retention run`` (schedule it daily) purges what has outlived its period
([retention] in the configuration):

* research messages received more than the line setting
  ``research_consent.retention_days`` ago (the period the consent notice tells callers,
  so the two cannot disagree): the audio file is removed
  first, then the row becomes a tombstone (personal fields and notes emptied,
  ``deleted_at`` set; ``msg_id`` stays so the ingester never takes it twice). A crash
  between the two leaves a row whose audio is already gone, which the next run finishes;
* caller numbers of transfer records that started more than ``transfer_numbers_days`` ago
  (set to NULL; the records stay for the annual report);
* lines of Asterisk's CDR CSV (cdr_csv, ``start`` column), CEL CSV (cel_custom,
  ``eventtime``), queue_log (epoch first field, ``1795878642|fA-78443-caller|navigators|
  NONE|ENTERQUEUE||5145550123|1``) and our own log files (``2026-11-28 15:07:23,120 INFO
  ...``; continuation lines go with the line above) older than their period. A file is
  rewritten atomically (a temporary file beside it, fsync, rename) keeping the newer
  lines; lines appended while it was rewritten are carried over. A line whose time cannot
  be read is kept and reported, never guessed at.

Every purge writes one audit row (user "system", action "purge"); a dry run counts and
writes nothing. ``ivr211 privacy export --number N`` gives one caller's data as JSON
(messages' metadata and notes, transfer records with that number) and is audited too.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from glob import glob
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, inspect, select, update
from sqlalchemy.orm import Session

from ivr211.config import Config
from store.files import fsync_dir
from store.linesettings import SettingsStore
from store.models import TransferRecord
from store.voicemail import VoiceMessage, VoiceNote, audit

__all__ = [
    "FILE_KINDS",
    "FilePurge",
    "RetentionError",
    "RetentionReport",
    "export_caller",
    "purge_file",
    "run_retention",
    "same_number",
]

SYSTEM_USER = "system"
SYSTEM_ROLE = "system"
FILE_KINDS = ("cdr", "cel", "queue_log", "log")
_CDR_START = 9  # cdr_csv's default columns: accountcode,src,dst,dcontext,clid,...,start
_CEL_EVENTTIME = 1  # asterisk_conf/cel_custom.conf: eventtype,eventtime,...
_LOCAL_TIME = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_EPOCH = re.compile(r"^\d+(\.\d+)?$")


class RetentionError(Exception):
    """A purge could not be done as configured."""


@dataclass(frozen=True)
class FilePurge:
    """What one file held: lines removed, kept, and kept because unreadable."""

    path: Path
    kind: str
    removed: int
    kept: int
    unreadable: int


@dataclass
class RetentionReport:
    dry_run: bool
    messages: list[str] = field(default_factory=list)
    transfer_numbers: int = 0
    files: list[FilePurge] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would purge" if self.dry_run else "purged"
        out = [
            f"messages: {verb} {len(self.messages)}",
            f"transfer records: {verb} the caller number of {self.transfer_numbers}",
        ]
        out += [
            f"{f.kind} {f.path}: {verb} {f.removed} lines, kept {f.kept}"
            + (f" ({f.unreadable} without a readable time)" if f.unreadable else "")
            for f in self.files
        ]
        out += [f"problem: {p}" for p in self.problems]
        return out


# ---- the job ---------------------------------------------------------------------------


def run_retention(
    engine: Engine,
    config: Config,
    now: datetime,
    *,
    dry_run: bool = False,
    run: Callable[[Sequence[str]], object] | None = None,
) -> RetentionReport:
    """Purge everything past its period at ``now`` (aware). ``run`` executes
    ``after_rewrite_command`` (default: subprocess.run, checked)."""
    cfg = config.retention
    report = RetentionReport(dry_run)
    zone = config.pbx.zone
    message_days = SettingsStore(engine).load().research_consent.retention_days
    with Session(engine) as session:
        report.messages = _purge_messages(
            session,
            config.voicemail.storage_dir,
            now - timedelta(days=message_days),
            now,
            message_days,
            dry_run,
        )
        report.transfer_numbers = _purge_transfer_numbers(
            session, now - timedelta(days=cfg.transfer_numbers_days), now, dry_run
        )
    rewritten = False
    for kind, paths, days in (
        ("cdr", cfg.cdr_paths, cfg.cdr_days),
        ("cel", cfg.cel_paths, cfg.cel_days),
        ("queue_log", cfg.queue_log_paths, cfg.queue_log_days),
        ("log", cfg.log_paths, cfg.logs_days),
    ):
        cutoff = now - timedelta(days=days)
        for path in _expand(paths):
            try:
                result = purge_file(path, kind, cutoff, zone, dry_run=dry_run)
            except OSError as exc:
                report.problems.append(f"{kind} {path}: {exc.strerror or exc}")
                continue
            report.files.append(result)
            if result.unreadable:
                report.problems.append(
                    f"{kind} {path}: {result.unreadable} lines without a readable time kept"
                )
            if result.removed and not dry_run:
                rewritten = rewritten or kind != "log"
                with Session(engine) as session, session.begin():
                    audit(
                        session,
                        SYSTEM_USER,
                        SYSTEM_ROLE,
                        "purge",
                        f"file:{path}",
                        f"{kind}: {result.removed} lines before {cutoff:%Y-%m-%d %H:%M} UTC"
                        f" removed, {result.kept} kept (retention {days} days)",
                        at=now,
                    )
    if rewritten and cfg.after_rewrite_command:
        runner = run or (lambda argv: subprocess.run(argv, check=True, capture_output=True))
        try:
            runner(list(cfg.after_rewrite_command))
        except (OSError, subprocess.CalledProcessError) as exc:
            report.problems.append(f"after_rewrite_command failed: {exc}")
    return report


def _expand(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        text = str(path)
        if any(ch in text for ch in "*?["):
            out += [Path(p) for p in sorted(glob(text))]
        elif path.exists():
            out.append(path)
    return out


def _purge_messages(
    session: Session,
    storage_dir: Path,
    cutoff: datetime,
    now: datetime,
    days: int,
    dry_run: bool,
) -> list[str]:
    due = list(
        session.scalars(
            select(VoiceMessage)
            .where(VoiceMessage.deleted_at.is_(None), VoiceMessage.received_at < cutoff)
            .order_by(VoiceMessage.received_at)
        )
    )
    if dry_run:
        return [m.msg_id for m in due]
    purged = []
    for message in due:
        if message.audio_path:
            (storage_dir / message.audio_path).unlink(missing_ok=True)
        received = message.received_at
        message.caller_name = None
        message.caller_number = None
        message.callback_number = None
        message.audio_path = None
        message.deleted_at = now
        session.execute(delete(VoiceNote).where(VoiceNote.message_id == message.id))
        audit(
            session,
            SYSTEM_USER,
            SYSTEM_ROLE,
            "purge",
            f"voice_message:{message.id}",
            f"retention {days} days: received {received:%Y-%m-%d}; audio, numbers and notes"
            " removed",
            at=now,
        )
        session.commit()
        purged.append(message.msg_id)
    return purged


def _purge_transfer_numbers(
    session: Session, cutoff: datetime, now: datetime, dry_run: bool
) -> int:
    due = (TransferRecord.caller_number.is_not(None), TransferRecord.started_at < cutoff)
    ids = list(session.scalars(select(TransferRecord.id).where(*due)))
    if dry_run or not ids:
        return len(ids)
    session.execute(
        update(TransferRecord).where(TransferRecord.id.in_(ids)).values(caller_number=None)
    )
    audit(
        session,
        SYSTEM_USER,
        SYSTEM_ROLE,
        "purge",
        "transfer_records",
        f"caller_number emptied on {len(ids)} records started before {cutoff:%Y-%m-%d %H:%M} UTC",
        at=now,
    )
    session.commit()
    return len(ids)


# ---- files -----------------------------------------------------------------------------


def _local(text: str, zone: tzinfo) -> datetime:
    value = text.strip()
    if _EPOCH.match(value):
        return datetime.fromtimestamp(float(value), UTC)
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in value else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(value, fmt).replace(tzinfo=zone).astimezone(UTC)


def _line_time(kind: str, line: bytes, zone: tzinfo) -> datetime | None:
    """The time a line was written, or None when it has none we can read."""
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    try:
        if kind == "queue_log":
            return datetime.fromtimestamp(int(text.split("|", 1)[0]), UTC)
        if kind == "log":
            match = _LOCAL_TIME.match(line)
            return _local(match.group(1).decode(), zone) if match else None
        column = _CDR_START if kind == "cdr" else _CEL_EVENTTIME
        row = next(csv.reader([text]))
        return _local(row[column], zone)
    except (ValueError, IndexError, StopIteration, OverflowError):
        return None


def purge_file(
    path: Path, kind: str, cutoff: datetime, zone: tzinfo, *, dry_run: bool = False
) -> FilePurge:
    """Rewrite ``path`` without its lines older than ``cutoff``."""
    if kind not in FILE_KINDS:
        raise RetentionError(f"unknown file kind {kind!r}")
    data = path.read_bytes()
    kept: list[bytes] = []
    removed = unreadable = 0
    keep_previous = True
    for line in data.splitlines(keepends=True):
        when = _line_time(kind, line, zone)
        if when is None:
            if kind == "log":
                keep = keep_previous
            else:
                keep = True
                unreadable += line.strip() != b""
        else:
            keep = when >= cutoff
        keep_previous = keep
        if keep:
            kept.append(line)
        else:
            removed += 1
    result = FilePurge(path, kind, removed, len(kept), unreadable)
    if dry_run or removed == 0:
        return result
    _replace(path, b"".join(kept), len(data))
    return result


def _replace(path: Path, content: bytes, read_size: int) -> None:
    tmp = path.with_name(f".{path.name}.retention-tmp")
    st = path.stat()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, st.st_mode & 0o7777)
    replaced = False
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            with path.open("rb") as original:
                original.seek(read_size)
                out.write(original.read())
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
        replaced = True
    finally:
        if not replaced:
            tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


# ---- export ----------------------------------------------------------------------------


def _digits(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def same_number(a: str | None, b: str) -> bool:
    """``+1 418-555-0100``, ``14185550100`` and ``4185550100`` are one number."""
    return a is not None and bool(_digits(b)) and _digits(a) == _digits(b)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _columns(row: Any, skip: Sequence[str] = ()) -> dict[str, Any]:
    return {
        attr.key: _plain(getattr(row, attr.key))
        for attr in inspect(type(row)).column_attrs
        if attr.key not in skip
    }


def export_caller(
    engine: Engine, number: str, *, user: str, role: str = "cli", now: datetime
) -> dict[str, Any]:
    """Everything we hold about the caller of ``number``, as plain JSON-able data.

    Messages give their metadata and notes (the audio file's name and checksum, not the
    audio); transfer records give every column. One audit row records the export with
    the number masked to its last four digits.
    """
    if not _digits(number):
        raise RetentionError(f"not a phone number: {number!r}")
    with Session(engine) as session:
        messages = [
            m
            for m in session.scalars(select(VoiceMessage).order_by(VoiceMessage.received_at))
            if same_number(m.caller_number, number) or same_number(m.callback_number, number)
        ]
        transfers = [
            t
            for t in session.scalars(
                select(TransferRecord)
                .where(TransferRecord.caller_number.is_not(None))
                .order_by(TransferRecord.started_at)
            )
            if same_number(t.caller_number, number)
        ]
        data: dict[str, Any] = {
            "exported_at": _plain(now),
            "number": number,
            "voice_messages": [
                {
                    **_columns(m),
                    "notes": [
                        {"author": n.author, "at": _plain(n.at), "text": n.text} for n in m.notes
                    ],
                }
                for m in messages
            ],
            "transfer_records": [_columns(t, skip=("key",)) for t in transfers],
        }
        audit(
            session,
            user,
            role,
            "export",
            f"caller:…{_digits(number)[-4:]}",
            f"{len(messages)} messages, {len(transfers)} transfer records",
            at=now,
        )
        session.commit()
    return data
