"""The AMI wire under :class:`listener.ami.AmiLink`: panoramisk's protocol and manager,
with two of their traps guarded (measured against Asterisk 22,
``transcripts/3-panoramisk-compat.txt``):

* panoramisk decodes each TCP read on its own with errors ignored, so ``CallerIDName:
  Amélie`` cut between the two bytes of ``é`` loses the letter. :class:`AmiProtocol`
  decodes with an incremental UTF-8 decoder (``errors="replace"``).
* its read buffer grows without bound until a blank line arrives: a message longer
  than ``max_message_bytes`` is dropped (and logged) and the stream resynchronises on
  the next blank line.

An event (a message that starts with ``Event:``) is read once, straight into the plain
dict the subscribers get (:func:`read_event`), with the result panoramisk's ``Message``
and :func:`to_event` would give: building the ``Message`` (a case-insensitive dict) and
converting it cost three quarters of the listener's time per event. A message this
reading does not cover exactly (a reply to an action, an event an action waits for by
its ``ActionID`` or ``CommandID``, an event with a ``Content`` header or two headers
differing only by case, ``Shutdown``) goes through panoramisk as before.

:class:`LinkManager` hands every message and the loss of the connection to its link,
drops the actions left unanswered (never re-sent) and leaves the keepalive to the link.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import unquote

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

__all__ = [
    "BANNER",
    "EOM",
    "MIB",
    "AmiProtocol",
    "Event",
    "LinkManager",
    "read_event",
    "to_event",
]

log = logging.getLogger("listener.ami")  # the link's log: one name for what the AMI does

BANNER = "Asterisk Call Manager/"
EOM = "\r\n\r\n"
MIB = 1024 * 1024

Event = dict[str, str]


def to_event(message: Mapping[str, Any]) -> Event:
    """A panoramisk ``Message`` as a plain dict; a repeated header is joined with newlines
    (as ``listener.transcripts`` does), panoramisk's own ``content`` key is left out."""
    event: Event = {}
    for key, value in message.items():
        if key == "content" and not value:
            continue
        event[str(key)] = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    return event


_EVENT = "Event: "

#: The layout of an event: the exact names of its ``CommandID``, ``ActionID`` and
#: ``Result`` headers (None when absent), the headers panoramisk reads with a meaning of
#: its own: the id of the action a message answers, an unquoted result.
_Layout = tuple[str | None, str | None, str | None]
_PLAIN: _Layout = (None, None, None)
_LAYOUTS: dict[tuple[str, ...], _Layout | None] = {}  # header names -> layout, or None
_LAYOUTS_MAX = 4096  # distinct layouts remembered (a few dozen in practice)


def _layout(names: tuple[str, ...]) -> _Layout | None:
    """None when two of ``names`` differ only by case or one is ``Content`` (the body of
    a reply, which panoramisk's ``Message`` replaces): let panoramisk read the event."""
    if names in _LAYOUTS:
        return _LAYOUTS[names]
    lowered = [name.lower() for name in names]
    layout: _Layout | None = None
    if len(set(lowered)) == len(names) and "content" not in lowered:
        found = dict(zip(lowered, names, strict=True))
        layout = (found.get("commandid"), found.get("actionid"), found.get("result"))
    if len(_LAYOUTS) >= _LAYOUTS_MAX:
        _LAYOUTS.clear()
    _LAYOUTS[names] = layout
    return layout


def read_event(block: str, responses: Mapping[Any, Any] | None = None) -> Event | None:
    """The event in ``block`` (one message, stripped, without its blank line) as
    ``to_event(Message.from_line(block))`` gives it, when panoramisk would hand it to
    ``dispatch``: it starts with ``Event:``, no two header names differ only by case,
    it has no ``Content`` header, it is not ``Shutdown``, and no action waiting in
    ``responses`` (the protocol's, by ``CommandID`` or ``ActionID``) claims it. A
    ``Result`` value is unquoted as panoramisk does. Anything else, or a repeated
    ``Event``, ``CommandID``, ``ActionID`` or ``Result`` header (panoramisk keeps a list
    there): None (let panoramisk read it)."""
    if not block.startswith(_EVENT):
        return None
    event: Event = {}
    for line in block.split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            if key in event:
                event[key] = f"{event[key]}\n{value}"
            else:
                event[key] = value
    layout = _layout(tuple(event))
    if layout is None:
        return None
    name = event["Event"]
    if "\n" in name or name.lower() == "shutdown":
        return None
    if layout == _PLAIN:
        if responses and responses.get(None) is not None:
            return None
        return event
    command_key, action_key, result_key = layout
    if result_key is not None:
        result = event[result_key]
        if "\n" in result:
            return None
        event[result_key] = unquote(result).strip()
    action_id = None if action_key is None else event[action_key]
    ident = event[command_key] if command_key is not None else action_id
    if "\n" in (ident or "") or "\n" in (action_id or ""):
        return None
    if responses and (
        responses.get(ident) is not None or (action_id and responses.get(action_id) is not None)
    ):
        return None
    return event


