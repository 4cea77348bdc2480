"""The configuration mapped onto the dashboard's own options (``dashboard.options``).

The dashboard reads no configuration: ``ivr211 dashboard`` (and the tests) build its
options here from ``[dashboard]``, ``[line]``, ``[voicemail]`` and ``[notify]`` and pass
them, with an engine, to ``dashboard.create_app``.
"""

from __future__ import annotations

from dashboard.options import DashboardOptions
from ivr211.config import Config, ConfigError, load_config
from ivr211.wiring import account_change_hook
from store.reports import Thresholds

__all__ = ["dashboard_options"]


def dashboard_options(config: Config | None = None) -> DashboardOptions:
    """The dashboard's options from ``config`` (None: the configuration ``ivr211`` reads,
    ``load_config()``)."""
    config = config if config is not None else load_config()
    conf = config.dashboard
    return DashboardOptions(
        instance_path=conf.instance_path,
        secret_key_file=conf.secret_key_file,
        secret_key_env=conf.secret_key_env,
        generated_secret_path=conf.generated_secret_path,
        allow_plain_http=conf.allow_plain_http,
        trusted_proxies=conf.trusted_proxies,
        session_hours=conf.session_hours,
        login_max_failures=conf.login_max_failures,
        login_lock_s=conf.login_lock_s,
        login_window_s=conf.login_window_s,
        login_address_max_failures=conf.login_address_max_failures,
        heartbeat_stale_s=conf.heartbeat_stale_s,
        service_level_s=conf.service_level_s,
        call_thresholds=Thresholds(
            short_abandon_s=conf.report_short_abandon_s,
            service_levels_s=conf.report_service_levels_s,
            service_level_target=conf.report_service_level_target,
        ),
        settings_cache_s=config.line.settings_cache_s,
        voicemail_storage_dir=config.voicemail.storage_dir,
        on_research_account_change=account_change_hook(config),
        ami_configured=_ami_configured(config),
        twilio_enabled=config.twilio.enabled,
    )


def _ami_configured(config: Config) -> bool:
    """Whether the listener could read its AMI secret (``[ami] secret_file`` or
    ``$IVR211_AMI_SECRET``), as ``ivr211 serve`` passes its environment to both. The
    secret itself is not kept."""
    try:
        config.ami.secret()
    except ConfigError:
        return False
    return True
