"""queue_log: the recorded lines give the exact outcomes, waits and pauses; a bad line is
said and skipped; a follower loses nothing and doubles nothing when the retention job
rewrites the file or it is rotated under it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from ivr211.retention import purge_file
from listener.queuelog import (
    QueueLogError,
    QueueLogFollower,
    QueueLogInterpreter,
    parse_line,
)
from store.calls import (
    ActivityFact,
    CallFact,
    CallRecord,
    CallSource,
    NavigatorActivity,
    QueueOutcome,
    call_as_dict,
    merge,
    record_activity,
    record_calls,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "queue_log"


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def lines(name: str) -> list[str]:
    return (FIXTURES / f"{name}.queue_log").read_text(encoding="utf-8").splitlines(keepends=True)


def facts_of(texts: list[str]) -> tuple[list[CallFact], list[ActivityFact], list[str]]:
    interpreter = QueueLogInterpreter()
    calls: list[CallFact] = []
    activity: list[ActivityFact] = []
    for text in texts:
        for fact in interpreter.feed(parse_line(text)):
            if isinstance(fact, CallFact):
                calls.append(fact)
            else:
                activity.append(fact)
    return calls, activity, interpreter.problems


def by_call(facts: list[CallFact]) -> dict[str, CallFact]:
    merged: dict[str, CallFact] = {}
    for fact in facts:
        merged[fact.linkedid] = (
            merge(merged[fact.linkedid], fact) if fact.linkedid in merged else fact
        )
    return merged


def test_2p1_two_callers_abandon_after_6_and_10_seconds() -> None:
    calls, activity, problems = facts_of(lines("2p1-queue-abandon-after-wait"))
    assert problems == [] and activity == []
    first, second = (by_call(calls)[c] for c in ("p1a-574-caller", "p1b-574-caller"))
    assert first.source is CallSource.QUEUE_LOG
    assert (first.queue_outcome, first.wait_s, first.queue_position) == (
        QueueOutcome.ABANDONED,
        6.0,
        1,
    )
    assert (first.at, first.queue_joined_at) == (at(1796400668), at(1796400668))
    assert (first.queue_left_at, first.ended_at) == (at(1796400674), at(1796400674))
    assert first.queue == "navigators-noanswer"
    assert first.caller_uniqueid == "p1a-574-caller"
    assert first.caller_number is None  # ENTERQUEUE's number is not taken
    assert (second.queue_outcome, second.wait_s, second.queue_position) == (
        QueueOutcome.ABANDONED,
        10.0,
        2,  # joined second, left from position 1 (ABANDON|1|2|10)
    )


def test_2p2_answered_after_5_seconds_then_completed_by_each_side() -> None:
    calls, _, problems = facts_of(lines("2p2-queue-answered-after-5s"))
    assert problems == []
    agent, caller = (by_call(calls)[c] for c in ("p2a-574-caller", "p2b-574-caller"))
    assert agent.queue_outcome is QueueOutcome.ANSWERED
    assert (agent.wait_s, agent.ring_s, agent.talk_s) == (5.0, 5.0, 3.0)
    assert (agent.answered_name, agent.completed_by) == ("Navigator Five", "agent")
    assert (agent.queue_left_at, agent.ended_at) == (at(1796400688), at(1796400691))
    assert (caller.wait_s, caller.ring_s, caller.talk_s) == (1.0, 1.0, 7.0)
    assert (caller.answered_name, caller.completed_by) == ("Navigator Long", "caller")


def test_2p3_timeout_after_8_seconds() -> None:
    calls, _, _ = facts_of(lines("2p3-queue-timeout"))
    (fact,) = by_call(calls).values()
    assert (fact.queue_outcome, fact.wait_s) == (QueueOutcome.TIMEOUT, 8.0)
    assert fact.queue_left_at == at(1796400714)
    assert fact.ended_at is None  # the caller goes on to the queue-exit menu


def test_2p4_no_navigator_left_after_7_seconds_and_the_pause_that_caused_it() -> None:
    calls, activity, _ = facts_of(lines("2p4-queue-leaveempty-joinempty"))
    (fact,) = by_call(calls).values()
    assert (fact.queue_outcome, fact.wait_s) == (QueueOutcome.LEAVEEMPTY, 7.0)
    # JOINEMPTY, the scenario's second call, wrote no line at all (2p4): nothing here
    assert [(a.member, a.state, a.started_at, a.ended_at, a.reason) for a in activity] == [
        ("Leaving Navigator", "paused", at(1796400722), at(1796400726), "logged off")
    ]


def test_2j_pauses_repeated_pauses_and_login() -> None:
    _, activity, problems = facts_of(lines("2j-queue-member-actions"))
    assert problems == []
    assert [(a.state, a.started_at, a.ended_at, a.reason) for a in activity] == [
        ("paused", at(1796400574), at(1796400575), "lunch"),  # "still lunch": same pause
        ("paused", at(1796400576), at(1796400576), "meeting"),  # PAUSEALL not counted twice
        ("logged_in", at(1796400574), at(1796400576), ""),
    ]
    assert {a.member for a in activity} == {"Navigator Two"}


def test_2i_a_transfer_from_the_queue_and_the_lines_that_are_no_call() -> None:
    recorded = [
        "1795878343|NONE|NONE|NONE|QUEUESTART|\n",
        "1795878660|f2-78443-caller|navigators-xfer|NONE|ENTERQUEUE||5145550123|1\n",
        "1795878660|f2-78443-caller|navigators-xfer|Navigator Xfer|CONNECT|0|1795878660.140|0\n",
        "1795878670|f2-78443-caller|navigators-xfer|Navigator Xfer|ATTENDEDTRANSFER|BRIDGE|"
        "1be92b79-0384-4e2b-9b6d-03c3a3a7b9b5|0|10|1\n",
    ]
    calls, activity, problems = facts_of(recorded)
    (fact,) = by_call(calls).values()
    assert (fact.completed_by, fact.talk_s, fact.wait_s) == ("transfer", 10.0, 0.0)
    assert fact.ended_at is None  # the caller goes on with the service
    assert activity == [] and problems == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "abc|x|q|NONE|ABANDON|1|1|6",
        "1796400674|x|q|NONE|",
        "1796400674|x|q|NONE|AB\x00ANDON|1",
        "99999999999999999999|x|q|NONE|ABANDON|1|1|6",
    ],
)
def test_a_malformed_line_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(QueueLogError):
        parse_line(text)


def test_an_event_with_unreadable_values_is_reported_and_the_rest_still_read() -> None:
    calls, _, problems = facts_of(
        [
            "1796400674|NONE|q|NONE|ABANDON|1|1|6\n",  # no call id
            "1796400674|p9|q|NONE|ABANDON|x|y|z\n",  # no wait time
            "1796400700|NONE|q|NONE|PAUSE|lunch\n",  # no member
            *lines("2p3-queue-timeout"),
        ]
    )
    assert len(problems) == 3
    _, activity, problems = facts_of(
        [
            "1796400726|NONE|q|Navigator One|PAUSE|lunch\n",
            "1796400722|NONE|q|Navigator One|UNPAUSE|\n",  # ends before it began
        ]
    )
    assert activity == [] and len(problems) == 1
    assert {f.linkedid for f in calls} == {"p9", "p3-574-caller"}
    assert next(f for f in calls if f.linkedid == "p9").wait_s is None


# ---- following the file ---------------------------------------------------------------

ALL = [
    *lines("2p1-queue-abandon-after-wait"),
    *lines("2p2-queue-answered-after-5s"),
    *lines("2p3-queue-timeout"),
    *lines("2p4-queue-leaveempty-joinempty"),
]


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        yield sess


def write(path: Path, texts: list[str], mode: str = "a") -> None:
    with path.open(mode, encoding="utf-8") as fh:
        fh.writelines(texts)


def record(session: Session, follower: QueueLogFollower, interpreter: QueueLogInterpreter) -> bool:
    read = follower.read()
    assert read.bad_lines == ()
    facts = [f for line in read.lines for f in interpreter.feed(line)]
    record_calls(session, [f for f in facts if isinstance(f, CallFact)])
    record_activity(session, [f for f in facts if isinstance(f, ActivityFact)])
    session.commit()
    return read.restarted


Stored = tuple[list[dict[str, Any]], list[tuple[Any, ...]]]


def stored(session: Session) -> Stored:
    skip = {"id", "created_at", "updated_at"}
    calls = [
        {k: v for k, v in call_as_dict(r).items() if k not in skip}
        for r in session.scalars(select(CallRecord).order_by(CallRecord.linkedid))
    ]
    activity = [
        (a.member, a.state, a.started_at, a.ended_at, a.reason)
        for a in session.scalars(select(NavigatorActivity).order_by(NavigatorActivity.key))
    ]
    return calls, activity


def read_once(
    session: Session, path: Path
) -> tuple[list[dict[str, object]], list[tuple[object, ...]]]:
    with QueueLogFollower(path) as follower:
        record(session, follower, QueueLogInterpreter())
    return stored(session)


def test_the_retention_job_rewriting_the_file_mid_follow_loses_and_doubles_nothing(
    session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "queue_log"
    write(path, ALL[:9])
    follower, interpreter = QueueLogFollower(path), QueueLogInterpreter()
    assert not record(session, follower, interpreter)
    inode = path.stat().st_ino
    # Asterisk holds the file open and appends; the retention job renames a rewritten
    # copy over it (keeping lines from 1796400683 on); Asterisk writes one more line to
    # the old file before `logger reload`, then the rest to the new one.
    asterisk = path.open("a", encoding="utf-8")
    asterisk.writelines(ALL[9:11])
    asterisk.flush()
    purged = purge_file(path, "queue_log", at(1796400683), ZoneInfo("America/Toronto"))
    assert purged.removed == 8 and path.stat().st_ino != inode
    asterisk.writelines(ALL[11:12])
    asterisk.close()
    write(path, ALL[12:])
    assert record(session, follower, interpreter)  # read again from the start
    assert not record(session, follower, interpreter)  # nothing new: nothing read
    follower.close()
    followed = stored(session)

    session.execute(delete(CallRecord))
    session.execute(delete(NavigatorActivity))
    session.commit()
    whole = tmp_path / "whole"
    write(whole, ALL)
    assert followed == read_once(session, whole)
    assert len(followed[0]) == 6 and len(followed[1]) == 1


def test_the_lines_written_to_the_old_file_after_the_rewrite_are_read(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    write(path, ALL[:3])
    follower = QueueLogFollower(path)
    assert len(follower.read().lines) == 3
    asterisk = path.open("a", encoding="utf-8")
    purge_file(path, "queue_log", at(1796400669), ZoneInfo("UTC"))
    asterisk.write(ALL[3])  # before `logger reload`: into the renamed-over file
    asterisk.close()
    read = follower.read()
    assert read.restarted
    texts = [f"{int(x.at.timestamp())}|{x.callid}|{x.event}" for x in read.lines]
    follower.close()
    assert texts == [
        "1796400674|p1a-574-caller|RINGCANCELED",  # written to the old file, after its copy
        "1796400669|p1b-574-caller|ENTERQUEUE",  # then the new file, from its start
        "1796400671|p1a-574-caller|RINGNOANSWER",
    ]


def test_rotation_a_line_still_being_written_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    follower = QueueLogFollower(path)
    assert follower.read().lines == ()  # not written yet
    write(path, [ALL[0], ALL[1][:20]])
    assert len(follower.read().lines) == 1  # the second line is not complete yet
    write(path, [ALL[1][20:], ALL[2]])
    assert len(follower.read().lines) == 2
    os.rename(path, tmp_path / "queue_log.1")
    write(tmp_path / "queue_log.1", [ALL[3]])  # written before Asterisk reopened it
    assert len(follower.read().lines) == 1  # rotated away, no new file yet: the old one
    write(path, [ALL[4]], mode="w")
    read = follower.read()
    follower.close()
    assert read.restarted and [x.event for x in read.lines] == ["ABANDON"]


def test_a_truncated_or_rewritten_in_place_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    write(path, ALL[:4])
    follower = QueueLogFollower(path)
    assert len(follower.read().lines) == 4
    write(path, ALL[2:3], mode="w")  # same inode, shorter
    read = follower.read()
    assert read.restarted and len(read.lines) == 1
    write(path, [*ALL[5:9], *ALL[5:9]], mode="w")  # same inode, longer, another first line
    read = follower.read()
    follower.close()
    assert read.restarted and len(read.lines) == 8


def test_a_bad_line_in_the_file_is_reported_and_the_follower_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(ALL[0].encode() + b"\xff\xfe|junk\n" + ALL[1].encode())
    with QueueLogFollower(path) as follower:
        read = follower.read()
    assert len(read.lines) == 2 and len(read.bad_lines) == 1


def test_a_follower_resumes_from_a_saved_position_and_can_start_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    write(path, ALL[:5])
    first = QueueLogFollower(path)
    first.read()
    first.close()
    write(path, ALL[5:7])
    with QueueLogFollower(path, first.position) as again:
        assert [x.event for x in again.read().lines] == ["RINGNOANSWER", "RINGCANCELED"]
    with QueueLogFollower(path) as timed:
        timed.seek_time(at(1796400000))
        assert len(timed.read().lines) == 7


def test_starting_at_a_time_skips_what_came_before_and_nothing_after(tmp_path: Path) -> None:
    """A year of lines: the recorded ones again and again, an hour apart."""
    path = tmp_path / "queue_log"
    with path.open("w", encoding="utf-8") as fh:
        for hour in range(2000):
            for text in ALL:
                epoch, rest = text.split("|", 1)
                fh.write(f"{int(epoch) + 3600 * hour}|{rest}")
    target = 1796400668 + 3600 * 1500
    with QueueLogFollower(path) as timed:
        timed.seek_time(at(target))
        read = timed.read().lines
    times = [int(x.at.timestamp()) for x in read]
    before = [t for t in times if t < target]
    assert times[len(before)] == target and times == sorted(times)
    assert len(before) < 200  # entered near the time, not at the start
    assert len(times) - len(before) == 500 * len(ALL)


FIELD = st.text(alphabet=st.characters(blacklist_characters="|\n"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_line_or_a_queue_log_error(text: str) -> None:
    with contextlib.suppress(QueueLogError):
        parse_line(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2_000_000_000),
            st.sampled_from(["p1", "p2", "NONE", ""]),
            st.sampled_from(["q", "NONE"]),
            st.sampled_from(["Navigator One", "NONE", ""]),
            st.sampled_from(
                [
                    *("ENTERQUEUE", "CONNECT", "COMPLETEAGENT", "COMPLETECALLER", "ABANDON"),
                    *("EXITWITHTIMEOUT", "EXITEMPTY", "PAUSE", "UNPAUSE", "ADDMEMBER"),
                    *("REMOVEMEMBER", "ATTENDEDTRANSFER", "BLINDTRANSFER", "QUEUESTART"),
                ]
            ),
            st.lists(FIELD, max_size=6),
        ),
        max_size=30,
    )
)
def test_any_sequence_of_events_gives_facts_or_problems_never_an_exception(
    events: list[tuple[int, str, str, str, str, list[str]]],
) -> None:
    interpreter = QueueLogInterpreter()
    for epoch, callid, queue, agent, event, data in events:
        line = parse_line("|".join([str(epoch), callid, queue, agent, event, *data]))
        for fact in interpreter.feed(line):
            assert isinstance(fact, CallFact | ActivityFact)
