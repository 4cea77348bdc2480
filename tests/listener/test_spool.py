"""The spool file itself: a line cut short never takes a good fact with it, a write cut
by a full disk loses (and reports) only what did not reach the file, what a writer
killed with SIGKILL had spooled is written by the next, and one listener at a time owns
a spool. Both spool writers (transfer facts, call facts) are tested where they share
the spool's machinery.

A full disk is real here: ``RLIMIT_FSIZE`` makes the kernel stop a write at a chosen
file size (``write`` returns a short count, then fails with EFBIG), as it does at the
end of a full filesystem (ENOSPC).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from listener.spool import SpoolBusy, SpoolLock, parse_spool
from listener.writer import fact_to_json

from .test_writer import (
    NO_BACKGROUND_RETRY,
    WriterCase,
    case,  # noqa: F401  (the fixture)
    db,  # noqa: F401  (the fixture)
    fact,
    outage,
    unreachable_engine,
)


def rejected_lines(path: Path) -> list[str]:
    rejected = Path(f"{path}.rejected")
    if not rejected.exists():
        return []
    return [json.loads(line)["line"] for line in rejected.read_text().splitlines()]


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes of any file fail with EFBIG (the signal is ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


# ---- a line cut short ------------------------------------------------------------------


def test_a_fact_spooled_after_a_cut_line_reaches_the_database(
    db: Engine,  # noqa: F811
    case: WriterCase,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """A crash (or a full disk) cut the last line; the next fact is spooled while the
    database is still down; when it is back, that fact is stored and only the broken
    fragment goes to ``.rejected``."""
    path = tmp_path / case.spool_name
    first, good = case.make("first"), case.make("good")
    cut = case.encode(case.make("cut"))[:40]
    writer = case.writer(db, path, **NO_BACKGROUND_RETRY)
    try:
        with outage(request, db):
            writer.submit([first])
            assert not writer.flush(timeout=30)
            with path.open("a") as spool:
                spool.write(cut)  # what a write cut short leaves
            writer.submit([good])
            assert not writer.flush(timeout=30)
            assert path.read_text().endswith(cut + "\n" + case.encode(good) + "\n")
        assert writer.flush(timeout=30)
    finally:
        writer.close()
    assert case.stored(db) == case.ids([first, good])
    assert case.spooled(path) == []
    assert rejected_lines(path) == [cut]


def test_a_write_cut_by_a_full_disk_loses_only_what_did_not_reach_the_file(
    db: Engine,  # noqa: F811
    case: WriterCase,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / case.spool_name
    kept, cut, after = case.make("kept"), case.make("cut"), case.make("after")
    closed = case.writer(db, path)
    closed.close()  # a closed writer spools at once, in this thread
    room = len(case.encode(kept)) + 1 + 30  # the first line and 30 bytes of the second
    with caplog.at_level(logging.CRITICAL, "listener.writer"), file_size_limit(room):
        closed.submit([kept, cut, after])
    (lost,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    message = lost.getMessage()
    assert case.ident(cut) in message and case.ident(after) in message
    assert case.ident(kept) not in message
    assert path.stat().st_size == room
    later = case.make("later")
    closed.submit([later])  # the disk has room again
    with case.writer(db, path) as writer:
        assert writer.flush(timeout=30)
    assert case.stored(db) == case.ids([kept, later])
    assert rejected_lines(path) == [case.encode(cut)[:30]]


def test_a_fact_glued_to_a_fragment_by_an_older_append_is_taken_out_of_it() -> None:
    """Spools written before appends started on a fresh line may hold a fragment with a
    whole fact after it on the same line: the fact is read, the fragment alone is bad."""
    good = fact("atxfer:good")
    cut = fact_to_json(fact("atxfer:cut"))[:40]
    whole, after = fact("atxfer:whole"), fact("atxfer:after")
    data = (cut + fact_to_json(good) + "\n" + cut + "\n").encode()
    data += (fact_to_json(whole) + fact_to_json(after) + "\n").encode()  # lost its newline
    facts, bad = parse_spool(data)
    assert sorted(f.key for f in facts) == ["atxfer:after", "atxfer:good", "atxfer:whole"]
    assert [line for line, _ in bad] == [cut, cut]


# ---- kill -9 --------------------------------------------------------------------------

SPOOLER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sqlalchemy import create_engine
    from tests.listener.test_writer import CALLS, NO_BACKGROUND_RETRY, TRANSFERS
    case = {"transfers": TRANSFERS, "calls": CALLS}[sys.argv[1]]
    writer = case.writer(create_engine(sys.argv[2]), Path(sys.argv[3]), **NO_BACKGROUND_RETRY)
    writer.submit(case.many("killed", 3))
    print("STORED" if writer.flush(timeout=30) else "SPOOLED", flush=True)
    sys.stdin.read()  # hold until the test kills us
    """
)


