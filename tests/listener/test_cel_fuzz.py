"""Fuzzing the CEL reader (``listener.cel``): what cel_custom writes on the PBX host is
read at every start of the listener (reconciliation), so one unreadable line must be
refused as such (``CelError``, which the reconciliation skips), never stop the reading.

Inputs: the recorded rows of ``tests/fixtures/cel/`` with fields swapped, cut or
replaced, and arbitrary text. The number of inputs is the hypothesis profile's
(``tests/conftest.py``).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from listener.cel import (
    COLUMNS,
    CelError,
    CelRow,
    facts_from_rows,
    parse_eventtime,
    parse_row,
    read_rows,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cel"
PBX_ZONE = ZoneInfo("America/Toronto")


def _recorded() -> list[list[str]]:
    rows: list[list[str]] = []
    for path in sorted(FIXTURES.glob("*.csv")):
        for fields in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))):
            if fields and fields[0] != "eventtype":
                rows.append(fields)
    return rows


RECORDED = _recorded()
RECORDED_VALUES = sorted({value for row in RECORDED for value in row})
TIMES = sorted({row[1] for row in RECORDED})

# Values a field may take: one seen in the recordings, a recorded time pushed to its
# edges, or anything.
any_value = st.one_of(
    st.sampled_from(RECORDED_VALUES),
    st.sampled_from(["99999999999999", "9" * 30, "1" * 5000, "[" * 5000, "-1", "0"]),
    st.sampled_from(["9999-12-31 23:59:59", "0001-01-01 00:00:00.000000", "2026-02-30 00:00"]),
    st.text(max_size=40),
    st.from_regex(r"-?\d{1,25}(\.\d{0,9})?", fullmatch=True),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=8,
    ).map(json.dumps),
)


@st.composite
def mutated_row(draw: st.DrawFn) -> list[str]:
    row = list(draw(st.sampled_from(RECORDED)))
    for _ in range(draw(st.integers(0, 3))):
        row[draw(st.integers(0, len(row) - 1))] = draw(any_value)
    if draw(st.integers(0, 9)) == 0:
        row = row[: draw(st.integers(0, len(row)))]
    return row


any_fields = mutated_row() | st.lists(any_value, max_size=15)


@given(any_value | st.text(max_size=60))
def test_an_eventtime_is_read_or_refused_with_a_cel_error(text: str) -> None:
    try:
        when, _precise = parse_eventtime(text, PBX_ZONE)
    except CelError:
        return
    assert when.tzinfo is UTC


@given(any_fields)
def test_a_row_is_read_or_refused_with_a_cel_error(fields: list[str]) -> None:
    try:
        row = parse_row(fields, PBX_ZONE)
    except CelError:
        return
    assert row.eventtime.tzinfo is UTC and len(fields) == len(COLUMNS)


@given(st.lists(any_fields, max_size=10), st.booleans())
def test_cel_lines_are_read_or_refused_with_a_cel_error(
    rows: list[list[str]], header: bool
) -> None:
    out = io.StringIO()
    if header:
        out.write(",".join(COLUMNS) + "\r\n")
    csv.writer(out, quoting=csv.QUOTE_ALL).writerows(rows)
    try:
        read = list(read_rows(io.StringIO(out.getvalue(), newline=""), PBX_ZONE))
    except CelError:
        return
    assert len(read) <= len(rows)


@given(st.lists(mutated_row(), max_size=40))
def test_the_interpreter_takes_any_readable_rows(rows: list[list[str]]) -> None:
    readable: list[CelRow] = []
    for fields in rows:
        try:
            readable.append(parse_row(fields, PBX_ZONE))
        except CelError:
            continue
    facts = facts_from_rows(readable, lambda exten, context: exten or None)
    assert len({fact.key for fact in facts}) <= len(facts)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# From 2001 (an epoch eventtime has 9 digits or more) to 2100.
times = st.integers(10**15, 4_102_444_800 * 10**6).map(
    lambda us: EPOCH + timedelta(microseconds=us)
)
text_fields = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)


@given(times, st.sampled_from(["epoch", "local", "local-seconds"]), text_fields, text_fields)
def test_a_row_as_cel_custom_writes_it_round_trips(
    when: datetime, form: str, name: str, appdata: str
) -> None:
    if form == "epoch":
        eventtime = f"{when.timestamp():.6f}"
    elif form == "local":
        eventtime = when.strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        when = when.replace(microsecond=0)
        eventtime = when.strftime("%Y-%m-%d %H:%M:%S")
    fields = ["BRIDGE_ENTER", eventtime, name, "5145550123", "2001", "lab211"]
    fields += ["PJSIP/1001-00000000", "Dial", appdata, "1.0", "1.0", "", '{"bridge_id":"b"}']
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL).writerow(fields)
    (row,) = read_rows(io.StringIO(out.getvalue(), newline=""), UTC)
    assert (row.eventtime, row.precise) == (when, form != "local-seconds")
    assert (row.cid_name, row.appdata, dict(row.extra)) == (name, appdata, {"bridge_id": "b"})


def test_a_field_past_the_csv_reader_limit_is_refused_as_a_cel_error() -> None:
    line = '"CHAN_START","' + "9" * (csv.field_size_limit() + 1) + '"\r\n'
    with pytest.raises(CelError):
        list(read_rows([line], PBX_ZONE))


@pytest.mark.parametrize(
    "eventtime",
    ["99999999999999", "9" * 30, "9999-12-31 23:59:59", "9999-12-31 23:59:59.999999"],
)
def test_an_eventtime_out_of_range_is_refused_as_a_cel_error(eventtime: str) -> None:
    with pytest.raises(CelError):
        parse_eventtime(eventtime, PBX_ZONE)


@pytest.mark.parametrize("extra", ["1" * 5000, "[" * 100_000])
def test_an_extra_json_cannot_read_is_kept_as_text(extra: str) -> None:
    fields = list(RECORDED[0])
    fields[COLUMNS.index("extra")] = extra
    assert dict(parse_row(fields, PBX_ZONE).extra) == {"extra": extra}


def test_the_recordings_are_read_whole() -> None:
    rows = [parse_row(fields, PBX_ZONE) for fields in RECORDED]
    assert len(rows) == len(RECORDED) > 100
    assert len(TIMES) > 10
