"""What the navigators' actions (:mod:`listener.actions`) take and give back: their
options, their results, and the errors whose message a navigator reads.

Each error's ``code`` is stable: the listener stores it with the command's result and
the console chooses its words from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from store.facts import TransferFact

__all__ = [
    "ActionError",
    "ActionOptions",
    "ActionResult",
    "LinkUnavailable",
    "NoConsultation",
    "NoNumber",
    "NoSuchChannel",
    "NotPermitted",
    "QueueMember",
    "Rejected",
    "TimedOut",
    "TransferNotAvailable",
    "UnknownDestination",
]


class ActionError(Exception):
    """An action that did not do what was asked; ``code`` is stable, the message is for
    the navigator."""

    code = "error"


class NoSuchChannel(ActionError):
    code = "no_such_channel"


class NoConsultation(ActionError):
    """No warm transfer in progress: CancelAtxfer would send the abort keys to the caller."""

    code = "no_consultation"


class UnknownDestination(ActionError):
    code = "unknown_destination"


class NoNumber(ActionError):
    """The destination's number is still to fill in: nothing was sent to Asterisk.

    ``fact`` is the failed attempt, tied to the navigator's call, for the listener to
    record (a transfer by keys to an empty number fails in the dialplan and is recorded
    from its events; one from the console never reaches the dialplan)."""

    code = "no_number"

    def __init__(self, message: str, fact: TransferFact) -> None:
        super().__init__(message)
        self.fact = fact


class NotPermitted(ActionError):
    code = "not_permitted"


class LinkUnavailable(ActionError):
    code = "link_down"


class TimedOut(ActionError):
    code = "timeout"


class TransferNotAvailable(ActionError):
    code = "transfer_not_available"


class Rejected(ActionError):
    """Asterisk answered ``Response: Error``; the message carries Asterisk's own."""

    code = "rejected"


@dataclass(frozen=True)
class ActionResult:
    message: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueMember:
    """A navigator's queue membership (``store.navigators``: one interface each)."""

    queue: str
    interface: str
    name: str
    state_interface: str | None = None


@dataclass(frozen=True)
class ActionOptions:
    """``transfer_context`` is the navigators' TRANSFER_CONTEXT (extensions.conf);
    ``conference_context`` the dialplan context whose extensions are ConfBridge rooms
    (``exten => _X.,1,ConfBridge(${EXTEN})``): three-way is refused while it is None,
    because a Redirect to a missing extension drops the caller (``2g``)."""

    transfer_context: str = "navigator-transfers"
    conference_context: str | None = None
    start_timeout_s: float = 5.0
    cancel_timeout_s: float = 5.0
    blind_timeout_s: float = 3.0
    queue_timeout_s: float = 3.0
    ring_timeout_s: float = 30.0
    caller_id: str = '"211" <211>'
