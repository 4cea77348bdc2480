"""Reader of the lab's raw AMI recordings (``transcripts/raw/*.raw``), for tests and replays.

A recording is the exact TCP bytes, CRLF kept, cut into chunks by separator lines that
the lab recorder wrote around each ``read()`` or ``write()``::

    #### +1.445793 RECV 408 bytes
    Event: DTMFEnd\\r\\n
    Privilege: dtmf,all\\r\\n
    ...

followed by that many bytes and one ``\\n``. ``NOTE`` separators carry the scenario
driver's comments and no bytes. Two chunks of ``2e-voicemail.raw`` hold 3 bytes fewer
than their separator says (the spool paths in them were rewritten after recording), so
a count that does not land on the next separator gives way to the separator itself.

A RECV chunk may hold several AMI messages or end in the middle of one, so
:func:`messages` joins the RECV bytes before splitting them on the blank line
(``\\r\\n\\r\\n``) and decodes each whole message: decoding chunk by chunk would lose
an accented character split across two reads (panoramisk 1.4's trap).

The recordings of the project's own dialplan (``transcripts/6-project-dialplan/*/ami.txt``)
are text instead: each read or write under a ``--- +  36.576517 RECV (629 bytes) ---``
line (``RECV banner`` for the banner), its line ends written as ``\n``;
:func:`read_log` gives them back as the same :class:`Chunk` s, CRLF restored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Chunk", "TranscriptError", "messages", "read_log", "read_raw"]

_SEPARATOR = re.compile(rb"#### \+(?P<t>\d+(?:\.\d+)?) (?P<kind>RECV|SEND) (?P<n>\d+) bytes\n")
_NOTE = re.compile(rb"#### \+\d+(?:\.\d+)? NOTE[^\n]*\n")
_BANNER = "Asterisk Call Manager/"
_LOG_LINE = re.compile(
    rb"^(?:--- \+ *(?P<t>\d+(?:\.\d+)?) (?P<kind>RECV|SEND)(?: banner)? \(\d+ bytes\) ---"
    rb"|### \+ *\d+(?:\.\d+)? NOTE[^\n]*)\n",
    re.MULTILINE,
)

Direction = Literal["SEND", "RECV"]


class TranscriptError(ValueError):
    """The file is not in the recorder's raw format (truncated chunk, stray bytes)."""


@dataclass(frozen=True)
class Chunk:
    """One ``read()`` (RECV) or ``write()`` (SEND), ``t`` seconds after the scenario start."""

    t: float
    direction: Direction
    data: bytes


def read_raw(path: str | Path) -> list[Chunk]:
    """Parse a ``.raw`` recording into its chunks, in order; NOTE lines are skipped."""
    blob = Path(path).read_bytes()
    chunks: list[Chunk] = []
    pos = 0
    while pos < len(blob):
        if blob[pos] in b"\r\n":
            pos += 1
            continue
        note = _NOTE.match(blob, pos)
        if note:
            pos = note.end()
            continue
        sep = _SEPARATOR.match(blob, pos)
        if sep is None:
            raise TranscriptError(f"{path}: no chunk separator at byte {pos}")
        start = sep.end()
        end = start + int(sep["n"])
        if not _chunk_ends_at(blob, end):
            following = blob.find(b"\n#### +", start)
            if following < 0:
                raise TranscriptError(f"{path}: chunk at byte {pos} is truncated")
            end = following
        direction: Direction = "RECV" if sep["kind"] == b"RECV" else "SEND"
        chunks.append(Chunk(t=float(sep["t"]), direction=direction, data=blob[start:end]))
        pos = end
    return chunks


def read_log(path: str | Path) -> list[Chunk]:
    """Parse a text recording (``ami.txt``) into its chunks, in order; NOTE lines skipped."""
    blob = Path(path).read_bytes()
    found = list(_LOG_LINE.finditer(blob))
    if not found or blob[: found[0].start()].strip():
        raise TranscriptError(f"{path}: not a text AMI recording (no '--- + t RECV' line first)")
    chunks: list[Chunk] = []
    for here, following in zip(found, [*found[1:], None], strict=True):
        if here["kind"] is None:
            continue
        end = following.start() if following is not None else len(blob)
        direction: Direction = "RECV" if here["kind"] == b"RECV" else "SEND"
        data = blob[here.end() : end].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        chunks.append(Chunk(t=float(here["t"]), direction=direction, data=data))
    return chunks


def _chunk_ends_at(blob: bytes, end: int) -> bool:
    if end > len(blob):
        return False
    rest = blob[end : end + 7]
    return rest.strip(b"\r\n") == b"" or rest.startswith(b"\n#### +")


def _parse_message(block: bytes) -> dict[str, str]:
    text = block.decode("utf-8", errors="replace")
    fields: dict[str, str] = {}
    for line in text.split("\r\n"):
        if not line or line.startswith(_BANNER):
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        value = value.strip()
        if name in fields:
            fields[name] = f"{fields[name]}\n{value}"
        else:
            fields[name] = value
    return fields


def messages(chunks: list[Chunk]) -> list[tuple[float, dict[str, str]]]:
    """The AMI messages Asterisk sent, each with the ``t`` of the read that completed it.

    The banner line (``Asterisk Call Manager/11.0.0``, sent again after each reconnect)
    is skipped; a header repeated in one message (``Output:`` lines) is joined with
    newlines; a message cut off by the end of the recording is dropped.
    """
    out: list[tuple[float, dict[str, str]]] = []
    buffer = b""
    for chunk in chunks:
        if chunk.direction != "RECV":
            continue
        buffer += chunk.data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            block, buffer = buffer[:end], buffer[end + 4 :]
            fields = _parse_message(block)
            if fields:
                out.append((chunk.t, fields))
    return out
