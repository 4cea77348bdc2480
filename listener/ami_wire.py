"""The AMI wire under :class:`listener.ami.AmiLink`: panoramisk's protocol and manager,
with two of their traps guarded (measured against Asterisk 22,
``transcripts/3-panoramisk-compat.txt``):

* panoramisk decodes each TCP read on its own with errors ignored, so ``CallerIDName:
  Amélie`` cut between the two bytes of ``é`` loses the letter. :class:`AmiProtocol`
  decodes with an incremental UTF-8 decoder (``errors="replace"``).
* its read buffer grows without bound until a blank line arrives: a message longer
  than ``max_message_bytes`` is dropped (and logged) and the stream resynchronises on
  the next blank line.

:class:`LinkManager` hands every message and the loss of the connection to its link,
drops the actions left unanswered (never re-sent) and leaves the keepalive to the link.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

__all__ = ["BANNER", "EOM", "MIB", "AmiProtocol", "Event", "LinkManager", "to_event"]

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
        while text:
            end = text.find(EOM)
            if self._discarding:
                if end < 0:
                    self._discarded += max(0, len(text) - 3)
                    self._pending = text[-3:]
                    return
                self._discarded += end
                log.error(
                    "AMI: dropped a message of about %d bytes (limit %d)",
                    self._discarded,
                    limit,
                )
                self._discarding = False
                self._discarded = 0
                text = text[end + len(EOM) :]
                continue
            if end < 0:
                if len(text) > limit:
                    self._discarding = True
                    self._discarded = len(text) - 3
                    self._pending = text[-3:]
                else:
                    self._pending = text
                return
            block, text = text[:end], text[end + len(EOM) :]
            if len(block) > limit:
                log.error("AMI: dropped a message of %d bytes (limit %d)", len(block), limit)
                continue
            self._handle_block(block.strip())

    def _handle_block(self, block: str) -> None:
        message = Message.from_line(block)
        if message is None:
            return
        try:
            self.handle_message(message)
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

    def _on_connection_lost(self, exc: object) -> None: ...


class LinkManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with the link's own dispatch and reconnect policy."""

    def __init__(self, link: LinkCallbacks, **config: Any) -> None:
        super().__init__(**config)
        self._link = link

    def dispatch(self, event: Any) -> list[str]:
        self._link._on_message(event)
        return []

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
