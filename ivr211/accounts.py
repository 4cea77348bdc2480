"""Dashboard user accounts and service heartbeats (issue 4: the dashboard's foundation)."""

from __future__ import annotations
