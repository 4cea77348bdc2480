"""CEL rows as cel_custom writes them (``asterisk_conf/cel_custom.conf``): the file
format that :mod:`listener.cel` (transfers) and :mod:`listener.celcalls` (calls) read.

A row, as cel_custom writes it (``CSV_QUOTE`` on every column, no header line;
the recorded fixtures add a header line, which is accepted too)::

    "ATTENDEDTRANSFER","2026-11-28 15:07:27","Jean Tremblay","211","","navigators",
    "Local/nav-manual@navigators-00000014;1","AppDial","(Outgoing Line)","1795878443.40",
    "a1-78443-caller","","{""bridge1_id"":""65e4..."",""channel2_name"":""Local/nav-manual@
    navigators-00000014;1"",...,""transfer_target_channel_uniqueid"":""1795878444.42""}"

``eventtime`` is the PBX host's local time: ``2026-11-28 15:07:27`` with ``dateformat =
%F %T``, ``2026-11-28 15:34:22.329592`` with ``%F %T.%6q``, or ``1795880050.123456``
(epoch) when no dateformat is set. All three are read.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

__all__ = [
    "COLUMNS",
    "CelError",
    "CelRow",
    "header_columns",
    "parse_eventtime",
    "parse_row",
    "read_rows",
]

#: Column layout of ``asterisk_conf/cel_custom.conf`` (and of the recorded fixtures).
COLUMNS: tuple[str, ...] = (
    "eventtype",
    "eventtime",
    "cid_name",
    "cid_num",
    "exten",
    "context",
    "channame",
    "appname",
    "appdata",
    "uniqueid",
    "linkedid",
    "peer",
    "extra",
)
_COLUMN_ALIASES = {"eventextra": "extra"}

_EPOCH = re.compile(r"^\d{9,}(?:\.\d+)?$")


class CelError(ValueError):
    """A CEL line that cannot be read as a row of the configured layout."""


@dataclass(frozen=True)
class CelRow:
    """One CEL row. ``eventtime`` is aware UTC; ``precise`` when it had sub-seconds."""

    eventtype: str
    eventtime: datetime
    precise: bool
    cid_name: str
    cid_num: str
    exten: str
    context: str
    channame: str
    appname: str
    appdata: str
    uniqueid: str
    linkedid: str
    peer: str
    extra: Mapping[str, object]


def parse_eventtime(text: str, tz: tzinfo) -> tuple[datetime, bool]:
    """``(aware UTC time, has sub-seconds)`` from any of the three eventtime forms.

    ``tz`` is the time zone of the Asterisk host (cel_custom formats local time).
    In the repeated hour of a DST change a whole-second local time is ambiguous; the
    first occurrence is taken (the key of a fact never depends on its time).
    """
    value = text.strip()
    try:
        if _EPOCH.match(value):
            return datetime.fromtimestamp(float(value), UTC), "." in value
        local = datetime.strptime(
            value, "%Y-%m-%d %H:%M:%S.%f" if "." in value else "%Y-%m-%d %H:%M:%S"
        )
        return local.replace(tzinfo=tz).astimezone(UTC), "." in value
    except (ValueError, OverflowError, OSError):
        # 99999999999999: "year 3170843 is out of range"; 9999-12-31 23:59:59 in a zone
        # behind UTC: "date value out of range".
        raise CelError(f"eventtime not understood: {text[:60]!r}") from None


def _extra(text: str) -> Mapping[str, object]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        # Not JSON, an integer of more than 4300 digits, or arrays nested too deep.
        return {"extra": text}
    return value if isinstance(value, dict) else {"extra": text}


def parse_row(fields: Sequence[str], tz: tzinfo, columns: Sequence[str] = COLUMNS) -> CelRow:
    """A row from its CSV fields, named by ``columns``."""
    if len(fields) != len(columns):
        raise CelError(f"{len(fields)} fields, the layout has {len(columns)}")
    named = dict(zip(columns, fields, strict=True))
    when, precise = parse_eventtime(named.get("eventtime", ""), tz)
    return CelRow(
        eventtype=named.get("eventtype", ""),
        eventtime=when,
        precise=precise,
        cid_name=named.get("cid_name", ""),
        cid_num=named.get("cid_num", ""),
        exten=named.get("exten", ""),
        context=named.get("context", ""),
        channame=named.get("channame", ""),
        appname=named.get("appname", ""),
        appdata=named.get("appdata", ""),
        uniqueid=named.get("uniqueid", ""),
        linkedid=named.get("linkedid", ""),
        peer=named.get("peer", ""),
        extra=_extra(named.get("extra", "")),
    )


def header_columns(fields: Sequence[str]) -> tuple[str, ...] | None:
    """The column names when ``fields`` is a header line (``eventtype,eventtime,...``)."""
    if not fields or fields[0].strip() != "eventtype":
        return None
    return tuple(_COLUMN_ALIASES.get(f.strip(), f.strip()) for f in fields)


def read_rows(lines: Iterable[str], tz: tzinfo) -> Iterator[CelRow]:
    """Rows of complete lines (a header line, if first, names the columns).

    Lines that cannot be read raise :class:`CelError`; `listener.reconcile` reads files
    with its own tolerant loop.
    """
    columns: Sequence[str] = COLUMNS
    reader = csv.reader(lines)
    for number in itertools.count():
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field longer than csv's field_size_limit
            raise CelError(f"line {reader.line_num}: {exc}") from None
        if number == 0 and (named := header_columns(fields)) is not None:
            columns = named
            continue
        if fields:
            yield parse_row(fields, tz, columns)
