"""The message information file app_voicemail writes beside each recording.

``msg0000.txt`` (from ``2e-voicemail-spool.txt``) is an ini-like file::

    ;
    ; Message Information file
    ;
    [message]
    origmailbox=1001
    callerid="Marie Gagnon" <4185550199>
    origtime=1795879141
    category=
    msg_id=1795879141-00000000
    flag=
    duration=1

The dialplan sets ``VM_CATEGORY`` to the caller's language, followed by ``/`` and the
callback number the caller keyed when their number was withheld (``fr``, ``en/4185550123``;
``ivr.dialplan.vm_category``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ivr.callerid import caller_name, caller_number
from ivr.dialplan import parse_vm_category

__all__ = [
    "IngestError",
    "SpoolFormatError",
    "SpoolMessage",
    "parse_callerid",
    "parse_category",
    "parse_message_text",
]

_MSG_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$")
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:_[A-Za-z]{2})?$")
#: A recording longer than a day is not one app_voicemail made (``maxsecs`` is minutes);
#: the bound also keeps the value inside the database's integer column.
MAX_DURATION_S = 86_400


class IngestError(Exception):
    """A spool message could not be ingested."""


class SpoolFormatError(IngestError):
    """A spool message file that is not what app_voicemail writes."""


@dataclass(frozen=True)
class SpoolMessage:
    """What a complete ``msgNNNN.txt`` says about its message."""

    msg_id: str
    received_at: datetime
    duration_s: int
    caller_name: str | None
    caller_number: str | None
    callback_number: str | None
    language: str | None


def parse_message_text(data: bytes) -> SpoolMessage | None:
    """Parse ``msgNNNN.txt``; None while it is incomplete (no final newline, no msg_id or
    duration yet). Raises :class:`SpoolFormatError` for anything else that is wrong.

    As Asterisk's config reader does: ``;`` starts a comment, ``[name]`` a section, and the
    first ``=`` splits a key from its value.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if not text.endswith("\n"):
        return None
    section: str | None = None
    fields: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            raise SpoolFormatError(f"line {lineno}: not key=value in a section: {line[:60]!r}")
        if section == "message":
            fields.setdefault(key.strip(), value.strip())
    if section is None:
        raise SpoolFormatError("no [message] section")
    if not fields.get("msg_id") or "duration" not in fields:
        return None
    msg_id = fields["msg_id"]
    if not _MSG_ID.match(msg_id):
        raise SpoolFormatError(f"unusable msg_id {msg_id[:70]!r}")
    try:
        origtime = int(fields.get("origtime", ""))
        duration = int(fields["duration"])
    except ValueError:
        raise SpoolFormatError("origtime and duration must be whole numbers") from None
    if not 0 <= duration <= MAX_DURATION_S:
        raise SpoolFormatError(f"duration {duration} out of range (0 to {MAX_DURATION_S} s)")
    if origtime <= 0:
        raise SpoolFormatError(f"origtime {origtime} out of range")
    try:
        received_at = datetime.fromtimestamp(origtime, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        # origtime=99999999999999: "year 3170843 is out of range"
        raise SpoolFormatError(f"origtime {str(origtime)[:24]} is no time: {exc}") from None
    name, number = parse_callerid(fields.get("callerid", ""))
    language, callback = parse_category(fields.get("category", ""))
    return SpoolMessage(
        msg_id=msg_id,
        received_at=received_at,
        duration_s=duration,
        caller_name=name,
        caller_number=number,
        callback_number=callback,
        language=language,
    )


def parse_callerid(value: str) -> tuple[str | None, str | None]:
    """``"Marie Gagnon" <4185550199>`` -> ("Marie Gagnon", "4185550199").

    app_voicemail writes ``"name" <number>``, the name or the number alone, or
    ``Unknown`` when it has neither. A withheld number (``ivr.callerid``: ``"Anonymous"
    <anonymous>``, ``Restricted``...) and a withheld name are None, and so is a number
    that is not one (``_NUMBER``).
    """
    value = value.strip()
    name, number = value, ""
    match = re.match(r"^(.*?)\s*<([^>]*)>\s*$", value)
    if match:
        name, number = match.group(1), match.group(2)
    elif _NUMBER.match(value):
        name, number = "", value
    shown = caller_number(number)
    return (caller_name(name), shown if shown and _NUMBER.match(shown) else None)


def parse_category(value: str) -> tuple[str | None, str | None]:
    """``fr`` -> ("fr", None); ``en/4185550123`` -> ("en", "4185550123") (the dialplan's
    ``ivr.dialplan.vm_category``); a value that is not a language or a number is None."""
    language, callback = parse_vm_category(value)
    return (
        language.lower() if language and _LANGUAGE.match(language) else None,
        callback if callback and _NUMBER.match(callback) else None,
    )
