"""The configuration mapped onto each package's own options.

The adapters never read :class:`~ivr211.config.Config`: each takes a plain dataclass of
its own (``ServerOptions``, ``LinkOptions``, ``IngestOptions``, ``NotifyOptions``...) and
this module fills them from the sections of the file, so a setting has one name (the
configuration's) and one default.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agi_scripts.server import ServerOptions
from ivr211.config import Config
from listener.ami import LinkOptions
from research.ingest import IngestOptions
from store.calls import CallFact, record_calls
from store.research_access import AccountChange

__all__ = [
    "account_change_hook",
    "call_writer",
    "ingest_options",
    "link_options",
    "new_message_hook",
    "server_options",
]

log = logging.getLogger(__name__)


def server_options(config: Config) -> ServerOptions:
    """[agi] as the FastAGI server's options (the same names, field for field)."""
    accepted = {f.name for f in dataclasses.fields(ServerOptions)}
    return ServerOptions(**{k: v for k, v in config.agi.model_dump().items() if k in accepted})


def link_options(config: Config) -> LinkOptions:
    """[ami] as the listener's link options (the secret is read now: none, no link)."""
    ami = config.ami
    return LinkOptions(host=ami.host, port=ami.port, username=ami.username, secret=ami.secret())


def ingest_options(config: Config) -> IngestOptions:
    """[voicemail] as the research box's ingest options."""
    vm = config.voicemail
    return IngestOptions(
        spool_dir=vm.spool_dir,
        storage_dir=vm.storage_dir,
        mailbox=vm.mailbox,
        folders=tuple(vm.folders),
        quarantine_dir=vm.quarantine_dir,
        settle_s=vm.settle_s,
        stale_s=vm.stale_s,
    )


def new_message_hook(config: Config) -> Callable[[int], object] | None:
    """The notification of a new message ([notify]), or None when the notifications
    cannot be loaded: the ingest never depends on them."""
    try:
        # Imported here, not above: it loads twilio and requests, which only a
        # notification needs; a broken install of them costs notifications, not messages.
        from ivr211.notify_options import message_notifier
    except ImportError as exc:
        log.warning("new voicemail will not be notified: %s", exc)
        return None
    return message_notifier(config.notify)


def account_change_hook(config: Config) -> Callable[[AccountChange], object] | None:
    """Telling the research team of a change to one of its accounts ([notify]), or None
    when no channel is configured or the notifications cannot be loaded."""
    if not (config.notify.email_to or config.notify.sms_to):
        return None
    try:
        from ivr211.notify_options import account_change_notifier
    except ImportError as exc:
        log.warning("changes to research accounts will not be notified: %s", exc)
        return None
    return account_change_notifier(config.notify)


def call_writer(engine: Engine) -> Callable[[Sequence[CallFact]], None]:
    """How the FastAGI server's call log writes a batch: one transaction of
    ``store.calls.record_calls`` (run on the log's own thread, never the event loop)."""

    def write(facts: Sequence[CallFact]) -> None:
        with Session(engine) as session, session.begin():
            record_calls(session, facts)

    return write
