"""Retention and export on both databases: messages, transfer numbers, Asterisk's files
(lines copied from the recorded CDR/CEL/queue_log of 2i-cel-cdr-queuelog-samples.txt),
each purge audited, and one caller's data exported."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ivr211.cli import main
from ivr211.config import Config, load_config
from ivr211.retention import export_caller, purge_file, run_retention, same_number
from store import models as m
from store.calls import CallFact, CallRecord, CallSource, record_calls
from store.facts import Kind, Outcome, Source, TransferFact
from store.linesettings import SettingsStore
from store.transfers import record_facts
from store.voicemail import AuditEntry, VoiceMessage, VoiceNote

NOW = datetime(2027, 12, 1, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/Toronto")
FIXTURES = Path(__file__).parent / "fixtures"

# Asterisk's lines as recorded (2i), all written 2026-11-28 (local) / epoch 1795878xxx.
CDR_OLD = (
    '"","5145550123","211","helpline","""Jean Tremblay"" <5145550123>",'
    '"Local/caller@lab-phones-00000013;1","Local/nav-manual@navigators-00000014;1","Dial",'
    '"Local/nav-manual@navigators,30,t","2026-11-28 15:07:23","2026-11-28 15:07:23",'
    '"2026-11-28 15:07:24",1,1,"ANSWERED","DOCUMENTATION","a1-78443-caller",""\n'
)
CEL_OLD = (
    '"ANSWER","2026-11-28 15:07:23","Jean Tremblay","5145550123","caller","lab-phones",'
    '"Local/caller@lab-phones-00000013;1","AppDial2","(Outgoing Line)","a1-78443-caller",'
    '"a1-78443-caller","",""\n'
)
QLOG_OLD = "1795878642|fA-78443-caller|navigators|NONE|ENTERQUEUE||5145550123|1\n"


def newer(line: str) -> str:
    """The same line, written a year later (2027-11-28)."""
    return line.replace("2026-11-28", "2027-11-28").replace("1795878642", "1827414642")


def write_message(
    session: Session, storage: Path, n: int, received_at: datetime, **values: object
) -> VoiceMessage:
    audio = storage / f"msg-{n}.wav"
    audio.write_bytes(b"RIFF....WAVEfmt ")
    fields: dict[str, object] = {
        "msg_id": f"1795879141-{n:08d}",
        "mailbox": "1000@recherche",
        "received_at": received_at,
        "duration_s": 12,
        "caller_name": "Jean Tremblay",
        "caller_number": "4185550123",
        "callback_number": None,
        "language": "fr",
        "checksum": "0" * 64,
        "audio_path": audio.name,
        "size": 16,
        "ingested_at": received_at,
    }
    fields.update(values)
    message = VoiceMessage(**fields)
    session.add(message)
    session.flush()
    session.add(
        VoiceNote(message_id=message.id, author="chercheuse", at=received_at, text="rappel")
    )
    session.commit()
    return message


def transfer(key: str, started_at: datetime, number: str | None) -> TransferFact:
    return TransferFact(
        key=key,
        kind=Kind.ATTENDED,
        outcome=Outcome.COMPLETED,
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=42),
        linkedid=key,
        navigator_channel="Local/nav-manual@navigators",
        destination="911",
        target_exten="911",
        target_context="emergency-services",
        answer_delay_s=1.0,
        caller_uniqueid=key,
        caller_number=number,
        language="fr",
        path="main>navigator",
        interpreter=False,
        source=Source.AMI,
    )


def config_for(tmp_path: Path, **retention: object) -> Config:
    base = Config()
    voicemail = base.voicemail.model_copy(update={"storage_dir": tmp_path / "storage"})
    kept = base.retention.model_copy(update=retention)
    return base.model_copy(update={"voicemail": voicemail, "retention": kept})


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    path = tmp_path / "storage"
    path.mkdir()
    return path


def audits(engine: Engine) -> list[tuple[str, str, str, str]]:
    with Session(engine) as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(r.user, r.action, r.object, r.detail) for r in rows]


