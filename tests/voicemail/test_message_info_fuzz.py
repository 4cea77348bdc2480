"""Fuzzing the voicemail metadata reader (``research.message_info.parse_message_text``):
the ``msgNNNN.txt`` app_voicemail writes beside each research message. A file it cannot
use must be refused as such (``SpoolFormatError``: the ingester moves that message aside
and goes on) or left for later (None: still being written); nothing else may come out.

Inputs: the recorded file (``tests/fixtures/voicemail/msg0000.txt``) with lines cut,
swapped, repeated or replaced, values pushed to their edges, and arbitrary bytes. The
number of inputs is the hypothesis profile's (``tests/conftest.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from research.message_info import (
    MAX_DURATION_S,
    SpoolFormatError,
    SpoolMessage,
    parse_message_text,
)

RECORDED = (
    Path(__file__).resolve().parents[1] / "fixtures" / "voicemail" / "msg0000.txt"
).read_bytes()
RECORDED_LINES = RECORDED.splitlines(keepends=True)
KEYS = sorted({line.split(b"=", 1)[0] for line in RECORDED_LINES if b"=" in line})

edge_values = st.sampled_from(
    [b"", b"0", b"-1", b"99999999999999", b"9" * 5000, b"1e9", b" 12 ", b"\xff\xfe", b"=", b"["]
)
any_value = (
    edge_values
    | st.binary(max_size=40)
    | st.sampled_from(
        [line.split(b"=", 1)[1].rstrip(b"\n") for line in RECORDED_LINES if b"=" in line]
    )
)
any_line = st.one_of(
    st.sampled_from(RECORDED_LINES),
    st.tuples(st.sampled_from(KEYS), any_value).map(lambda p: p[0] + b"=" + p[1] + b"\n"),
    st.binary(max_size=60),
    st.sampled_from([b"[message]\n", b"[other]\n", b"[\n", b";\n", b"\n", b"\r\n"]),
)


@st.composite
def mutated_file(draw: st.DrawFn) -> bytes:
    lines = list(RECORDED_LINES)
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["replace", "insert", "delete", "swap"]))
        at = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if action == "replace" and lines:
            lines[at] = draw(any_line)
        elif action == "insert":
            lines.insert(at, draw(any_line))
        elif action == "delete" and lines:
            del lines[at]
        elif lines:
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
    data = b"".join(lines)
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@given(mutated_file() | st.lists(any_line, max_size=30).map(b"".join) | st.binary(max_size=500))
def test_a_metadata_file_is_read_left_for_later_or_refused(data: bytes) -> None:
    try:
        message = parse_message_text(data)
    except SpoolFormatError:
        return
    if message is None:
        return
    assert 0 <= message.duration_s <= MAX_DURATION_S
    assert message.received_at.tzinfo is UTC and message.msg_id


numbers = st.from_regex(r"\+?[0-9]{3,15}", fullmatch=True)
names = st.from_regex(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ' -]{0,28}[A-Za-zÀ-ÿ]", fullmatch=True).filter(
    lambda n: n.strip().lower() not in {"unknown", "anonymous", "restricted", "private"}
)


@given(
    st.integers(1_000_000_000, 4_102_444_800),
    st.integers(0, MAX_DURATION_S),
    names,
    numbers,
    st.sampled_from(["fr", "en"]),
    st.none() | numbers,
    st.integers(0, 9999),
)
def test_a_file_as_app_voicemail_writes_it_round_trips(
    origtime: int,
    duration: int,
    name: str,
    number: str,
    language: str,
    callback: str | None,
    counter: int,
) -> None:
    msg_id = f"{origtime}-{counter:08d}"
    category = f"{language}/{callback}" if callback else language
    text = RECORDED.decode()
    for key, value in {
        "callerid": f'"{name}" <{number}>',
        "origtime": str(origtime),
        "category": category,
        "msg_id": msg_id,
        "duration": str(duration),
    }.items():
        text = "".join(
            f"{key}={value}\n" if line.startswith(f"{key}=") else line
            for line in text.splitlines(keepends=True)
        )
    assert parse_message_text(text.encode()) == SpoolMessage(
        msg_id=msg_id,
        received_at=datetime.fromtimestamp(origtime, UTC),
        duration_s=duration,
        caller_name=name,
        caller_number=number,
        callback_number=callback,
        language=language,
    )


def test_the_recorded_file_is_read() -> None:
    message = parse_message_text(RECORDED)
    assert message is not None and message.msg_id == "1795879141-00000000"
    assert len(KEYS) >= 10
