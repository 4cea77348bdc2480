"""Ingest of the research box from app_voicemail's spool, on both databases.

The spool messages are the recorded ``msg0000.txt`` (``2e-voicemail-spool.txt``, copied to
tests/fixtures/voicemail/) with a WAV the test writes as ``format = wav`` records it:
8 kHz mono 16-bit PCM; 8688 frames make the recording's 17420-byte file.
"""

from __future__ import annotations

import hashlib
import math
import struct
import threading
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ivr211.cli.research_box import leave_message
from listener.transcripts import messages, read_raw
from research.ingest import (
    RECHECK_S,
    Ingester,
    IngestOptions,
    SpoolFormatError,
    Sweeper,
    parse_callerid,
    parse_category,
    parse_message_text,
)
from store.voicemail import AuditEntry, VoiceMessage, audit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "voicemail"
RECORDED_TXT = (FIXTURES / "msg0000.txt").read_text(encoding="utf-8")
RECORDED_MSG_ID = "1795879141-00000000"
RECORDED_FRAMES = 8688
MAILBOX = "1001@lab211"


def write_wav(path: Path, frames: int = RECORDED_FRAMES, hz: float = 440.0) -> bytes:
    samples = b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * hz * n / 8000))) for n in range(frames)
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples)
    return path.read_bytes()


def recorded_txt(**changes: str | None) -> str:
    """The recorded msg0000.txt, with some ``key=value`` lines changed (None drops one)."""
    lines = []
    for line in RECORDED_TXT.splitlines():
        key = line.partition("=")[0]
        if "=" in line and key in changes:
            value = changes[key]
            if value is None:
                continue
            line = f"{key}={value}"
        lines.append(line + "\n")
    return "".join(lines)