def test_what_a_writer_killed_with_9_spooled_is_written_by_the_next(
    db: Engine,  # noqa: F811
    case: WriterCase,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A listener process killed (SIGKILL) while the database was away: the facts its
    writer spooled are written by the next one, once."""
    path = tmp_path / case.spool_name
    gone = unreachable_engine(db, tmp_path)
    url = gone.url.render_as_string(hide_password=False)
    gone.dispose()
    process = subprocess.Popen(
        [sys.executable, "-c", SPOOLER, case.name, url, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "SPOOLED\n"
    finally:
        stop(process)
    assert process.returncode == -signal.SIGKILL
    killed = case.many("killed", 3)
    assert case.spooled(path) == case.ids(killed)
    with case.writer(db, path, **NO_BACKGROUND_RETRY) as writer:
        assert writer.flush(timeout=30)
    assert case.stored(db) == case.ids(killed)
    assert case.spooled(path) == []


# ---- one listener per spool --------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from listener.spool import SpoolBusy, SpoolLock, parse_spool
    try:
        SpoolLock(Path(sys.argv[1])).acquire()
    except SpoolBusy as exc:
        print("BUSY", exc, flush=True)
        sys.exit(3)
    print("HELD", flush=True)
    sys.stdin.read()  # hold until the test closes stdin or kills us
    """
)


def holder(spool: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(spool)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def stop(process: subprocess.Popen[str]) -> None:
    """kill -9, and close the pipes."""
    process.kill()
    process.communicate(timeout=30)


def test_a_second_process_is_refused_and_a_restart_after_kill_9_is_not(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    first = holder(spool)
    try:
        assert first.stdout is not None
        assert first.stdout.readline() == "HELD\n"
        second = holder(spool)
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 3
        assert out.startswith("BUSY ")
        assert str(spool) in out
        assert f"pid {first.pid}" in out
        with pytest.raises(SpoolBusy, match="another listener"):
            SpoolLock(spool).acquire()  # this process too
    finally:
        stop(first)  # the kernel releases the lock
    third = holder(spool)
    try:
        assert third.stdout is not None
        assert third.stdout.readline() == "HELD\n"
    finally:
        stop(third)
    with SpoolLock(spool):
        assert (tmp_path / "spool.jsonl.lock").read_text().strip() == str(os.getpid())


def test_a_spool_where_nothing_can_be_written_is_said_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr211.cli import main

    monkeypatch.delenv("IVR211_CONFIG", raising=False)
    monkeypatch.setenv("IVR211_AMI_SECRET", "test-secret")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = tmp_path / "ivr211.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n'
        f'[listener]\nspool_path = "{blocker / "spool.jsonl"}"\n'
        "[voicemail]\nenabled = false\n",
        encoding="utf-8",
    )
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["listen", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"not started: cannot lock {blocker / 'spool.jsonl.lock'}" in err
    assert "Traceback" not in err
