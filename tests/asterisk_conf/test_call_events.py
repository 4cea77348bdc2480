"""What the dialplan tells CEL and the FastAGI server about each call.

CEL carries none of the IVR_* variables (2m): the dispatch, the fallback, the step after
Queue() and the give-up write them into a CELGenUserEvent(IVR211_CALL,...) that
listener.celcalls reads back. Every AGI() passes the caller channel's linkedid as
agi_arg_3, which the FastAGI server of today must still read as before.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from agi_scripts.protocol import AgiHeader, parse_header_line
from agi_scripts.runner import call_info
from listener.cel import REFERRAL_CEL_EVENT
from listener.celcalls import CALL_CEL_EVENT, DEFAULT_CALL_CONTEXTS, STEP_KEYS, parse_call_extra

from .confparse import load
from .dialplan_sim import Call, Dialplan
from .test_fallback import (
    WEDNESDAY_10H,
    WEDNESDAY_20H,
    FlowServer,
    call,
    dialplan,
    epoch,
    finishes,
    refused_url,
)

__all__ = ["dialplan", "refused_url"]  # the fixtures, used by name

LINKEDID = Call.linkedid


def call_events(result: Call) -> list[tuple[str, dict[str, str]]]:
    """The IVR211_CALL events of a simulated call, read back as listener.celcalls does."""
    assert {name for name, _ in result.cel_events} <= {CALL_CEL_EVENT}
    return [parse_call_extra(extra) for _, extra in result.cel_events]


def test_every_cel_event_of_the_dialplan_is_one_the_listener_reads() -> None:
    lines = [v for s in load("extensions.conf").sections for _, v in s.entries]
    events = [re.search(r"CELGenUserEvent\(([^,]+),(.*)\)$", v) for v in lines if "CELGen" in v]
    names = [m[1] for m in events if m]
    assert len(names) == len(events) == 6
    assert set(names) == {CALL_CEL_EVENT, REFERRAL_CEL_EVENT}
    for match in events:
        assert match is not None
        if match[1] != CALL_CEL_EVENT:
            continue
        pairs = [p.partition("=") for p in match[2].split(" ")]
        assert [k for k, _, _ in pairs[:2]] == ["v", "step"]
        step = pairs[1][2]
        assert tuple(k for k, _, _ in pairs[2:]) == STEP_KEYS[step], step
        # every value is filtered, or a number the dialplan computed itself
        for key, _, value in pairs[2:]:
            computed = {"pass": "${QUEUE_PASSES}", "cut": "${WAIT_CUT}"}.get(key)
            assert value.startswith("${FILTER(${CEL_SAFE},") or value in {computed, "0", "1"}


def test_a_finished_flow_dispatches_with_its_decision_then_the_wait_and_the_exit(
    dialplan: Dialplan,
) -> None:
    first = finishes(
        IVR_ROUTE="queue",
        IVR_QUEUE="navigateurs",
        IVR_LINE_STATE="hours",
        IVR_PATH="open/lang:en/main:1",
        IVR_INTERPRETER="0",
        __IVR_LANG="en",
    )
    then = finishes(
        IVR_ROUTE="research", IVR_MAILBOX="1000@recherche", IVR_PATH="queue-exit/research"
    )
    with FlowServer([first, then]) as server:
        result = call(dialplan, server.url, queue=["TIMEOUT"])
    assert call_events(result) == [
        (
            "dispatch",
            {
                "pass": "0",
                "route": "queue",
                "state": "hours",
                "lang": "en",
                "int": "0",
                "queue": "navigateurs",
                "path": "open/lang:en/main:1",
            },
        ),
        ("queue", {"pass": "1", "queue": "navigateurs", "status": "TIMEOUT", "cut": "0"}),
        (
            "dispatch",
            {
                "pass": "1",
                "route": "research",
                "state": "hours",
                "lang": "en",
                "int": "0",
                "queue": "navigateurs",
                "path": "queue-exit/research",
            },
        ),
    ]


def test_a_wait_cut_to_the_closing_time_says_so(dialplan: Dialplan) -> None:
    closes_at = epoch(WEDNESDAY_10H + timedelta(minutes=5))
    with FlowServer([finishes(IVR_ROUTE="queue", IVR_CLOSES_AT=closes_at)]) as server:
        result = call(dialplan, server.url, queue=["TIMEOUT"])
    waited = next(values for step, values in call_events(result) if step == "queue")
    assert (waited["status"], waited["cut"]) == ("TIMEOUT", "1")


def test_a_value_with_a_space_an_equals_sign_or_a_comma_cannot_break_the_extra(
    dialplan: Dialplan,
) -> None:
    odd = finishes(IVR_ROUTE="closed", IVR_PATH="a b=c,d;e", IVR_DEST="x y")
    with FlowServer([odd]) as server:
        result = call(dialplan, server.url)
    ((step, values),) = call_events(result)
    assert step == "dispatch"
    assert (values["path"], values["dest"], values["route"]) == ("abcde", "xy", "closed")


@pytest.mark.parametrize(
    ("now", "astdb", "opened", "state"),
    [
        (WEDNESDAY_10H, {}, "1", "hours"),
        (WEDNESDAY_20H, {}, "0", "after_hours"),
        (WEDNESDAY_10H, {"ivr211/override": "closed"}, "0", "override_closed"),
        (WEDNESDAY_20H, {"ivr211/override": "open"}, "1", "override_open"),
        (
            WEDNESDAY_10H,
            {
                "ivr211/closure_start": epoch(WEDNESDAY_10H - timedelta(hours=1)),
                "ivr211/closure_end": epoch(WEDNESDAY_20H),
            },
            "0",
            "closure",
        ),
        (
            WEDNESDAY_10H,
            {
                "ivr211/holidays": WEDNESDAY_10H.strftime("%Y-%m-%d"),
                "ivr211/hours_HOLIDAY": "closed",
            },
            "0",
            "holiday",
        ),
    ],
)
def test_the_fallback_tells_cel_the_line_state_it_found(
    dialplan: Dialplan,
    refused_url: str,
    now: datetime,
    astdb: dict[str, str],
    opened: str,
    state: str,
) -> None:
    result = call(dialplan, refused_url, now=now, astdb=astdb, queue=["CONNECTED"])
    events = call_events(result)
    assert events[0] == ("fallback", {"open": opened, "state": state})
    assert bool(result.apps("Queue")) == (opened == "1")


def test_the_line_giving_up_is_told(dialplan: Dialplan, refused_url: str) -> None:
    result = call(dialplan, refused_url, queue=["LEAVEEMPTY"])
    assert [step for step, _ in call_events(result)] == ["fallback", "queue", "give-up"]
    assert call_events(result)[-1] == ("give-up", {"pass": "1"})


def header(lines: list[str]) -> AgiHeader:
    env = dict(parse_header_line(f"{line}\n".encode()) for line in lines)
    return AgiHeader(env)


def test_the_linkedid_is_the_third_agi_argument_and_todays_server_reads_the_rest_as_before(
    dialplan: Dialplan,
) -> None:
    first = finishes(IVR_ROUTE="queue", __IVR_LANG="en")
    then = finishes(IVR_ROUTE="closed")
    with FlowServer([first, then]) as server:
        call(dialplan, server.url, queue=["TIMEOUT"])
    initial, exit_pass = (header(h) for h in server.headers)
    assert initial.args == ("", "", LINKEDID)
    assert exit_pass.args == ("queue-exit", "en", LINKEDID)
    assert call_info(initial).extra == {}
    assert call_info(exit_pass).extra == {"entry": "queue-exit", "language": "en"}


def test_the_contexts_a_caller_runs_in_are_those_the_cel_reader_counts_as_calls() -> None:
    """listener.celcalls counts a channel as a call of the line by its context: every
    context of the dialplan but those of the navigators' legs and the conference room."""
    contexts = {s.name for s in load("extensions.conf").sections} - {"general", "globals"}
    navigator_side = {
        "navigator-transfers",
        "ivr211-navigator-leg",
        "ivr211-referral",
        "ivr211-referral-keys",
        "ivr211-conference",
    }
    assert navigator_side <= contexts
    assert contexts - navigator_side == DEFAULT_CALL_CONTEXTS
