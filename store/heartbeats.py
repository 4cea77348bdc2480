"""Service heartbeats: the last sign of life of each long-running service.

Heartbeats let the dashboard tell a service that runs from one that died without a
word: ``ivr211 serve`` writes one for the FastAGI server every few seconds, and the AMI
listener's row is the mark its successor on the same link reconciles from. Several
processes write these rows, so a beat is one UPDATE, else an INSERT, without reading
first (``store.rows.update_or_insert``).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from ivr.times import require_utc
from store.models import Base, UTCDateTime
from store.rows import update_or_insert

__all__ = ["ServiceHeartbeat", "beat", "get_heartbeat"]


class ServiceHeartbeat(Base):
    """The last sign of life of a long-running service ("fastagi", "dashboard")."""

    __tablename__ = "service_heartbeats"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())


def beat(session: Session, name: str, started_at: datetime, now: datetime) -> None:
    """Record that service ``name`` (this process) is alive; one UPDATE, else an INSERT."""
    now = require_utc(now, "now")
    values = {
        "host": socket.gethostname()[:200],
        "pid": os.getpid(),
        "started_at": require_utc(started_at, "started_at"),
        "heartbeat_at": now,
    }
    update_or_insert(session, ServiceHeartbeat, {"name": name}, values)


def get_heartbeat(session: Session, name: str) -> ServiceHeartbeat | None:
    return session.get(ServiceHeartbeat, name, populate_existing=True)
