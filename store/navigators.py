"""Navigator accounts and the listener's status row.

Each navigator account is tied to one phone endpoint and one queue member interface,
so every transfer record names its navigator: the listener sees channel names such
as ``PJSIP/nav-alice-0000002a`` or ``Local/nav-manual@navigators-00000014;1``, and
the endpoint is that name without Asterisk's ``-XXXXXXXX`` sequence and ``;N`` leg.

The status row is how the dashboard and ``ivr211 listener status`` know whether the
listener (the only AMI client) is connected right now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, literal, select
from sqlalchemy.orm import Session

from ivr.channels import channel_endpoint, has_channel_suffix
from ivr.times import require_utc
from store import models as m
from store.models import Navigator
from store.refusal import Refusal
from store.rows import update_or_insert

__all__ = [
    "ListenerState",
    "Navigator",
    "NavigatorError",
    "add_navigator",
    "get_status",
    "list_navigators",
    "navigator_by_id",
    "navigator_by_username",
    "navigator_for_channel",
    "set_active",
    "set_status",
    "set_twilio_address",
]

_ENDPOINT = re.compile(r"^[A-Za-z0-9]+/[^\s;]+$")


class NavigatorError(Refusal, ValueError):
    """A navigator account or listener status change was refused; its code and values
    let a page say why in its reader's language (``store.refusal``)."""


def _check_endpoint(name: str, value: str) -> str:
    value = value.strip()
    if not _ENDPOINT.match(value) or has_channel_suffix(value):
        raise NavigatorError(
            f"{name} {value!r} must be a channel technology and resource, e.g. PJSIP/nav-alice",
            "endpoint_format",
            field=name,
            value=value,
        )
    return value


def add_navigator(
    session: Session,
    username: str,
    display_name: str,
    phone_endpoint: str,
    queue_interface: str | None = None,
    *,
    active: bool = True,
) -> Navigator:
    """Create an account; the queue member interface defaults to the phone endpoint."""
    username = username.strip()
    if not username:
        raise NavigatorError("username must not be empty", "navigator_name_empty")
    endpoint = _check_endpoint("phone endpoint", phone_endpoint)
    interface = _check_endpoint("queue interface", queue_interface or endpoint)
    clashes = session.scalars(
        select(Navigator).where(
            (Navigator.username == username)
            | (Navigator.phone_endpoint == endpoint)
            | (Navigator.queue_interface == interface)
        )
    ).all()
    for other in clashes:
        if other.username == username:
            raise NavigatorError(
                f"navigator {username!r} already exists", "navigator_exists", username=username
            )
        raise NavigatorError(
            f"{endpoint if other.phone_endpoint == endpoint else interface} already belongs"
            f" to navigator {other.username!r}",
            "endpoint_taken",
            endpoint=endpoint if other.phone_endpoint == endpoint else interface,
            username=other.username,
        )
    navigator = Navigator(
        username=username,
        display_name=display_name.strip() or username,
        phone_endpoint=endpoint,
        queue_interface=interface,
        active=active,
    )
    session.add(navigator)
    session.flush()
    return navigator


def navigator_by_username(session: Session, username: str) -> Navigator | None:
    return session.scalars(select(Navigator).where(Navigator.username == username)).first()


def navigator_by_id(session: Session, navigator_id: int) -> Navigator | None:
    return session.get(Navigator, navigator_id)


def list_navigators(session: Session, *, active_only: bool = False) -> list[Navigator]:
    query = select(Navigator).order_by(Navigator.username)
    if active_only:
        query = query.where(Navigator.active.is_(True))
    return list(session.scalars(query))


def set_active(session: Session, username: str, active: bool) -> Navigator:
    navigator = navigator_by_username(session, username)
    if navigator is None:
        raise NavigatorError(f"no navigator {username!r}", "no_navigator", username=username)
    navigator.active = active
    session.flush()
    return navigator


_TWILIO_ADDRESS = re.compile(r"^(\+[1-9][0-9]{6,14}|sips?:[^\s@]+@[^\s@]+)$")


def set_twilio_address(session: Session, username: str, address: str | None) -> Navigator:
    """Where the Twilio back end calls the navigator: a phone number in E.164
    (``+14185550101``) or a SIP address (``sip:alice@centre.sip.twilio.com``); none to
    clear it."""
    navigator = navigator_by_username(session, username)
    if navigator is None:
        raise NavigatorError(f"no navigator {username!r}", "no_navigator", username=username)
    value = (address or "").strip() or None
    if value is not None and not _TWILIO_ADDRESS.match(value):
        raise NavigatorError(
            f"{value!r} is neither a phone number in E.164 (+14185550101) nor a SIP address"
            " (sip:name@domain)",
            "twilio_address_format",
            value=value,
        )
    navigator.twilio_address = value
    session.flush()
    return navigator


def navigator_for_channel(session: Session, channel_name: str) -> Navigator | None:
    """The navigator whose phone endpoint placed ``channel_name``, active or not
    (a record names whoever made the transfer, even if the account is disabled since)."""
    endpoint = channel_endpoint(channel_name)
    return session.scalars(select(Navigator).where(Navigator.phone_endpoint == endpoint)).first()


# ---- the listener's status row ------------------------------------------------------


@dataclass(frozen=True)
class ListenerState:
    state: str  # connecting / connected / disconnected / stopped
    detail: str
    since: datetime
    heartbeat_at: datetime

    def stale(self, now: datetime, max_age_s: float) -> bool:
        """True when the listener has not reported for ``max_age_s`` (it may be dead)."""
        return now - self.heartbeat_at > timedelta(seconds=max_age_s)


def set_status(session: Session, state: str, detail: str, at: datetime) -> ListenerState:
    """Record the listener's state; ``since`` moves only when the state changes, the
    heartbeat at every call (call it periodically with the same state).

    One UPDATE (an INSERT the first time): ``store.rows.update_or_insert``.
    """
    if state not in m.LISTENER_STATES:
        raise NavigatorError(
            f"listener state {state!r} is not one of {m.LISTENER_STATES}", "internal"
        )
    at = require_utc(at, "the listener status's time")
    row = m.ListenerStatus
    since = case((row.state == state, row.since), else_=literal(at, m.UTCDateTime()))
    update_or_insert(
        session,
        row,
        {"id": m.SINGLETON_ID},
        {"state": state, "detail": detail, "heartbeat_at": at, "since": since},
        on_insert={"since": at},
    )
    status = get_status(session)
    if status is None:
        raise NavigatorError("the listener status row vanished while being written", "internal")
    return status


def get_status(session: Session) -> ListenerState | None:
    """The last reported state, or None when no listener ever ran on this database."""
    row = session.get(m.ListenerStatus, m.SINGLETON_ID, populate_existing=True)
    if row is None:
        return None
    return ListenerState(row.state, row.detail, row.since, row.heartbeat_at)