_ROUTING_HEADERS = frozenset({"event", "response", "actionid", "commandid"})


def _repeated_own_header(block: str) -> str | None:
    """The first header panoramisk routes a message by (``Event``, ``Response``,
    ``ActionID``...) that ``block`` holds twice, if any."""
    seen: set[str] = set()
    for line in block.split("\r\n"):
        name = line.partition(":")[0].strip().lower()
        if name in _ROUTING_HEADERS:
            if name in seen:
                return name
            seen.add(name)
    return None


class AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol with an incremental decoder and a bounded buffer.

    One instance per TCP connection (``Manager`` is given this class as its
    ``protocol_factory``). It notifies its factory of the loss of the connection exactly
    once, whoever closed it (panoramisk's does not when it closed the transport itself).
    """

    max_message_chars: int = MIB

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._discarding = False
        self._discarded = 0
        self._lost_notified = False
        self._close_reason: object = None
        self._at_start = True

    def data_received(self, data: bytes) -> None:
        text = self._pending + self._decoder.decode(data)
        self._pending = ""
        if self._at_start:
            if len(text) < len(BANNER) and BANNER.startswith(text):
                self._pending = text
                return
            self._at_start = False
            if text.startswith(BANNER):
                line, sep, rest = text.partition("\r\n")
                if not sep:
                    self._pending, self._at_start = text, True
                    return
                self.version = line[len(BANNER) :].strip()
                text = rest
        self._split(text)

    def _split(self, text: str) -> None:
        limit = self.max_message_chars
        pos, size = 0, len(text)  # read in place: no copy of what is left after each message
        while pos < size:
            end = text.find(EOM, pos)
            if self._discarding:
                if end < 0:
                    self._discarded += max(0, size - pos - 3)
                    self._pending = text[max(pos, size - 3) :]
                    return
                self._discarded += end - pos
                log.error(
                    "AMI: dropped a message of about %d bytes (limit %d)",
                    self._discarded,
                    limit,
                )
                self._discarding = False
                self._discarded = 0
                pos = end + len(EOM)
                continue
            if end < 0:
                if size - pos > limit:
                    self._discarding = True
                    self._discarded = size - pos - 3
                    self._pending = text[size - 3 :]
                else:
                    self._pending = text[pos:]
                return
            if end - pos > limit:
                log.error("AMI: dropped a message of %d bytes (limit %d)", end - pos, limit)
            else:
                self._handle_block(text[pos:end].strip())
            pos = end + len(EOM)

    def _handle_block(self, block: str) -> None:
        event = read_event(block, self.responses)
        if event is not None:
            try:
                self.factory.dispatch_event(event)
            except Exception:
                log.exception("AMI: message not handled: %.200r", block)
            return
        message = Message.from_line(block)
        if message is None:
            return
        try:
            self.handle_message(message)
        except (AttributeError, TypeError):
            repeated = _repeated_own_header(block)
            if repeated is None:
                log.exception("AMI: message not handled: %.200r", block)
            else:
                # Two messages run together (no blank line between them): panoramisk got
                # the header as a list. Neither half can be trusted; one line says so.
                log.error("AMI: dropped a message that repeats its %s header", repeated)
        except Exception:
            log.exception("AMI: message not handled: %.200r", block)

    def abort(self, reason: object) -> None:
        """Close the connection on our side; the factory hears ``reason``."""
        self._close_reason = reason
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_lost_notified", True):
            return
        self._lost_notified = True
        if self._pending.strip() or self._discarding:
            log.warning("AMI: connection closed in the middle of a message; it is dropped")
        reason = exc if exc is not None else self._close_reason
        self.close()
        if self.factory is not None:
            self.factory.connection_lost(reason)


class LinkCallbacks(Protocol):
    """What :class:`LinkManager` tells its link (``listener.ami.AmiLink``)."""

    def _on_message(self, message: Any) -> None: ...

    def _on_event(self, event: Event) -> None: ...

    def _on_connection_lost(self, exc: object) -> None: ...


class LinkManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with the link's own dispatch and reconnect policy."""

    def __init__(self, link: LinkCallbacks, **config: Any) -> None:
        super().__init__(**config)
        self._link = link

    def dispatch(self, event: Any) -> list[str]:
        self._link._on_message(event)
        return []

    def dispatch_event(self, event: Event) -> None:
        """An event already read by :func:`read_event`."""
        self._link._on_event(event)

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        self.authenticated = False
        pinger: asyncio.TimerHandle | None = getattr(self, "pinger", None)
        if pinger is not None:
            pinger.cancel()
            self.pinger = None
        dropped = len(self.awaiting_actions)
        self.awaiting_actions.clear()
        if dropped:
            log.warning("AMI: %d unanswered action(s) dropped, never to be re-sent", dropped)
        self._link._on_connection_lost(exc)

    def ping(self) -> None:
        """panoramisk's pinger is off: :class:`AmiLink` sends its own keepalive."""

    async def send_awaiting_actions(self, *_: Any) -> None:
        self.awaiting_actions.clear()
