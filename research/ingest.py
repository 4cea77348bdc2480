"""Move the research box's messages from Asterisk's spool to our storage, losing none.

app_voicemail leaves each message as a set of files in the mailbox folder, e.g. (from
``2e-voicemail-spool.txt``)::

    /var/spool/asterisk/voicemail/lab211/1001/INBOX/msg0000.wav 17420 bytes
    /var/spool/asterisk/voicemail/lab211/1001/INBOX/msg0000.txt 310 bytes

and ``msg0000.txt`` is the message information file (:mod:`research.message_info`
reads it).

One message goes through these steps, each safe to crash after:

1. read the txt; an incomplete one (no ``msg_id`` or ``duration`` yet, or no final
   newline) is left for the next sweep;
2. if its ``msg_id`` is already in the database (a crash after step 5, or the same
   message in two folders), only delete the spool files;
3. wait until the audio exists and did not change between two sweeps (or for
   ``settle_s``);
4. copy the audio to ``storage_dir/YYYY/MM/<msg_id>.wav`` through a temporary file,
   fsync it and its folder, and check the copy's SHA-256 against what was read;
5. insert the row (``msg_id`` is unique: a double is impossible) and commit;
6. delete the spool files, the txt last, so a crash in between leaves the txt that names
   the message for step 2.

A spool message that cannot be read, or that stays incomplete for ``stale_s``, is moved to
the quarantine folder and reported; it never blocks the others.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from research.message_info import (
    IngestError,
    SpoolFormatError,
    SpoolMessage,
    parse_callerid,
    parse_category,
    parse_message_text,
)
from store.files import fsync_dir
from store.voicemail import add_message, message_by_msg_id

__all__ = [
    "IngestError",
    "IngestOptions",
    "Ingester",
    "SpoolFormatError",
    "SpoolMessage",
    "SweepReport",
    "Sweeper",
    "parse_callerid",
    "parse_category",
    "parse_message_text",
]

log = logging.getLogger(__name__)

AUDIO_FORMAT = "wav"
_MSG_FILE = re.compile(r"^msg(\d{4})\.txt$")
_CHUNK = 1 << 16


#: A message seen too young is looked at again this soon: two sweeps that see the same
#: audio file are proof enough that app_voicemail finished writing it.
RECHECK_S = 1.0
_RETRY_MARGIN_S = 0.05
_MIN_RETRY_S = 0.25


@dataclass(frozen=True)
class IngestOptions:
    spool_dir: Path
    storage_dir: Path
    mailbox: str = "1000@recherche"
    folders: tuple[str, ...] = ("INBOX", "Old", "Urgent")
    quarantine_dir: Path | None = None
    settle_s: float = 5.0
    stale_s: float = 3600.0

    @property
    def mailbox_dir(self) -> Path:
        box, _, context = self.mailbox.partition("@")
        return self.spool_dir / (context or "default") / box

    @property
    def quarantine(self) -> Path:
        return self.quarantine_dir or self.storage_dir / "quarantine"


@dataclass
class SweepReport:
    ingested: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Seconds after which a message left pending should be looked at again (None: none
    #: pending). The sweeper retries then instead of waiting a whole interval, so a message
    #: is in the inbox seconds after the caller hangs up.
    retry_in_s: float | None = None

    def retry_in(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self.retry_in_s = seconds if self.retry_in_s is None else min(self.retry_in_s, seconds)

    def __str__(self) -> str:
        return (
            f"{len(self.ingested)} ingested, {len(self.cleaned)} already recorded and removed,"
            f" {len(self.pending)} left for later, {len(self.quarantined)} moved aside,"
            f" {len(self.problems)} problems"
        )


@dataclass(frozen=True)
class _Stat:
    size: int
    mtime_ns: int


class Ingester:
    """One pass over the mailbox's folders at a time (:meth:`sweep`); not thread-safe.

    ``on_new(message_row_id)`` runs once the message is recorded and out of the spool
    (the notification hook, ``research.notify.notify_new_message``); what it raises is logged
    and never stops the sweep. ``after_record(msg_id)`` runs between the commit and the
    spool deletion and is not guarded: a test raises there to stand for a crash.
    """

    def __init__(
        self,
        engine: Engine,
        options: IngestOptions,
        *,
        on_new: Callable[[int], object] | None = None,
        after_record: Callable[[str], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.options = options
        self.on_new = on_new
        self.after_record = after_record
        self.wall_clock = wall_clock
        self._seen: dict[Path, _Stat] = {}

    def sweep(self) -> SweepReport:
        report = SweepReport()
        seen: dict[Path, _Stat] = {}
        for txt in self._message_files():
            try:
                self._one(txt, report, seen)
            except SpoolFormatError as exc:
                self._quarantine(txt, str(exc), report)
            except (IngestError, OSError, SQLAlchemyError) as exc:
                report.problems.append(f"{txt}: {exc}")
                log.warning("voicemail %s not ingested (next sweep retries): %s", txt, exc)
        for audio in self._orphan_audio():
            self._quarantine(audio, "audio without its txt", report)
        self._seen = seen
        if report.ingested or report.quarantined or report.problems or report.cleaned:
            log.info("voicemail sweep of %s: %s", self.options.mailbox_dir, report)
        return report

    # ---- one message ---------------------------------------------------------------------

    def _message_files(self) -> Iterator[Path]:
        for folder in self.options.folders:
            path = self.options.mailbox_dir / folder
            if path.is_dir():
                yield from sorted(p for p in path.iterdir() if _MSG_FILE.match(p.name))

    def _orphan_audio(self) -> Iterator[Path]:
        now = self.wall_clock()
        for folder in self.options.folders:
            path = self.options.mailbox_dir / folder
            if not path.is_dir():
                continue
            for audio in sorted(path.glob(f"msg[0-9][0-9][0-9][0-9].{AUDIO_FORMAT}")):
                if audio.with_suffix(".txt").exists():
                    continue
                try:
                    age = now - audio.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age > self.options.stale_s:
                    yield audio

    def _one(self, txt: Path, report: SweepReport, seen: dict[Path, _Stat]) -> None:
        message = parse_message_text(txt.read_bytes())
        audio = txt.with_suffix(f".{AUDIO_FORMAT}")
        if message is None:
            self._wait_or_give_up(txt, txt, "txt still incomplete", report)
            return
        with Session(self.engine) as session:
            existing = message_by_msg_id(session, message.msg_id)
            known = None if existing is None else existing.checksum
        if known is not None:
            if audio.exists() and _sha256(audio) != known:
                raise SpoolFormatError(f"msg_id {message.msg_id} already recorded, other audio")
            self._delete_spool(txt, message.msg_id)
            report.cleaned.append(message.msg_id)
            return
        if not audio.exists():
            self._wait_or_give_up(txt, txt, "txt without its audio", report)
            return
        before = _stat(audio)
        seen[audio] = before
        age = self.wall_clock() - before.mtime_ns / 1e9
        if age < self.options.settle_s and self._seen.get(audio) != before:
            self._wait_or_give_up(txt, audio, "audio may still be growing", report)
            # Due at the next sweep that sees the same file, or once it is settle_s old.
            report.retry_in(min(RECHECK_S, self.options.settle_s - age))
            return
        relative = Path(f"{message.received_at:%Y/%m}") / f"{message.msg_id}.{AUDIO_FORMAT}"
        checksum, size = self._copy(audio, self.options.storage_dir / relative)
        if _stat(audio) != before:
            report.pending.append(f"{audio}: changed while copied")
            return
        row_id = self._record(message, relative, checksum, size)
        if row_id is None:
            report.cleaned.append(message.msg_id)
        if self.after_record is not None:
            self.after_record(message.msg_id)
        self._delete_spool(txt, message.msg_id)
        if row_id is None:
            return
        report.ingested.append(message.msg_id)
        log.info("voicemail %s ingested (row %d) from %s", message.msg_id, row_id, txt.parent)
        if self.on_new is not None:
            try:
                self.on_new(row_id)
            except Exception:
                log.exception("notification of voicemail %s failed", message.msg_id)

    def _wait_or_give_up(self, txt: Path, newest: Path, why: str, report: SweepReport) -> None:
        try:
            age = self.wall_clock() - newest.stat().st_mtime
        except FileNotFoundError:
            age = 0.0
        if age > self.options.stale_s:
            raise SpoolFormatError(f"{why} for more than {self.options.stale_s:g} s")
        report.pending.append(f"{txt}: {why}")
        report.retry_in(max(RECHECK_S, self.options.settle_s))

    def _copy(self, source: Path, target: Path) -> tuple[str, int]:
        """Copy through a temporary file, fsync, rename, fsync the folder; check the copy."""
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        partial = target.with_name(f".{target.name}.part")
        digest = hashlib.sha256()
        size = 0
        try:
            with source.open("rb") as src:
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
                with os.fdopen(fd, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        dst.write(chunk)
                        size += len(chunk)
                    dst.flush()
                    os.fsync(dst.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        fsync_dir(target.parent)
        checksum = digest.hexdigest()
        if _sha256(target) != checksum:
            raise IngestError(f"{target}: the copy does not match {source}")
        return checksum, size

    def _record(
        self, message: SpoolMessage, relative: Path, checksum: str, size: int
    ) -> int | None:
        """Insert the row; None when another sweep recorded this msg_id first."""
        try:
            with Session(self.engine) as session, session.begin():
                return add_message(
                    session,
                    msg_id=message.msg_id,
                    mailbox=self.options.mailbox,
                    received_at=message.received_at,
                    duration_s=message.duration_s,
                    caller_name=message.caller_name,
                    caller_number=message.caller_number,
                    callback_number=message.callback_number,
                    language=message.language,
                    checksum=checksum,
                    audio_path=relative.as_posix(),
                    size=size,
                    ingested_at=datetime.now(UTC),
                ).id
        except IntegrityError:
            with Session(self.engine) as session:
                if message_by_msg_id(session, message.msg_id) is None:
                    raise
            return None

    def _delete_spool(self, txt: Path, msg_id: str) -> None:
        """Remove every file of the message (any audio format), the txt last."""
        current = parse_message_text(txt.read_bytes())
        if current is None or current.msg_id != msg_id:
            raise IngestError(f"{txt} changed under us (expected msg_id {msg_id})")
        stem = txt.stem
        for sibling in sorted(txt.parent.glob(f"{stem}.*")):
            if sibling != txt:
                sibling.unlink(missing_ok=True)
        txt.unlink(missing_ok=True)
        fsync_dir(txt.parent)

    def _quarantine(self, path: Path, why: str, report: SweepReport) -> None:
        """Move the message's files aside (a folder per sweep time) and report it."""
        target = self.options.quarantine / (
            f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{path.parent.name}-{path.stem}"
        )
        try:
            target.mkdir(parents=True, mode=0o750)
            for sibling in sorted(path.parent.glob(f"{path.stem}.*")):
                shutil.move(sibling, target / sibling.name)
            (target / "REASON.txt").write_text(f"{path}: {why}\n", encoding="utf-8")
        except OSError as exc:
            report.problems.append(f"{path}: {why}; cannot move it aside: {exc}")
            log.error("voicemail %s: %s; cannot move it aside: %s", path, why, exc)
            return
        report.quarantined.append(f"{path}: {why} -> {target}")
        log.error("voicemail %s: %s; moved to %s", path, why, target)


def _stat(path: Path) -> _Stat:
    st = path.stat()
    return _Stat(st.st_size, st.st_mtime_ns)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Sweeper:
    """Runs :meth:`Ingester.sweep` in its own thread every ``interval_s`` and whenever
    :meth:`wake` is called (the listener calls it on each ``Event: MessageWaiting`` whose
    ``Mailbox:`` is ours), so the AMI event loop never waits on the disk or the database.
    """

    def __init__(self, ingester: Ingester, interval_s: float) -> None:
        self.ingester = ingester
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="voicemail-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def on_event(self, event: Mapping[str, str]) -> None:
        """``Event: MessageWaiting`` / ``Mailbox: 1001@lab211`` -> sweep soon."""
        if event.get("Event") == "MessageWaiting" and (
            event.get("Mailbox") == self.ingester.options.mailbox
        ):
            self.wake()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait_s = self.interval_s
            try:
                retry_in_s = self.ingester.sweep().retry_in_s
            except Exception:
                log.exception("voicemail sweep failed")
            else:
                if retry_in_s is not None:
                    wait_s = min(wait_s, max(retry_in_s + _RETRY_MARGIN_S, _MIN_RETRY_S))
            self._wake.wait(wait_s)
            self._wake.clear()
