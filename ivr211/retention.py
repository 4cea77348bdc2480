"""Retention of personal data, and the export of one caller's data (Loi 25, P-39.1).

``ivr211 retention run`` (schedule it daily) purges what has outlived its period
([retention] in the configuration):

* research messages received more than the line setting
  ``research_consent.retention_days`` ago (the period the consent notice tells callers,
  so the two cannot disagree): the audio file is removed
  first, then the row becomes a tombstone (personal fields and notes emptied,
  ``deleted_at`` set; ``msg_id`` stays so the ingester never takes it twice). A crash
  between the two leaves a row whose audio is already gone, which the next run finishes.
  When the storage folder is not there (an unmounted disk) or an audio file cannot be
  removed, the message stays as it is, reported, for the next run;
* messages the ingester moved aside (``[voicemail] quarantine_dir``) longer ago than the
  same period: their folder, audio included, is removed;
* caller numbers of transfer records that started, and of call records of calls that
  arrived, more than ``transfer_numbers_days`` ago (set to NULL; the records stay for the
  reports);
* the state of calls carried by Twilio (``store.twilio_calls``: the caller's number, the
  callback number typed) once the call ended more than ``[twilio] state_days`` ago, but
  not while a research message of the call is still on Twilio: when ``[twilio]
  enabled``, those messages are first taken into the inbox again
  (``twilio_line.recordings``: a download, check or write that failed);
  and, when ``[twilio] enabled``, what Twilio keeps (``twilio_line.cloud``): the logs of
  calls that ended more than ``transfer_numbers_days`` ago, and recordings older than the
  research messages' period;
* the facts the listener set aside for a person to see (``<spool>.rejected``,
  ``<spool>.calls.rejected`` beside ``[listener] spool_path``; they may hold callers'
  numbers): lines set aside more than ``transfer_numbers_days`` ago (by their
  ``rejected_at``, or their fact's time for older lines);
* lines of Asterisk's CDR CSV (cdr_csv, ``start`` column), CEL CSV (cel_custom,
  ``eventtime``), queue_log (epoch first field, ``1795878642|fA-78443-caller|navigators|
  NONE|ENTERQUEUE||5145550123|1``) and our own log files (``2026-11-28 15:07:23,120 INFO
  ...``; continuation lines go with the line above) older than their period. A file is
  rewritten atomically (a temporary file beside it, fsync, rename) keeping the newer
  lines; lines appended while it was rewritten are carried over. A line whose time cannot
  be read is kept and reported, never guessed at.

Every purge writes one audit row (user "system", action "purge"); a dry run counts and
writes nothing. The report names what could not be purged (``problems``: the command
exits 1) and what this job never reaches (backups and other copies, which
docs/operations.md says how to purge). The rows are read and changed in
:mod:`store.privacy`; the files are handled here.

``ivr211 privacy export --number N`` gives one caller's data as JSON (messages' metadata
and notes, transfer records with that number) and is audited too.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from glob import glob
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ivr211.config import Config
from store.files import fsync_dir
from store.linesettings import SettingsStore
from store.privacy import (
    caller_data,
    digits,
    messages_due,
    purge_call_numbers,
    purge_message,
    purge_transfer_numbers,
    record_cloud_purge,
    record_file_purge,
    same_number,
)
from store.twilio_calls import purge_calls

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

FILE_KINDS = ("cdr", "cel", "queue_log", "log", "rejected")
#: Where a fact set aside in ``<spool>.rejected`` says when it happened, when it has no
#: ``rejected_at`` (lines the listener set aside before it wrote that field).
_FACT_TIMES = ("started_at", "at", "arrived_at")
_CDR_START = 9  # cdr_csv's default columns: accountcode,src,dst,dcontext,clid,...,start
_CEL_EVENTTIME = 1  # asterisk_conf/cel_custom.conf: eventtype,eventtime,...
_LOCAL_TIME = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_EPOCH = re.compile(r"^\d+(\.\d+)?$")
#: The listener's files of facts set aside, beside its spool (listener.spool.Spool,
#: listener.callwriter.spool_path_for).
REJECTED_SUFFIXES = (".rejected", ".calls.rejected")
#: The files Asterisk writes: rewriting one calls ``after_rewrite_command`` (a logger reload).
ASTERISK_FILES = ("cdr", "cel", "queue_log")


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
    #: Folders of messages the ingester moved aside (they may hold audio).
    quarantine: list[str] = field(default_factory=list)
    transfer_numbers: int = 0
    call_numbers: int = 0
    twilio_calls: int = 0
    #: Research messages taken from Twilio into the inbox again (None: not enabled, or
    #: a dry run).
    twilio_messages: int | None = None
    #: Call logs and recordings deleted from Twilio (None: the back end is not enabled).
    twilio_call_logs: int | None = None
    twilio_recordings: int | None = None
    files: list[FilePurge] = field(default_factory=list)
    #: What could not be purged although it should have been: the run failed at it.
    problems: list[str] = field(default_factory=list)
    #: What this job does not reach and someone must see to (backups, copies).
    beyond_reach: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would purge" if self.dry_run else "purged"
        out = [
            f"messages: {verb} {len(self.messages)}",
            f"messages moved aside: {verb} {len(self.quarantine)}",
            f"transfer records: {verb} the caller number of {self.transfer_numbers}",
            f"call records: {verb} the caller number of {self.call_numbers}",
            f"Twilio calls: {verb} the state of {self.twilio_calls}",
        ]
        if self.twilio_messages is not None:
            out.append(f"Twilio: took {self.twilio_messages} research messages into the inbox")
        if self.twilio_call_logs is not None:
            out.append(f"Twilio: {verb} {self.twilio_call_logs} call logs")
        if self.twilio_recordings is not None:
            out.append(f"Twilio: {verb} {self.twilio_recordings} recordings")
        out += [
            f"{f.kind} {f.path}: {verb} {f.removed} lines, kept {f.kept}"
            + (f" ({f.unreadable} without a readable time)" if f.unreadable else "")
            for f in self.files
        ]
        out += [f"problem: {p}" for p in self.problems]
        out += [f"not reached: {p}" for p in self.beyond_reach]
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
    message_cutoff = now - timedelta(days=message_days)
    if config.twilio.enabled and not dry_run:
        _retake_twilio(engine, config, report)
    with Session(engine) as session:
        _purge_messages(
            session, config.voicemail.storage_dir, message_cutoff, now, message_days, report
        )
        report.transfer_numbers = purge_transfer_numbers(
            session, now - timedelta(days=cfg.transfer_numbers_days), now, dry_run=dry_run
        )
        report.call_numbers = purge_call_numbers(
            session, now - timedelta(days=cfg.transfer_numbers_days), now, dry_run=dry_run
        )
        report.twilio_calls = purge_calls(
            session, now - timedelta(days=config.twilio.state_days), now, dry_run=dry_run
        )
    _purge_quarantine(engine, _quarantine_dir(config), message_cutoff, now, message_days, report)
    if config.twilio.enabled:
        _purge_twilio(
            engine,
            config,
            now - timedelta(days=cfg.transfer_numbers_days),
            message_cutoff,
            now,
            report,
        )
    report.beyond_reach.append(
        f"backups and copies of {config.voicemail.storage_dir} and of the database: purge"
        f" research messages received before {message_cutoff:%Y-%m-%d} from them"
        " (docs/operations.md, Backups and retention)"
    )
    rewritten = False
    for kind, paths, days in (
        ("cdr", cfg.cdr_paths, cfg.cdr_days),
        ("cel", cfg.cel_paths, cfg.cel_days),
        ("queue_log", cfg.queue_log_paths, cfg.queue_log_days),
        ("log", cfg.log_paths, cfg.logs_days),
        ("rejected", _rejected_files(config), cfg.transfer_numbers_days),
    ):
        cutoff = now - timedelta(days=days)
        for path in _expand(paths, kind, report):
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
                rewritten = rewritten or kind in ASTERISK_FILES
                with Session(engine) as session, session.begin():
                    record_file_purge(
                        session,
                        str(path),
                        f"{kind}: {result.removed} lines before {cutoff:%Y-%m-%d %H:%M} UTC"
                        f" removed, {result.kept} kept (retention {days} days)",
                        now,
                    )
    if rewritten and cfg.after_rewrite_command:
        runner = run or (lambda argv: subprocess.run(argv, check=True, capture_output=True))
        try:
            runner(list(cfg.after_rewrite_command))
        except (OSError, subprocess.CalledProcessError) as exc:
            report.problems.append(f"after_rewrite_command failed: {exc}")
    return report


def _rejected_files(config: Config) -> tuple[Path, ...]:
    """The facts the listener set aside for a person to see (``<spool>.rejected``,
    ``<spool>.calls.rejected``) that exist: they may hold callers' numbers, so they are
    kept as long as the records' numbers (``transfer_numbers_days``)."""
    spool = config.listener.spool_path
    named = (spool.with_name(spool.name + suffix) for suffix in REJECTED_SUFFIXES)
    return tuple(path for path in named if path.exists())


