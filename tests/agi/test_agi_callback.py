"""The research box over FastAGI: a withheld caller types a callback number.

The fake Asterisk answers with the recorded lines: ``GET DATA beep 6000 3`` ->
``200 result=42`` (1a, keys 4 2 #; only the digits change), ``GET DATA beep 700 2`` ->
``200 result= (timeout)`` (1a), ``GET DATA no-such-prompt 1000 1`` -> ``200 result=-1``
on a live channel (5a), ``SAY DIGITS 211 ""`` -> ``200 result=0`` (1a).
"""

from __future__ import annotations

import asyncio

import pytest
from agi_fakes import (
    CLOSED_NOW,
    DEAD,
    GET_DATA_MISSING,
    MISSING,
    FakeAsterisk,
    header_for,
    recorded,
    running_server,
)

NUMBER = "4185550199"
WITHHELD = header_for(source="5a-agi-missing-prompt.txt")  # agi_callerid: unknown
ENTRY = "GET DATA 211/callback-request 5000 11"


def call(
    keys: list[str], *, fake: FakeAsterisk | None = None, header: list[bytes] = WITHHELD
) -> FakeAsterisk:
    async def scenario() -> FakeAsterisk:
        async with running_server(now=CLOSED_NOW) as opts:
            caller = fake or FakeAsterisk(opts.port, header=header, keys=keys)
            caller.port = opts.port
            return await caller.run()

    return asyncio.run(scenario())


def test_the_recorded_header_is_a_withheld_number() -> None:
    assert b"agi_callerid: unknown\n" in WITHHELD
    assert recorded("5a-agi-missing-prompt.txt", b"GET DATA no-such-prompt 1000 1\n") == (
        GET_DATA_MISSING
    )


def test_withheld_caller_types_and_confirms_a_callback_number() -> None:
    fake = call(["3", NUMBER, "1"])  # closed line, research key, the number, 1 = yes
    assert fake.variables["IVR_ROUTE"] == "research"
    assert fake.variables["IVR_CALLBACK"] == NUMBER
    assert fake.variables["IVR_FLOW_DONE"] == "1"
    assert fake.commands.count(ENTRY) == 1
    assert f'SAY DIGITS {NUMBER} ""' in fake.commands
    assert fake.variables["__IVR_PATH"] == (
        "closed:after_hours/menu:3/research/callback:withheld/callback:entered/callback:confirmed"
    )
    assert [p for p, _ in fake.prompts[-6:]] == [
        "211/research-intro",
        "211/consent-notice",
        "211/callback-request",
        "211/callback-you-entered",
        "211/callback-confirm",
        "211/research-record",
    ]
    assert {lang for _, lang in fake.prompts[-6:]} == {"fr"}


# A SIP trunk presents a withheld number as "Anonymous" <anonymous> (README of the
# recordings, 2026-12-04; 6c itself recorded a caller with no caller ID at all, which 5a's
# header covers). No recorded FastAGI header carries these words: each case is 1a's
# recorded header with only agi_callerid / agi_calleridname / agi_callingpres changed.
WITHHELD_FORMS = {
    "sip-anonymous": header_for(callerid="anonymous", calleridname="Anonymous"),
    "restricted": header_for(callerid="RESTRICTED", calleridname="RESTRICTED"),
    "private": header_for(callerid="Private", calleridname="Private"),
    "unavailable": header_for(callerid="unavailable", calleridname="unavailable"),
    "no-digits": header_for(callerid="anonymous.invalid", calleridname="Anonymous"),
    "presentation-prohibited": header_for(callingpres="32"),  # 1a's number, hidden
    "presentation-unavailable": header_for(callingpres="67"),  # 5a's value
}


@pytest.mark.parametrize("form", sorted(WITHHELD_FORMS))
def test_every_withheld_form_is_asked_for_a_callback_number(form: str) -> None:
    fake = call(["3", NUMBER, "1"], header=WITHHELD_FORMS[form])
    assert fake.commands.count(ENTRY) == 1
    assert fake.variables["IVR_CALLBACK"] == NUMBER
    assert "/callback:withheld/" in fake.variables["__IVR_PATH"]
    assert fake.variables["IVR_FLOW_DONE"] == "1"


def test_a_shown_number_is_not_asked_for() -> None:
    """1a's header as recorded: ``agi_callerid: 5145550100``, ``agi_callingpres: 0``."""
    shown = header_for()
    assert b"agi_callerid: 5145550100\n" in shown and b"agi_callingpres: 0\n" in shown
    fake = call(["3"], header=shown)
    assert fake.commands.count(ENTRY) == 0
    assert fake.variables["IVR_ROUTE"] == "research"
    assert fake.variables["IVR_CALLBACK"] == ""
    assert fake.variables["__IVR_PATH"].endswith("menu:3/research")


def test_re_entry_with_2_keeps_the_second_number() -> None:
    fake = call(["9", "3", NUMBER, "2", "5815550123", "1"])
    assert fake.variables["IVR_CALLBACK"] == "5815550123"
    assert fake.variables["__IVR_LANG"] == "en"
    assert fake.commands.count(ENTRY) == 2
    assert fake.variables["IVR_FLOW_DONE"] == "1"


def test_silence_at_every_entry_takes_the_message_without_a_number() -> None:
    fake = call(["3", "t", "t", "t"])
    assert fake.commands.count(ENTRY) == 3
    assert fake.variables["IVR_ROUTE"] == "research"
    assert fake.variables["IVR_CALLBACK"] == ""
    assert fake.variables["IVR_FLOW_DONE"] == "1"
    assert fake.variables["__IVR_PATH"].endswith("callback:timeout/callback:none")
    assert fake.count("SAY DIGITS") == 0


def test_missing_prompt_on_a_live_channel_does_not_lose_the_caller() -> None:
    """5a: GET DATA of a missing file answers ``200 result=-1`` on a live channel;
    ``CHANNEL STATUS`` (1a: ``200 result=6``) shows the caller is still there."""
    fake = call(["3", MISSING, MISSING, MISSING])
    assert fake.commands.count(ENTRY) == 3
    assert fake.count("CHANNEL STATUS") >= 3
    assert fake.variables["IVR_ROUTE"] == "research"
    assert fake.variables["IVR_CALLBACK"] == ""
    assert fake.variables["IVR_FLOW_DONE"] == "1"


def test_caller_gone_during_the_entry_is_a_hang_up() -> None:
    """A hang-up during GET DATA is not in the recordings: this one is 5a's ``-1``
    followed by 1b's ``511`` to the ``CHANNEL STATUS`` that checks the channel."""

    def gone(fake: FakeAsterisk, command: str) -> list[bytes] | None:
        if command.startswith("GET DATA "):
            fake.hung_up = True
            return GET_DATA_MISSING
        return None

    fake = FakeAsterisk(0, header=WITHHELD, keys=["3"], override=gone)
    fake = call([], fake=fake)
    assert fake.count("CHANNEL STATUS") == 1
    assert DEAD[0].startswith(b"511 ")
    assert fake.variables["IVR_ROUTE"] == "hangup"
    assert "IVR_FLOW_DONE" not in fake.variables or fake.variables["IVR_FLOW_DONE"] == ""
    assert fake.variables["__IVR_PATH"].endswith("callback:withheld/hangup")
    assert "IVR_CALLBACK" not in fake.variables
