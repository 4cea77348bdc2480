"""Call facts from CEL: the caller channel's life, and the IVR211_CALL events the dialplan
writes, read back to the values the flow set."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listener.cel import COLUMNS, CelRow, read_rows
from listener.celcalls import (
    CALL_CEL_EVENT,
    CallEventError,
    CelCallInterpreter,
    format_call_extra,
    parse_call_extra,
)
from store.calls import CallSource, QueueOutcome
from tests.asterisk_conf.dialplan_sim import Call, Dialplan
from tests.asterisk_conf.test_fallback import WEDNESDAY_20H, FlowServer, finishes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
T0 = datetime(2026, 12, 4, 15, 34, 37, 995379, tzinfo=UTC)


def test_an_extra_reads_back_to_the_values_written() -> None:
    values = {"pass": "0", "route": "queue", "state": "hours", "path": "open/lang:fr/main:1"}
    extra = format_call_extra("dispatch", values)
    assert extra == "v=1 step=dispatch pass=0 route=queue state=hours path=open/lang:fr/main:1"
    assert parse_call_extra(extra) == ("dispatch", values)
    # an empty value (no destination) is absent, as unknown
    assert parse_call_extra("v=1 step=dispatch pass=0 dest= route=closed") == (
        "dispatch",
        {"pass": "0", "route": "closed"},
    )


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "step=dispatch pass=0",  # no version
        "v=2 step=dispatch",
        "v=1 step=dial pass=0",
        "v=1 step=dispatch colour=red",
        "v=1 step=dispatch pass=0 pass=1",
        "v=1 step=dispatch path=a b",
        "v=1 step=dispatch path=a,b",
        "v=1 step=dispatch path=a=b",
        "v=1  step=dispatch",
    ],
)
def test_an_extra_not_as_the_dialplan_writes_it_is_refused(extra: str) -> None:
    with pytest.raises(CallEventError):
        parse_call_extra(extra)


def test_a_value_the_dialplan_would_have_filtered_is_refused_when_written() -> None:
    with pytest.raises(CallEventError):
        format_call_extra("dispatch", {"path": "a b"})


def cel_line(row: dict[str, str]) -> str:
    """One line as cel_custom writes it: CSV_QUOTE on every column (2n)."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(
        [row.get(c, "") for c in COLUMNS]
    )
    return out.getvalue()


def event_line(linkedid: str, when: datetime, extra: str, context: str) -> str:
    """A user event as the recorded IVR211_REFERRAL row of 2n/6b shows the format:
    eventtype = the event's name, appname CELGenUserEvent, appdata "name,extra",
    extra {"extra":"..."}."""
    return cel_line(
        {
            "eventtype": CALL_CEL_EVENT,
            "eventtime": f"{when.timestamp():.6f}",
            "cid_name": "Marie Gagnon",
            "cid_num": "4185550199",
            "exten": "s",
            "context": context,
            "channame": "PJSIP/trunk-0000001a",
            "appname": "CELGenUserEvent",
            "appdata": f"{CALL_CEL_EVENT},{extra}",
            "uniqueid": linkedid,
            "linkedid": linkedid,
            "extra": json.dumps({"extra": extra}, separators=(",", ":")),
        }
    )


def channel_line(kind: str, linkedid: str, when: datetime, context: str) -> str:
    return cel_line(
        {
            "eventtype": kind,
            "eventtime": f"{when.timestamp():.6f}",
            "exten": "211",
            "context": context,
            "channame": "PJSIP/trunk-0000001a",
            "uniqueid": linkedid,
            "linkedid": linkedid,
        }
    )


def rows(text: str) -> list[CelRow]:
    return list(read_rows(io.StringIO(text), UTC))


def test_the_2n_referral_row_layout_carries_an_extra_the_reader_finds() -> None:
    recorded = (FIXTURES / "cel" / "2n-dynamic-feature-cel-userevent.cel.csv").read_text()
    (referral,) = [r for r in rows(recorded) if r.eventtype == "IVR211_REFERRAL"]
    assert referral.extra == {"extra": "811"}
    extra = "v=1 step=queue pass=1 queue=navigateurs status=FULL cut=0"
    (made,) = rows(event_line("n-537-caller", T0, extra, "ivr211-queue"))
    assert (made.eventtype, made.extra, made.appname) == (
        CALL_CEL_EVENT,
        {"extra": extra},
        referral.appname,
    )


