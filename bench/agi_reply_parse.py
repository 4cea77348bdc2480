"""Reading one AGI reply line of 64 KiB (the server's line limit) built to make a
backtracking parser retry every ``)``, beside a plain line of the same length (the
baseline), and beside the regular expression the project used before.

    .venv/bin/python bench/agi_reply_parse.py

A reply line reaches ``agi_scripts.protocol.parse_reply_line`` from whoever holds the
FastAGI connection, and the server's one event loop waits while it is read: every call
in progress waits with it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable

from agi_scripts.errors import AgiProtocolError
from agi_scripts.protocol import LINE_LIMIT, parse_reply_line

BEFORE = re.compile(
    r"200 result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?P<extra>(?: [A-Za-z_]+=\S*)*)"
)
UNIT = ") a=b"


def hostile(length: int) -> str:
    head = "200 result=1 ("
    return head + UNIT * ((length - len(head) - 2) // len(UNIT)) + " !"


def plain(length: int) -> str:
    head = "200 result=1 ("
    return head + "x" * (length - len(head) - 1) + ")"


def best_of(runs: int, parse: Callable[[str], object], line: str) -> float:
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        with contextlib.suppress(AgiProtocolError):
            parse(line)
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    print(f"{'line':>8} {'bytes':>7} {'plain (baseline)':>17} {'hostile':>12} {'before':>12}")
    for length in (4096, 16384, LINE_LIMIT - 1):
        base = best_of(5, parse_reply_line, plain(length))
        now = best_of(5, parse_reply_line, hostile(length))
        old = best_of(1, BEFORE.fullmatch, hostile(length))
        print(
            f"{'reply':>8} {length:>7} {base * 1e3:>14.3f} ms {now * 1e3:>9.3f} ms"
            f" {old * 1e3:>9.1f} ms"
        )


if __name__ == "__main__":
    main()