def test_messages_past_retention_become_tombstones(
    store: SettingsStore, tmp_path: Path, storage: Path
) -> None:
    engine = store.engine
    with Session(engine, expire_on_commit=False) as session:
        old = write_message(session, storage, 1, NOW - timedelta(days=400))
        young = write_message(session, storage, 2, NOW - timedelta(days=10))
    config = config_for(tmp_path)

    dry = run_retention(engine, config, NOW, dry_run=True)
    assert dry.messages == [old.msg_id]
    assert (storage / "msg-1.wav").exists() and audits(engine) == []

    report = run_retention(engine, config, NOW)
    assert report.messages == [old.msg_id] and report.problems == []
    assert not (storage / "msg-1.wav").exists()
    assert (storage / "msg-2.wav").exists()
    with Session(engine) as session:
        gone = session.get(VoiceMessage, old.id)
        kept = session.get(VoiceMessage, young.id)
        assert gone is not None and kept is not None
        assert (gone.caller_name, gone.caller_number, gone.audio_path) == (None, None, None)
        assert gone.deleted_at == NOW and gone.msg_id == old.msg_id
        assert kept.deleted_at is None and kept.caller_number == "4185550123"
        notes = session.scalars(select(VoiceNote.message_id)).all()
        assert notes == [young.id]
    [row] = audits(engine)
    assert row[:3] == ("system", "purge", f"voice_message:{old.id}")
    assert "retention 365 days" in row[3] and "4185550123" not in row[3]

    again = run_retention(engine, config, NOW)
    assert again.messages == [] and len(audits(engine)) == 1


def test_a_crash_after_the_audio_was_removed_is_finished_next_run(
    store: SettingsStore, tmp_path: Path, storage: Path
) -> None:
    engine = store.engine
    with Session(engine, expire_on_commit=False) as session:
        old = write_message(session, storage, 1, NOW - timedelta(days=400))
    (storage / "msg-1.wav").unlink()
    report = run_retention(engine, config_for(tmp_path), NOW)
    assert report.messages == [old.msg_id]
    with Session(engine) as session:
        assert session.scalar(select(VoiceMessage.deleted_at)) == NOW


def test_a_storage_folder_out_of_reach_is_reported_and_its_messages_kept_for_later(
    store: SettingsStore, tmp_path: Path, storage: Path
) -> None:
    engine = store.engine
    with Session(engine, expire_on_commit=False) as session:
        old = write_message(session, storage, 1, NOW - timedelta(days=400))
    storage.rename(tmp_path / "unmounted")  # the disk is not there at this run

    report = run_retention(engine, config_for(tmp_path), NOW)

    assert report.messages == []
    assert report.problems == [
        f"research audio: storage folder {storage} not reachable;"
        " 1 messages past retention left for the next run"
    ]
    with Session(engine) as session:
        assert session.scalar(select(VoiceMessage.deleted_at)) is None
    assert audits(engine) == []
    (tmp_path / "unmounted").rename(storage)
    again = run_retention(engine, config_for(tmp_path), NOW)
    assert (again.messages, again.problems) == ([old.msg_id], [])
    assert not (storage / "msg-1.wav").exists()


def test_audio_that_cannot_be_removed_is_reported_and_the_others_purged(
    store: SettingsStore, tmp_path: Path, storage: Path
) -> None:
    engine = store.engine
    with Session(engine, expire_on_commit=False) as session:
        stuck = write_message(session, storage, 1, NOW - timedelta(days=401))
        old = write_message(session, storage, 2, NOW - timedelta(days=400))
    (storage / "msg-1.wav").unlink()
    (storage / "msg-1.wav").mkdir()  # unlink() refuses a folder, whoever runs the job

    report = run_retention(engine, config_for(tmp_path), NOW)

    assert report.messages == [old.msg_id]
    [problem] = report.problems
    assert problem.startswith(f"research audio {storage / 'msg-1.wav'}: not removed")
    assert problem.endswith(f"message {stuck.msg_id} left for the next run")
    with Session(engine) as session:
        assert session.get(VoiceMessage, stuck.id).deleted_at is None  # type: ignore[union-attr]
    assert [a[2] for a in audits(engine)] == [f"voice_message:{old.id}"]


def test_files_out_of_reach_and_backups_are_reported(store: SettingsStore, tmp_path: Path) -> None:
    gone = tmp_path / "moved" / "Master.csv"
    pattern = tmp_path / "rotated" / "queue_log.*"
    config = config_for(tmp_path, cdr_paths=(gone,), queue_log_paths=(pattern,))

    report = run_retention(store.engine, config, NOW)

    assert report.problems == [f"cdr {gone}: not found, nothing purged from it"]
    assert report.beyond_reach == [
        f"backups and copies of {tmp_path / 'storage'} and of the database: purge research"
        " messages received before 2026-12-01 from them (docs/operations.md, Backups and"
        " retention)",
        f"queue_log {pattern}: no file matches",
    ]
    lines = report.lines()
    assert f"problem: cdr {gone}: not found, nothing purged from it" in lines
    assert f"not reached: queue_log {pattern}: no file matches" in lines