def simulated(result: Call, start: datetime, hangup: bool = True) -> list[CelRow]:
    """The CEL rows of a call the dialplan simulator ran: the caller channel's start, its
    IVR211_CALL events one second apart, its end."""
    lid = result.linkedid
    text = channel_line("CHAN_START", lid, start, "from-trunk-211")
    for n, (name, extra) in enumerate(result.cel_events, start=1):
        assert name == CALL_CEL_EVENT
        text += event_line(lid, start + timedelta(seconds=n), extra, "ivr211-dispatch")
    if hangup:
        end = start + timedelta(seconds=len(result.cel_events) + 1)
        text += channel_line("HANGUP", lid, end, "ivr211-research")
        text += channel_line("CHAN_END", lid, end, "ivr211-research")
    return rows(text)


def test_a_call_told_by_the_dialplan_reads_back_to_what_the_flow_decided() -> None:
    flow = finishes(
        IVR_ROUTE="queue",
        IVR_QUEUE="navigateurs",
        IVR_LINE_STATE="hours",
        IVR_PATH="open/lang:en/main:1",
        IVR_INTERPRETER="0",
        __IVR_LANG="en",
    )
    exit_menu = finishes(IVR_ROUTE="research", IVR_PATH="queue-exit/research")
    dialplan = Dialplan.load()
    with FlowServer([flow, exit_menu]) as server:
        result = Call(
            dialplan,
            now=WEDNESDAY_20H - timedelta(hours=10),
            queue_outcomes=["TIMEOUT"],
            global_overrides={"FASTAGI": server.url},
        ).run("from-trunk-211", "211")
    reader = CelCallInterpreter()
    for row in simulated(result, T0):
        reader.feed(row)
    (fact,) = reader.facts()
    assert reader.problems == []
    assert fact.source is CallSource.CEL
    assert (fact.linkedid, fact.caller_uniqueid, fact.at) == (result.linkedid,) * 2 + (T0,)
    assert (fact.line_state, fact.language, fact.path, fact.route, fact.queue) == (
        "hours",
        "en",
        "open/lang:en/main:1",
        "queue",
        "navigateurs",
    )
    assert (fact.queue_outcome, fact.queue_left_at) == (
        QueueOutcome.TIMEOUT,
        T0 + timedelta(seconds=2),
    )
    assert fact.exit_route == "research"
    assert fact.ended_at == T0 + timedelta(seconds=4)
    assert fact.caller_number is None


def test_the_fallback_and_a_wait_cut_to_closing_time() -> None:
    dialplan = Dialplan.load()
    with FlowServer([finishes(IVR_ROUTE="queue")]) as server:
        pass  # stopped: the next AGI() is refused
    result = Call(
        dialplan,
        now=WEDNESDAY_20H - timedelta(hours=1, minutes=2),  # 18:58, closes at 19:00
        queue_outcomes=["TIMEOUT"],
        global_overrides={"FASTAGI": server.url},
    ).run("from-trunk-211", "211")
    reader = CelCallInterpreter()
    for row in simulated(result, T0, hangup=False):
        reader.feed(row)
    (fact,) = reader.facts()
    assert (fact.route, fact.line_state, fact.language, fact.path) == (
        "fallback",
        "hours",
        None,
        None,
    )
    assert fact.queue_outcome is QueueOutcome.TIMEOUT  # the fallback has no closing time
    assert fact.exit_route == "give-up"
    assert fact.ended_at is None  # still in progress when the file ends


