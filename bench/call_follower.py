"""What following the calls costs the listener's event loop: events per second through
``listener.calls.CallFollower``, beside ``listener.live.LiveTracker`` (the other pure
state machine every event already goes through) measured in the same run.

Prints figures; asserts nothing. Run from the repository root::

    .venv/bin/python bench/call_follower.py            # 3 runs, best of each
    .venv/bin/python bench/call_follower.py --rounds 50

The events are the recorded queue scenarios (``tests/fixtures/ami/raw``: 2j, 2m,
2p1-2p4, with their ``Timestamp`` headers) as the link hands them over (dicts), played
``--rounds`` times in a row through one follower; each round's calls begin, wait, are
answered or leave, and end, so the state stays bounded as on a real day.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from listener.calls import CallFollower
from listener.live import LiveTracker
from listener.transcripts import messages, read_raw

RAW = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami" / "raw"
SCENARIOS = (
    "2j-queue-member-actions",
    "2m-fastagi-ivr-vars-then-queue",
    "2p1-queue-abandon-after-wait",
    "2p2-queue-answered-after-5s",
    "2p3-queue-timeout",
    "2p4-queue-leaveempty-joinempty",
)
BASE = datetime(2026, 12, 4, tzinfo=UTC)


def events() -> list[tuple[datetime, dict[str, str]]]:
    found: list[tuple[datetime, dict[str, str]]] = []
    for name in SCENARIOS:
        found += [
            (BASE + timedelta(seconds=t), m) for t, m in messages(read_raw(RAW / f"{name}.raw"))
        ]
    return found


def rate(
    make: Callable[[], Any], stream: Sequence[tuple[datetime, Mapping[str, str]]], rounds: int
) -> float:
    machine = make()
    start = time.perf_counter()
    for _ in range(rounds):
        for received_at, event in stream:
            machine.feed(event, received_at)
    return len(stream) * rounds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    stream = events()
    print(f"{len(stream)} events x {args.rounds} rounds, best of {args.runs} runs")
    for name, make in (("LiveTracker (baseline)", LiveTracker), ("CallFollower", CallFollower)):
        best = max(rate(make, stream, args.rounds) for _ in range(args.runs))
        print(f"{name:24} {best:12,.0f} events/s  {1e6 / best:6.2f} us/event")


if __name__ == "__main__":
    main()
