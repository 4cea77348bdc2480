"""Calls dropped while the FastAGI server is down: the figure, over a whole week.

A call every hour of a week (and on a public holiday) runs ``asterisk_conf/
extensions.conf`` in ``dialplan_sim``, whose ``AGI()`` connects over real TCP as res_agi
does, with the FastAGI server down in each way the recordings show: the port refuses
the connection (1g), the server reads the header and closes (1i), the flow answers and
dies in the middle (1f). A call is *dropped* when it neither reaches the navigators'
queue nor hears the emergency numbers before it ends: there must be none.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from .dialplan_sim import Call, Dialplan
from .test_fallback import (
    CLOSED,
    QUEUE,
    TZ,
    FlowServer,
    Script,
    close_after_header,
    dies_mid_flow,
)

MONDAY = datetime(2025, 6, 9, 0, 30, tzinfo=TZ)
WEEK = [MONDAY + timedelta(hours=h) for h in range(7 * 24)]
HOLIDAY = [datetime(2025, 6, 24, h, 30, tzinfo=TZ) for h in (10, 14)]  # Fête nationale
MOMENTS = WEEK + HOLIDAY


@pytest.fixture(scope="module")
def dialplan() -> Dialplan:
    return Dialplan.load()


def _refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"agi://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture(params=["refused", "closes-after-header", "dies-mid-flow"])
def fastagi(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "refused":
        yield _refused_url()
        return
    script: Script = close_after_header if request.param == "closes-after-header" else dies_mid_flow
    # One connection per call, and one for a call that comes back from the queue.
    with FlowServer([script] * (2 * len(MOMENTS))) as server:
        yield server.url


def test_no_call_is_dropped_with_the_fastagi_server_down(dialplan: Dialplan, fastagi: str) -> None:
    queued = emergency = dropped = 0
    for now in MOMENTS:
        result = Call(
            dialplan,
            now=now,
            astdb={},
            queue_outcomes=["CONNECTED"],
            dial_outcomes=[],
            voicemail_outcomes=[],
            global_overrides={"FASTAGI": fastagi},
            pushed_globals={},
        ).run("from-trunk-211", "211")
        if result.apps(QUEUE):
            queued += 1
        elif result.heard()[-len(CLOSED) :] == CLOSED:
            emergency += 1
        else:
            dropped += 1
    print(
        f"FastAGI down: {len(MOMENTS)} calls, {queued} queued, {emergency} told the "
        f"emergency numbers, {dropped} dropped"
    )
    assert dropped == 0
    assert queued > 0 and emergency > 0, "the week has open and closed hours"
    assert queued + emergency == len(MOMENTS)