def put_message(
    folder: Path, number: int = 0, txt: str = RECORDED_TXT, *, frames: int = RECORDED_FRAMES
) -> bytes:
    """Audio first, then the txt: the order app_voicemail renames them into the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    audio = write_wav(folder / f"msg{number:04d}.wav", frames)
    (folder / f"msg{number:04d}.txt").write_text(txt, encoding="utf-8")
    return audio


@pytest.fixture
def options(tmp_path: Path) -> IngestOptions:
    return IngestOptions(
        spool_dir=tmp_path / "spool",
        storage_dir=tmp_path / "storage",
        mailbox=MAILBOX,
        settle_s=0.0,
    )


def inbox(options: IngestOptions, folder: str = "INBOX") -> Path:
    return options.spool_dir / "lab211" / "1001" / folder


def rows(engine: Engine) -> list[VoiceMessage]:
    with Session(engine) as session:
        return list(session.scalars(select(VoiceMessage).order_by(VoiceMessage.id)))


def test_recorded_message_is_ingested_exactly_once(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    audio = put_message(inbox(options))
    assert len(audio) == 17420  # the size the recording shows for this message
    notified: list[int] = []
    ingester = Ingester(migrated_engine, options, on_new=notified.append)

    first = ingester.sweep()
    second = ingester.sweep()

    assert first.ingested == [RECORDED_MSG_ID]
    assert (second.ingested, second.cleaned, second.pending) == ([], [], [])
    (row,) = rows(migrated_engine)
    assert notified == [row.id]
    assert row.msg_id == RECORDED_MSG_ID
    assert row.mailbox == MAILBOX
    assert row.received_at == datetime(2026, 11, 28, 15, 19, 1, tzinfo=UTC)
    assert row.duration_s == 1
    assert (row.caller_name, row.caller_number) == ("Marie Gagnon", "4185550199")
    assert (row.language, row.callback_number) == (None, None)
    assert row.status == "new"
    assert row.size == 17420
    assert row.checksum == hashlib.sha256(audio).hexdigest()
    assert row.audio_path == f"2026/11/{RECORDED_MSG_ID}.wav"
    assert (options.storage_dir / row.audio_path).read_bytes() == audio
    assert list(inbox(options).iterdir()) == []


def test_withheld_number_with_a_callback_number_and_language(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    put_message(inbox(options), txt=recorded_txt(callerid="Unknown", category="en/4185550123"))

    assert Ingester(migrated_engine, options).sweep().ingested == [RECORDED_MSG_ID]

    (row,) = rows(migrated_engine)
    assert (row.caller_name, row.caller_number) == (None, None)
    assert (row.language, row.callback_number) == ("en", "4185550123")


class Crash(Exception):
    pass


@pytest.mark.parametrize("deleted_before_crash", [(), ("msg0000.wav",)])
def test_crash_between_commit_and_spool_delete_loses_nothing_and_makes_no_double(
    migrated_engine: Engine, options: IngestOptions, deleted_before_crash: tuple[str, ...]
) -> None:
    audio = put_message(inbox(options))

    def crash(msg_id: str) -> None:
        for name in deleted_before_crash:  # the deletion had begun (audio goes first)
            (inbox(options) / name).unlink()
        raise Crash(msg_id)

    with pytest.raises(Crash):
        Ingester(migrated_engine, options, after_record=crash).sweep()
    assert len(rows(migrated_engine)) == 1
    assert (inbox(options) / "msg0000.txt").exists()

    notified: list[int] = []
    report = Ingester(migrated_engine, options, on_new=notified.append).sweep()

    assert report.cleaned == [RECORDED_MSG_ID]
    assert report.ingested == []
    assert notified == []
    (row,) = rows(migrated_engine)
    assert (options.storage_dir / str(row.audio_path)).read_bytes() == audio
    assert list(inbox(options).iterdir()) == []


def test_txt_without_audio_is_left_for_a_later_sweep(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    folder = inbox(options)
    folder.mkdir(parents=True)
    (folder / "msg0000.txt").write_text(RECORDED_TXT, encoding="utf-8")
    ingester = Ingester(migrated_engine, options)

    waiting = ingester.sweep()
    assert waiting.ingested == []
    assert len(waiting.pending) == 1
    assert rows(migrated_engine) == []
    assert (folder / "msg0000.txt").exists()

    write_wav(folder / "msg0000.wav")
    assert ingester.sweep().ingested == [RECORDED_MSG_ID]


def test_txt_not_yet_complete_is_left_for_a_later_sweep(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    folder = inbox(options)
    put_message(folder, txt=recorded_txt(msg_id=None, flag=None, duration=None))
    ingester = Ingester(migrated_engine, options)

    waiting = ingester.sweep()
    assert (waiting.ingested, len(waiting.pending)) == ([], 1)
    assert sorted(p.name for p in folder.iterdir()) == ["msg0000.txt", "msg0000.wav"]

    (folder / "msg0000.txt").write_text(RECORDED_TXT, encoding="utf-8")
    assert ingester.sweep().ingested == [RECORDED_MSG_ID]


def test_audio_still_growing_waits_until_two_sweeps_see_the_same_file(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    slow = IngestOptions(
        spool_dir=options.spool_dir, storage_dir=options.storage_dir, mailbox=MAILBOX, settle_s=3600
    )
    folder = inbox(slow)
    put_message(folder, frames=4000)
    ingester = Ingester(migrated_engine, slow)

    assert ingester.sweep().ingested == []  # first sight: no earlier size to compare
    final = write_wav(folder / "msg0000.wav", frames=RECORDED_FRAMES)  # it grew meanwhile
    assert ingester.sweep().ingested == []
    assert ingester.sweep().ingested == [RECORDED_MSG_ID]

    (row,) = rows(migrated_engine)
    assert row.checksum == hashlib.sha256(final).hexdigest()
    assert row.size == len(final)


def test_message_incomplete_for_too_long_is_moved_aside(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    folder = inbox(options)
    folder.mkdir(parents=True)
    (folder / "msg0000.txt").write_text(RECORDED_TXT, encoding="utf-8")
    later = Ingester(migrated_engine, options, wall_clock=lambda: time.time() + 2 * 3600)

    report = later.sweep()

    assert len(report.quarantined) == 1
    assert "txt without its audio" in report.quarantined[0]
    assert list(folder.iterdir()) == []
    (moved,) = options.quarantine.iterdir()
    assert (moved / "msg0000.txt").read_text(encoding="utf-8") == RECORDED_TXT


def test_same_message_in_two_folders_is_recorded_once(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    put_message(inbox(options, "INBOX"), 0)
    put_message(inbox(options, "Old"), 3)

    report = Ingester(migrated_engine, options).sweep()

    assert report.ingested == [RECORDED_MSG_ID]
    assert report.cleaned == [RECORDED_MSG_ID]
    assert len(rows(migrated_engine)) == 1
    assert list(inbox(options, "INBOX").iterdir()) == []
    assert list(inbox(options, "Old").iterdir()) == []


def test_same_msg_id_with_other_audio_is_moved_aside_not_deleted(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    put_message(inbox(options, "INBOX"), 0)
    put_message(inbox(options, "Old"), 0, frames=100)

    report = Ingester(migrated_engine, options).sweep()

    assert report.ingested == [RECORDED_MSG_ID]
    assert len(report.quarantined) == 1
    assert len(rows(migrated_engine)) == 1
    (moved,) = options.quarantine.iterdir()
    assert sorted(p.name for p in moved.iterdir()) == ["REASON.txt", "msg0000.txt", "msg0000.wav"]


@pytest.mark.parametrize(
    "broken",
    [
        "this is not an app_voicemail file\n",
        recorded_txt(origtime="yesterday"),
        recorded_txt(origtime="99999999999999"),  # year 3170843: no datetime holds it
        recorded_txt(origtime="9" * 400),
        recorded_txt(duration="99999999999999999999"),  # no database integer holds it
        recorded_txt(msg_id="../../etc/passwd"),
        "callerid=4185550199\nmsg_id=1\nduration=1\n",
    ],
)
def test_unreadable_message_is_moved_aside_and_the_others_still_ingested(
    migrated_engine: Engine, options: IngestOptions, broken: str
) -> None:
    folder = inbox(options)
    put_message(folder, 0, txt=broken)
    audio = put_message(folder, 1)

    report = Ingester(migrated_engine, options).sweep()

    assert report.ingested == [RECORDED_MSG_ID]
    assert len(report.quarantined) == 1
    assert list(folder.iterdir()) == []
    (moved,) = options.quarantine.iterdir()
    assert (moved / "msg0000.txt").read_text(encoding="utf-8") == broken
    assert (moved / "msg0000.wav").exists()
    assert "msg0000.txt" in (moved / "REASON.txt").read_text(encoding="utf-8")
    (row,) = rows(migrated_engine)
    assert row.checksum == hashlib.sha256(audio).hexdigest()


def test_a_time_out_of_range_is_moved_aside_with_its_reason_and_later_sweeps_go_on(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    folder = inbox(options)
    put_message(folder, 0, txt=recorded_txt(origtime="99999999999999", msg_id="1-bad"))
    ingester = Ingester(migrated_engine, options)

    first = ingester.sweep()
    put_message(folder, 1)
    second = ingester.sweep()

    assert first.ingested == [] and len(first.quarantined) == 1
    (moved,) = options.quarantine.iterdir()
    reason = (moved / "REASON.txt").read_text(encoding="utf-8")
    assert "msg0000.txt" in reason and "origtime 99999999999999" in reason
    assert second.ingested == [RECORDED_MSG_ID]
    assert (second.quarantined, second.problems) == ([], [])
    assert [row.msg_id for row in rows(migrated_engine)] == [RECORDED_MSG_ID]


def test_simulated_message_is_in_the_spool_format_and_ingested(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    txt = leave_message(
        inbox(options),
        mailbox="1001",
        context="lab211",
        callerid="Unknown",
        category="fr/4185550123",
        seconds=1.0,
    )
    written = txt.read_text(encoding="utf-8").splitlines()
    assert [line.partition("=")[0] for line in written] == [
        line.partition("=")[0] for line in RECORDED_TXT.splitlines()
    ]
    with wave.open(str(txt.with_suffix(".wav")), "rb") as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 8000)

    report = Ingester(migrated_engine, options).sweep()

    assert len(report.ingested) == 1
    (row,) = rows(migrated_engine)
    assert (row.caller_number, row.callback_number, row.language) == (None, "4185550123", "fr")


def test_message_waiting_event_wakes_the_sweeper(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    (event,) = [
        fields
        for _, fields in messages(read_raw(FIXTURES / "2e-voicemail.raw"))
        if fields.get("Event") == "MessageWaiting" and fields.get("Mailbox") == MAILBOX
    ]
    recorded = threading.Event()
    ids: list[int] = []

    def on_new(row_id: int) -> None:
        ids.append(row_id)
        recorded.set()

    sweeper = Sweeper(Ingester(migrated_engine, options, on_new=on_new), interval_s=3600)
    sweeper.start()
    try:
        put_message(inbox(options))
        sweeper.on_event(event)
        assert recorded.wait(30), "the MessageWaiting event did not start a sweep"
    finally:
        sweeper.stop()
    assert len(ids) == 1


def test_a_message_too_young_at_the_event_is_retried_within_seconds(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    """MessageWaiting comes as app_voicemail saves the message, so the first sweep finds
    the audio younger than settle_s: the sweeper must look again shortly, not wait for
    the next interval (an hour here)."""
    young = IngestOptions(
        spool_dir=options.spool_dir, storage_dir=options.storage_dir, mailbox=MAILBOX, settle_s=600
    )
    recorded = threading.Event()
    sweeper = Sweeper(
        Ingester(migrated_engine, young, on_new=lambda _id: recorded.set()), interval_s=3600
    )
    sweeper.start()  # sweeps the empty box, then waits for an hour or a wake
    try:
        put_message(inbox(young))
        sweeper.wake()  # as on Event: MessageWaiting
        assert recorded.wait(30), "the young message waited for the next full interval"
    finally:
        sweeper.stop()
    assert [row.msg_id for row in rows(migrated_engine)] == [RECORDED_MSG_ID]


def test_a_pending_message_says_when_to_look_again(
    migrated_engine: Engine, options: IngestOptions
) -> None:
    young = IngestOptions(
        spool_dir=options.spool_dir, storage_dir=options.storage_dir, mailbox=MAILBOX, settle_s=600
    )
    ingester = Ingester(migrated_engine, young)
    assert ingester.sweep().retry_in_s is None  # nothing pending: the interval applies
    put_message(inbox(young))
    first = ingester.sweep()
    assert (first.ingested, len(first.pending)) == ([], 1)
    assert first.retry_in_s == RECHECK_S
    assert ingester.sweep().ingested == [RECORDED_MSG_ID]


def test_audit_helper_writes_one_row(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session, session.begin():
        audit(session, "chercheuse", "research", "play", "voice_message:1", "link 1")
    with pytest.raises(ValueError, match="unknown audit action"), Session(migrated_engine) as s:
        audit(s, "x", "research", "peek", "voice_message:1")
    with Session(migrated_engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.user, entry.role, entry.action, entry.object) == (
        "chercheuse",
        "research",
        "play",
        "voice_message:1",
    )


# ---- parsing, no database ------------------------------------------------------------------


def test_recorded_txt_parses() -> None:
    message = parse_message_text(RECORDED_TXT.encode())
    assert message is not None
    assert message.msg_id == RECORDED_MSG_ID
    assert message.received_at == datetime.fromtimestamp(1795879141, UTC)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (RECORDED_TXT.encode()[:-1], None),  # no final newline: still being written
        (recorded_txt(duration=None).encode(), None),
        (recorded_txt(msg_id="").encode(), None),
    ],
)
def test_incomplete_txt_is_none(data: bytes, expected: None) -> None:
    assert parse_message_text(data) is expected


def test_txt_without_a_section_is_refused() -> None:
    with pytest.raises(SpoolFormatError, match="not key=value in a section"):
        parse_message_text(b"msg_id=1\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"Marie Gagnon" <4185550199>', ("Marie Gagnon", "4185550199")),
        ("4185550199", (None, "4185550199")),
        ("Marie Gagnon", ("Marie Gagnon", None)),
        ("Unknown", (None, None)),
        ('"Anonymous" <anonymous>', (None, None)),
        ("<+14185550199>", (None, "+14185550199")),
        # one rule with the call flow and the listener (ivr.callerid)
        ('"RESTRICTED" <RESTRICTED>', (None, None)),
        ('"Private" <private>', (None, None)),
        ('"Unavailable" <Unavailable>', (None, None)),
        ("<unknown>", (None, None)),
        ('"Anonymous" <>', (None, None)),
        ('"Marie Gagnon" <anonymous>', ("Marie Gagnon", None)),
        ("Private", (None, None)),
        ('"Restricted" <4185550199>', (None, "4185550199")),
    ],
)
def test_parse_callerid(value: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_callerid(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", (None, None)),
        ("fr", ("fr", None)),
        ("en/4185550123", ("en", "4185550123")),
        ("fr/", ("fr", None)),
        ("fr/not-a-number", ("fr", None)),
    ],
)
def test_parse_category(value: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_category(value) == expected
