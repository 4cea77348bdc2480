"""The FastAGI layer's own exceptions: wire errors and hang-ups in the project's terms.

Every error a handler can see from a ``Channel`` is an ``AgiError``; nothing below
(``BrokenPipeError``, ``asyncio.IncompleteReadError``, ``TimeoutError``) leaks out.
"""

from __future__ import annotations


class AgiError(Exception):
    """Base of every error of the FastAGI layer."""


class AgiProtocolError(AgiError):
    """Asterisk sent something this layer cannot read (not a recorded reply form)."""


class HeaderError(AgiProtocolError):
    """The ``agi_*`` header block was malformed, too long, or never ended."""


class HeaderTimeout(HeaderError):
    """The header block did not end within ``ServerOptions.header_timeout_s``."""


class ChannelHungUp(AgiError):
    """The caller is gone: a ``HANGUP`` line, a ``511`` reply, EOF or SIGHUP said so.

    ``200 result=-1`` alone never raises this (a missing prompt answers that on a live
    channel, transcript 5a).
    """


class CommandTimeout(AgiError):
    """Asterisk did not answer a command within ``command_timeout_s``.

    The connection is out of step after this and must be closed.
    """


class AgiCommandError(AgiError):
    """Asterisk refused a command: ``510`` (unknown command) or ``520`` (bad syntax).

    ``text`` holds every line of the reply, including the whole ``520-`` usage block.
    """

    def __init__(self, command: str, code: int, text: str) -> None:
        super().__init__(f"{command!r} refused by Asterisk: {text}")
        self.command = command
        self.code = code
        self.text = text