def test_queue_status_cut_to_closing_and_refusals() -> None:
    text = channel_line("CHAN_START", "a", T0, "from-trunk-211")
    text += channel_line("CHAN_START", "b", T0, "from-trunk-211")
    text += event_line("a", T0, "v=1 step=queue pass=1 queue=navigateurs status=TIMEOUT cut=1", "q")
    text += event_line("b", T0, "v=1 step=queue pass=1 queue=navigateurs status=FULL cut=0", "q")
    text += event_line("b", T0, "v=1 step=queue pass=2 queue=navigateurs status=TIMEOUT cut=0", "q")
    reader = CelCallInterpreter()
    for row in rows(text):
        reader.feed(row)
    outcomes = {f.linkedid: f.queue_outcome for f in reader.facts()}
    assert outcomes == {"a": QueueOutcome.CLOSING, "b": QueueOutcome.FULL}  # the first wait


def test_a_bad_event_is_reported_and_skipped_and_the_call_still_counted() -> None:
    text = channel_line("CHAN_START", "a", T0, "from-trunk-211")
    text += event_line("a", T0, "v=1 step=dispatch pass=0 route=queue", "ivr211-dispatch")
    text += event_line("a", T0, "v=1 step=dispatch pass=0 path=a b", "x")
    reader = CelCallInterpreter()
    for row in rows(text):
        reader.feed(row)
    (fact,) = reader.facts()
    assert len(reader.problems) == 1
    assert fact.route == "queue"


def test_an_unknown_route_or_state_is_said_and_not_stored() -> None:
    text = channel_line("CHAN_START", "a", T0, "from-trunk-211")
    text += event_line("a", T0, "v=1 step=dispatch pass=0 route=teleport state=sunny", "d")
    reader = CelCallInterpreter()
    for row in rows(text):
        reader.feed(row)
    (fact,) = reader.facts()
    assert (fact.route, fact.line_state) == (None, None)
    assert len(reader.problems) == 2


def test_the_project_dialplan_recording_6b_one_call_and_no_navigator_leg() -> None:
    """6b ran asterisk_conf/extensions.conf (before the IVR211_CALL events): the caller's
    channel, its own linkedid, went through ivr211-queue; the navigator's leg and the
    calls that began before the file are not calls of their own."""
    recorded = (FIXTURES / "project" / "6b-referral-star7" / "cel.csv").read_text()
    reader = CelCallInterpreter()
    for row in rows(recorded):
        reader.feed(row)
    (fact,) = reader.facts()
    assert fact.linkedid == "1796398477.55"
    assert fact.at == datetime(2026, 12, 4, 15, 34, 37, 995379, tzinfo=UTC)
    assert fact.ended_at == datetime(2026, 12, 4, 15, 35, 22, 696417, tzinfo=UTC)


def test_2p1_lab_calls_with_their_context_named() -> None:
    """The lab's queue context is not the line's: named, the two callers of 2p1 are
    read with the start and end CEL gives, keyed as queue_log keys them."""
    recorded = (FIXTURES / "cel" / "2p1-queue-abandon-after-wait.cel.csv").read_text()
    assert CelCallInterpreter().facts() == []
    reader = CelCallInterpreter(call_contexts={"helpline-queue"})
    for row in rows(recorded):
        reader.feed(row)
    facts = {f.linkedid: f for f in reader.facts()}
    assert set(facts) == {"p1a-574-caller", "p1b-574-caller"}
    first = facts["p1a-574-caller"]
    assert first.at == datetime(2026, 12, 4, 16, 11, 8, 834262, tzinfo=UTC)
    assert first.ended_at == datetime(2026, 12, 4, 16, 11, 14, 858845, tzinfo=UTC)


PAIR = st.tuples(
    st.sampled_from(["v", "step", "pass", "route", "state", "lang", "int", "queue", "path"])
    | st.text(max_size=4),
    st.sampled_from(["1", "0", "dispatch", "queue", "fallback", "give-up", "hours", "TIMEOUT"])
    | st.text(max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(PAIR, max_size=8), max_size=6))
def test_any_extra_gives_a_fact_or_a_problem_never_an_exception(
    extras: list[list[tuple[str, str]]],
) -> None:
    text = channel_line("CHAN_START", "a", T0, "from-trunk-211")
    for pairs in extras:
        extra = " ".join(f"{k}={v}" for k, v in pairs)
        text += event_line("a", T0, extra, "ivr211-dispatch")
    reader = CelCallInterpreter()
    for row in rows(text):
        reader.feed(row)
    (fact,) = reader.facts()
    assert fact.linkedid == "a"