def _retake_twilio(engine: Engine, config: Config, report: RetentionReport) -> None:
    """Research messages left on Twilio, taken into the inbox before anything is purged
    (imported here: twilio is loaded only when the back end is enabled)."""
    from ivr211.twilio_options import retake_recordings

    retaken = retake_recordings(config, engine)
    report.twilio_messages = retaken.stored
    report.problems.extend(f"Twilio research message: {p}" for p in retaken.problems)


def _purge_twilio(
    engine: Engine,
    config: Config,
    calls_before: datetime,
    recordings_before: datetime,
    now: datetime,
    report: RetentionReport,
) -> None:
    """The call logs and recordings Twilio keeps (imported here: twilio is loaded only
    when the back end is enabled)."""
    from ivr211.twilio_options import twilio_options
    from twilio_line.cloud import purge_cloud

    options = twilio_options(config, public_url=config.twilio.public_url)
    done = purge_cloud(options, calls_before, recordings_before, dry_run=report.dry_run)
    report.twilio_call_logs = done.calls
    report.twilio_recordings = done.recordings
    report.problems.extend(done.problems)
    if report.dry_run or not (done.calls or done.recordings):
        return
    with Session(engine) as session, session.begin():
        record_cloud_purge(
            session,
            f"Twilio: {done.calls} call logs ended before {calls_before:%Y-%m-%d %H:%M} UTC and"
            f" {done.recordings} recordings made before {recordings_before:%Y-%m-%d %H:%M} UTC"
            " deleted",
            now,
        )