def test_messages_moved_aside_follow_the_retention_period(
    store: SettingsStore, tmp_path: Path, storage: Path
) -> None:
    quarantine = storage / "quarantine"
    old = quarantine / "20261128T151901123456-INBOX-msg0000"
    young = quarantine / "20271128T151901123456-INBOX-msg0001"
    for folder in (old, young):
        folder.mkdir(parents=True)
        (folder / "msg0000.wav").write_bytes(b"RIFF....WAVEfmt ")
        (folder / "REASON.txt").write_text("origtime out of range\n", encoding="utf-8")
    config = config_for(tmp_path)

    dry = run_retention(store.engine, config, NOW, dry_run=True)
    assert dry.quarantine == [old.name] and old.exists() and audits(store.engine) == []
    report = run_retention(store.engine, config, NOW)

    assert (report.quarantine, report.problems) == ([old.name], [])
    assert "messages moved aside: purged 1" in report.lines()
    assert sorted(p.name for p in quarantine.iterdir()) == [young.name]
    [row] = audits(store.engine)
    assert row[:3] == ("system", "purge", f"file:{old}")
    assert "moved aside before 2026-12-01" in row[3]


def test_old_transfer_numbers_are_emptied_once(store: SettingsStore, tmp_path: Path) -> None:
    engine = store.engine
    with Session(engine) as session:
        record_facts(
            session,
            [
                transfer("old", NOW - timedelta(days=400), "4185550123"),
                transfer("young", NOW - timedelta(days=5), "4185550123"),
                transfer("none", NOW - timedelta(days=500), None),
            ],
        )
        session.commit()
    report = run_retention(engine, config_for(tmp_path, transfer_numbers_days=365), NOW)
    assert report.transfer_numbers == 1
    with Session(engine) as session:
        rows = session.execute(select(m.TransferRecord.key, m.TransferRecord.caller_number))
        numbers = {key: number for key, number in rows}
        assert numbers == {"old": None, "young": "4185550123", "none": None}
        assert session.scalar(select(func.count()).select_from(m.TransferRecord)) == 3
    [row] = audits(engine)
    assert row[:3] == ("system", "purge", "transfer_records")
    assert row[3].startswith("caller_number emptied on 1 records")
    assert run_retention(engine, config_for(tmp_path), NOW).transfer_numbers == 0


@pytest.mark.parametrize(
    ("kind", "old"),
    [("cdr", CDR_OLD), ("cel", CEL_OLD), ("queue_log", QLOG_OLD)],
)
def test_asterisk_files_keep_only_newer_lines(
    store: SettingsStore, tmp_path: Path, kind: str, old: str
) -> None:
    path = tmp_path / f"{kind}.log"
    header = "eventtype,eventtime,cid_name\n" if kind == "cel" else ""
    path.write_text(header + old + old + newer(old), encoding="utf-8")
    path.chmod(0o640)
    ran: list[list[str]] = []
    config = config_for(
        tmp_path,
        **{f"{kind}_paths": (path,), f"{kind}_days": 365},
        after_rewrite_command=("asterisk", "-rx", "logger reload"),
    )
    report = run_retention(store.engine, config, NOW, run=lambda argv: ran.append(list(argv)))
    assert path.read_text(encoding="utf-8") == header + newer(old)
    assert path.stat().st_mode & 0o777 == 0o640
    assert [(f.removed, f.kept, f.unreadable) for f in report.files] == [
        (2, 2 if header else 1, 1 if header else 0)
    ]
    assert ran == [["asterisk", "-rx", "logger reload"]]
    [row] = audits(store.engine)
    assert row[:3] == ("system", "purge", f"file:{path}")
    assert row[3].startswith(f"{kind}: 2 lines before ")
    assert list(tmp_path.glob(".*retention-tmp")) == []


