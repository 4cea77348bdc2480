"""A value from outside cannot forge a log line: the real FastAGI server on 127.0.0.1
logs a header whose ``agi_uniqueid`` and ``agi_channel`` carry a carriage return (the
line itself ends with ``\\r\\n``, as a hand-made client may send) as one record, the
control characters escaped; and the formatter ``ivr211`` logs with escapes whatever a
log call forgot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

import pytest
from agi_fakes import header_for, running_server

from ivr.logsafe import EscapingFormatter, printable

FORGED = "CRITICAL agi_scripts.server: forged"


def forged_header() -> list[bytes]:
    lines = []
    for line in header_for(route="no-such-route"):
        key = line.split(b":", 1)[0]
        if key == b"agi_uniqueid":
            line = f"agi_uniqueid: 1712345678.1\r{FORGED}\r\n".encode()
        elif key == b"agi_channel":
            line = f"agi_channel: SIP/a\r\x1b[2K{FORGED}\r\n".encode()
        lines.append(line)
    return [*lines, b"\n"]


async def send_and_wait_for_close(port: int, lines: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.writelines(lines)
        await writer.drain()
        async with asyncio.timeout(10):
            while await reader.read(4096):
                pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def test_a_carriage_return_in_a_header_value_is_escaped_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with running_server() as opts:
            await send_and_wait_for_close(opts.port, forged_header())

    with caplog.at_level(logging.INFO, logger="agi_scripts"):
        asyncio.run(scenario())
    about_it = [r.getMessage() for r in caplog.records if "forged" in r.getMessage()]
    assert len(about_it) == 2  # the unknown route's warning and the call's line
    for message in about_it:
        assert not any(ch in message for ch in "\r\n\x1b")
    assert "1712345678.1\\rCRITICAL agi_scripts.server: forged" in about_it[0]
    assert "SIP/a\\r\\x1b[2KCRITICAL" in about_it[0]
    assert "uniqueid=1712345678.1\\rCRITICAL agi_scripts.server: forged " in about_it[1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1712345678.1", "1712345678.1"),
        ("Élodie Côté", "Élodie Côté"),
        ("a\rb\nc\td", "a\\rb\\nc\\td"),
        ("\x00\x1b\x7f\x85\u2028\u2029", "\\x00\\x1b\\x7f\\x85\\u2028\\u2029"),
        ("C:\\r", "C:\\\\r"),  # a real backslash cannot pass for an escape
        (ValueError("bad\rline"), "bad\\rline"),
    ],
)
def test_printable(value: object, expected: str) -> None:
    assert printable(value) == expected


def test_the_formatter_escapes_what_a_log_call_left_raw() -> None:
    formatter = EscapingFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord(
        "listener", logging.INFO, __file__, 1, "caller %s said %r", ("5145550100\rX", "b\nc"), None
    )
    assert formatter.format(record) == "INFO caller 5145550100\\rX said 'b\\nc'"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    formatted = formatter.format(record)
    assert formatted.startswith("INFO caller 5145550100\\rX said 'b\\nc'\nTraceback")
    assert formatted.endswith("RuntimeError: boom")
    # a value escaped by printable() is not escaped twice
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (printable("a\rb"),), None)
    assert formatter.format(record) == "INFO a\\rb"