def _expand(paths: Sequence[Path], kind: str, report: RetentionReport) -> list[Path]:
    """The configured files that exist. A named file that does not is a problem (a moved
    log, an unmounted disk: its lines are not purged); a pattern may match nothing."""
    out: list[Path] = []
    for path in paths:
        text = str(path)
        if any(ch in text for ch in "*?["):
            matched = [Path(p) for p in sorted(glob(text))]
            if not matched:
                report.beyond_reach.append(f"{kind} {path}: no file matches")
            out += matched
        elif path.exists():
            out.append(path)
        else:
            report.problems.append(f"{kind} {path}: not found, nothing purged from it")
    return out


def _purge_messages(
    session: Session,
    storage_dir: Path,
    cutoff: datetime,
    now: datetime,
    days: int,
    report: RetentionReport,
) -> None:
    """Remove the audio, then make the row a tombstone (one commit per message). Audio
    that cannot be reached leaves its message as it is, reported, for the next run."""
    due = messages_due(session, cutoff)
    if any(m.audio_path for m in due) and not storage_dir.is_dir():
        report.problems.append(
            f"research audio: storage folder {storage_dir} not reachable;"
            f" {len(due)} messages past retention left for the next run"
        )
        return
    if report.dry_run:
        report.messages = [m.msg_id for m in due]
        return
    for message in due:
        if message.audio_path:
            try:
                (storage_dir / message.audio_path).unlink(missing_ok=True)
            except OSError as exc:
                report.problems.append(
                    f"research audio {storage_dir / message.audio_path}: not removed"
                    f" ({exc.strerror or exc}); message {message.msg_id} left for the next run"
                )
                continue
        purge_message(session, message, days, now)
        session.commit()
        report.messages.append(message.msg_id)


def _quarantine_dir(config: Config) -> Path:
    vm = config.voicemail
    return vm.quarantine_dir or vm.storage_dir / "quarantine"


def _moved_aside_at(entry: Path) -> datetime:
    """When the ingester moved a message aside: its folder's name starts with the UTC
    time (``20261128T151901123456-INBOX-msg0000``, research.ingest), else its mtime."""
    try:
        return datetime.strptime(entry.name[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(entry.stat().st_mtime, UTC)


def _purge_quarantine(
    engine: Engine,
    folder: Path,
    cutoff: datetime,
    now: datetime,
    days: int,
    report: RetentionReport,
) -> None:
    """Messages the ingester moved aside hold research audio too: each one moved aside
    before ``cutoff`` is removed (the whole folder), audited."""
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        try:
            if _moved_aside_at(entry) >= cutoff:
                continue
            if not report.dry_run:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        except OSError as exc:
            report.problems.append(f"quarantine {entry}: not removed ({exc.strerror or exc})")
            continue
        report.quarantine.append(entry.name)
        if not report.dry_run:
            with Session(engine) as session, session.begin():
                record_file_purge(
                    session,
                    str(entry),
                    f"research message moved aside before {cutoff:%Y-%m-%d}: removed"
                    f" (retention {days} days)",
                    now,
                )


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
        if kind == "rejected":
            return _rejected_time(text)
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


def _rejected_time(text: str) -> datetime | None:
    """When a line of the listener's ``<spool>.rejected`` was set aside (``rejected_at``),
    else when its fact happened; None for anything else (kept, reported)."""
    entry = json.loads(text)
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("rejected_at"), str):
        return _aware(datetime.fromisoformat(entry["rejected_at"]))
    fact = json.loads(entry["line"]) if isinstance(entry.get("line"), str) else None
    if isinstance(fact, dict) and len(fact) == 1:  # a call fact: {"<kind>": {...}}
        (inner,) = fact.values()
        fact = inner if isinstance(inner, dict) else fact
    if not isinstance(fact, dict):
        return None
    for name in _FACT_TIMES:
        if isinstance(fact.get(name), str):
            return _aware(datetime.fromisoformat(fact[name]))
    return None


def _aware(when: datetime) -> datetime | None:
    return when.astimezone(UTC) if when.tzinfo is not None else None


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


def export_caller(
    engine: Engine, number: str, *, user: str, role: str = "cli", now: datetime
) -> dict[str, Any]:
    """Everything we hold about the caller of ``number``, as plain JSON-able data
    (``store.privacy.caller_data``), the export audited with the number masked."""
    if not digits(number):
        raise RetentionError(f"not a phone number: {number!r}")
    with Session(engine) as session:
        data = caller_data(session, number, user=user, role=role, now=now)
        session.commit()
    return data
