"""What the dashboard needs from the configuration, as one typed object.

The composition root (``ivr211.dashboard_options``) builds it from ``[dashboard]``,
``[line]`` and ``[voicemail]``; the dashboard never reads the configuration itself. The
database engine is passed to ``create_app`` beside it: whoever opens it closes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from store.reports import DEFAULT_THRESHOLDS, Thresholds
from store.research_access import AccountChange

__all__ = ["DashboardOptions"]


@dataclass(frozen=True)
class DashboardOptions:
    """The dashboard's settings (``[dashboard]`` unless said otherwise).

    The session secret comes from ``secret_key_file``, else from ``$secret_key_env``,
    else from ``generated_secret_path`` (created once, mode 0600). ``instance_path``
    holds what the app writes for itself (compiled translations). Cookies are
    ``Secure`` unless ``allow_plain_http`` (which the configuration accepts only on a
    loopback host); ``trusted_proxies`` is how many X-Forwarded-* hops to believe.
    """

    instance_path: Path
    secret_key_file: Path | None
    secret_key_env: str | None
    generated_secret_path: Path
    allow_plain_http: bool
    trusted_proxies: int
    session_hours: float
    #: Login throttling: ``login_max_failures`` failures of one name within
    #: ``login_window_s`` lock that name for ``login_lock_s``;
    #: ``login_address_max_failures`` from one client address lock the address.
    login_max_failures: int
    login_lock_s: float
    login_window_s: float
    login_address_max_failures: int
    #: A service whose heartbeat is older than this counts as down.
    heartbeat_stale_s: float
    #: ``[line] settings_cache_s``: how long the line settings may be served from memory.
    settings_cache_s: float
    #: ``[voicemail] storage_dir``: the research box's audio files.
    voicemail_storage_dir: Path
    #: Tells the research team (``[notify]``) that a research account's password was
    #: reset or such an account created; None: nobody is told (the audit row stays).
    on_research_account_change: Callable[[AccountChange], object] | None = None
    #: The wallboard's service level counts the calls answered within this many seconds.
    service_level_s: float = 30.0
    #: The call reports' thresholds (``[dashboard] report_*``).
    call_thresholds: Thresholds = DEFAULT_THRESHOLDS
    #: Whether the configuration gives the AMI secret: without it the listener cannot
    #: start, and the status page says "not configured" rather than "no sign of life".
    ami_configured: bool = True
    #: A demonstration (``ivr211 demo``): every page says so in a banner.
    demo: bool = False
    #: ``[twilio] enabled``: the destinations page says what Twilio can and cannot dial.
    twilio_enabled: bool = False