def test_dry_run_leaves_files_alone(store: SettingsStore, tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text(QLOG_OLD + newer(QLOG_OLD), encoding="utf-8")
    config = config_for(tmp_path, queue_log_paths=(path,))
    report = run_retention(store.engine, config, NOW, dry_run=True)
    assert report.files[0].removed == 1
    assert path.read_text(encoding="utf-8") == QLOG_OLD + newer(QLOG_OLD)
    assert audits(store.engine) == []


def test_log_continuation_lines_go_with_their_record(tmp_path: Path) -> None:
    path = tmp_path / "ivr211.log"
    path.write_text(
        "2027-08-01 10:00:00,120 ERROR listener: lost\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1\n'
        "2027-11-30 09:00:00,001 INFO ivr211: caller 4185550123\n"
        "  continued\n",
        encoding="utf-8",
    )
    result = purge_file(path, "log", NOW - timedelta(days=90), ZONE)
    assert (result.removed, result.kept) == (3, 2)
    assert path.read_text(encoding="utf-8") == (
        "2027-11-30 09:00:00,001 INFO ivr211: caller 4185550123\n  continued\n"
    )


def test_unreadable_lines_are_kept_and_reported(store: SettingsStore, tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_text(CDR_OLD + "garbage line\n", encoding="utf-8")
    report = run_retention(store.engine, config_for(tmp_path, cdr_paths=(path,)), NOW)
    assert path.read_text(encoding="utf-8") == "garbage line\n"
    assert report.problems == [f"cdr {path}: 1 lines without a readable time kept"]


def test_same_number() -> None:
    assert same_number("+1 418-555-0123", "4185550123")
    assert same_number("14185550123", "(418) 555-0123")
    assert not same_number("4185550124", "4185550123")
    assert not same_number(None, "4185550123")
    assert not same_number("", "")


def test_export_one_caller(store: SettingsStore, tmp_path: Path, storage: Path) -> None:
    engine = store.engine
    with Session(engine, expire_on_commit=False) as session:
        mine = write_message(session, storage, 1, NOW - timedelta(days=3))
        callback = write_message(
            session, storage, 2, NOW - timedelta(days=2), caller_number=None,
            callback_number="+1 418 555 0123",
        )  # fmt: skip
        write_message(session, storage, 3, NOW - timedelta(days=1), caller_number="8195550142")
        record_facts(
            session,
            [
                transfer("t-mine", NOW - timedelta(days=4), "14185550123"),
                transfer("t-other", NOW - timedelta(days=4), "8195550142"),
            ],
        )
        record_calls(
            session,
            [
                CallFact(linkedid=linkedid, at=NOW - timedelta(days=4), source=CallSource.FLOW,
                         caller_number=number, route="queue")
                for linkedid, number in (("c-mine", "4185550123"), ("c-other", "8195550142"))
            ],
        )  # fmt: skip
        session.commit()
    data = export_caller(engine, "418-555-0123", user="admin1", now=NOW)
    assert json.loads(json.dumps(data)) == data
    assert [v["msg_id"] for v in data["voice_messages"]] == [mine.msg_id, callback.msg_id]
    assert data["voice_messages"][0]["notes"] == [
        {"author": "chercheuse", "at": (NOW - timedelta(days=3)).isoformat(), "text": "rappel"}
    ]
    assert [t["linkedid"] for t in data["transfer_records"]] == ["t-mine"]
    assert data["transfer_records"][0]["caller_number"] == "14185550123"
    [row] = audits(engine)
    assert [c["route"] for c in data["calls"]] == ["queue"]
    assert data["calls"][0]["caller_number"] == "4185550123"
    assert "linkedid" not in data["calls"][0]
    assert row == (
        "admin1",
        "export",
        "caller:…0123",
        "2 messages, 1 transfer records, 1 calls",
    )


def test_cli_retention_and_export(
    store: SettingsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = tmp_path / "ivr211.toml"
    qlog = tmp_path / "queue_log"
    ancient = QLOG_OLD.replace("1795878642", "1600000000")  # 2020: old by any clock
    qlog.write_text(ancient, encoding="utf-8")
    config_path.write_text(
        f'[database]\nurl = "{store.engine.url.render_as_string(hide_password=False)}"\n'
        f'[voicemail]\nstorage_dir = "{tmp_path / "storage"}"\n'
        f'[retention]\nqueue_log_paths = ["{qlog}"]\n',
        encoding="utf-8",
    )
    load_config(config_path, environ={})
    assert main(["retention", "run", "--dry-run", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert f"queue_log {qlog}: would purge 1 lines, kept 0" in out
    assert qlog.read_text(encoding="utf-8") == ancient
    assert main(["retention", "run", "--config", str(config_path)]) == 0
    assert qlog.read_text(encoding="utf-8") == ""
    capsys.readouterr()
    assert main(["privacy", "export", "--number", "4185550123", "--by", "dpo",
                 "--config", str(config_path)]) == 0  # fmt: skip
    exported = json.loads(capsys.readouterr().out)
    assert exported["voice_messages"] == [] and exported["transfer_records"] == []
    assert main(["privacy", "export", "--number", "abc", "--config", str(config_path)]) == 2
    assert audits(store.engine)[-1][:2] == ("dpo", "export")


def test_old_call_numbers_are_emptied_once_and_the_calls_stay(
    store: SettingsStore, tmp_path: Path
) -> None:
    engine = store.engine
    with Session(engine) as session:
        record_calls(
            session,
            [
                CallFact(
                    linkedid=name,
                    at=NOW - timedelta(days=age),
                    source=CallSource.FLOW,
                    caller_number="4185550123",
                    route="queue",
                )
                for name, age in (("old", 400), ("young", 5))
            ],
        )
        session.commit()
    report = run_retention(engine, config_for(tmp_path, transfer_numbers_days=365), NOW)
    assert report.call_numbers == 1
    assert "call records: purged the caller number of 1" in report.lines()
    with Session(engine) as session:
        rows = session.execute(select(CallRecord.linkedid, CallRecord.caller_number))
        assert dict(rows.all()) == {"old": None, "young": "4185550123"}
    [row] = audits(engine)
    assert row[:3] == ("system", "purge", "calls")
    assert row[3].startswith("caller_number emptied on 1 calls arrived before")
    assert run_retention(engine, config_for(tmp_path), NOW).call_numbers == 0


def test_facts_set_aside_by_the_listener_follow_the_numbers_period(
    store: SettingsStore, tmp_path: Path
) -> None:
    """``<spool>.rejected`` and ``<spool>.calls.rejected`` hold callers' numbers: a line is
    removed once set aside (or, for a line written before ``rejected_at`` existed, once its
    fact happened) more than ``transfer_numbers_days`` ago; one without a time is kept and
    reported."""
    from listener.callwriter import fact_to_line, spool_path_for
    from listener.spool import Spool, fact_to_json

    spool_path = tmp_path / "var" / "listener-spool.jsonl"
    transfers, calls = Spool(spool_path), Spool(spool_path_for(spool_path))
    old_fact = fact_to_json(transfer("k-old", NOW - timedelta(days=400), "4185550123"))
    transfers.reject([(old_fact, "refused")])  # set aside now, 2026-12: inside the period
    [now_line] = transfers.rejected_path.read_text(encoding="utf-8").splitlines()
    set_aside_long_ago = json.dumps(
        {**json.loads(now_line), "rejected_at": (NOW - timedelta(days=366)).isoformat()}
    )
    legacy_old = json.dumps({"error": "refused", "line": old_fact})
    legacy_new = json.dumps(
        {"error": "x", "line": fact_to_json(transfer("k-new", NOW - timedelta(days=3), "1"))}
    )
    with transfers.rejected_path.open("a", encoding="utf-8") as out:
        out.write("\n".join([set_aside_long_ago, legacy_old, legacy_new, "cut sho"]) + "\n")
    call = CallFact(
        linkedid="c-old", at=NOW - timedelta(days=500), source=CallSource.AMI, caller_number="1"
    )
    calls.rejected_path.write_text(
        json.dumps({"error": "refused", "line": fact_to_line(call)}) + "\n", encoding="utf-8"
    )
    config = config_for(tmp_path, transfer_numbers_days=365)
    config = config.model_copy(
        update={"listener": config.listener.model_copy(update={"spool_path": spool_path})}
    )

    report = run_retention(store.engine, config, NOW)

    kept = transfers.rejected_path.read_text(encoding="utf-8").splitlines()
    assert kept == [now_line, legacy_new, "cut sho"]
    assert calls.rejected_path.read_text(encoding="utf-8") == ""
    assert [(f.kind, f.removed, f.kept, f.unreadable) for f in report.files] == [
        ("rejected", 2, 3, 1),
        ("rejected", 1, 0, 0),
    ]
    assert report.problems == [
        f"rejected {transfers.rejected_path}: 1 lines without a readable time kept"
    ]
    assert [row[2] for row in audits(store.engine)] == [
        f"file:{transfers.rejected_path}",
        f"file:{calls.rejected_path}",
    ]
