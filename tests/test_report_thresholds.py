"""The call reports' thresholds: from ``[dashboard] report_*`` (or the environment) to
the dashboard's options, and refused with the key named when out of range."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr211.config import ConfigError, load_config
from ivr211.dashboard_options import dashboard_options
from store.reports import DEFAULT_THRESHOLDS, Thresholds


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ivr211.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_defaults_are_the_reports_defaults() -> None:
    assert dashboard_options(load_config(None, environ={})).call_thresholds == DEFAULT_THRESHOLDS
    assert Thresholds(5, (30, 60), 0.8) == DEFAULT_THRESHOLDS


def test_the_file_and_the_environment_set_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[dashboard]\nreport_short_abandon_s = 10\nreport_service_levels_s = [20, 45, 90]\n"
        "report_service_level_target = 0.9\n",
    )
    config = load_config(path, environ={})
    assert dashboard_options(config).call_thresholds == Thresholds(10, (20, 45, 90), 0.9)
    config = load_config(path, environ={"IVR211_DASHBOARD__REPORT_SERVICE_LEVELS_S": "15, 40"})
    assert dashboard_options(config).call_thresholds.service_levels_s == (15, 40)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("report_short_abandon_s = -1", "dashboard.report_short_abandon_s"),
        ("report_service_levels_s = []", "dashboard.report_service_levels_s"),
        ("report_service_levels_s = [30, 7200]", "0 to 3600 seconds"),
        ("report_service_levels_s = [30.5]", "dashboard.report_service_levels_s"),
        ("report_service_level_target = 1.0", "dashboard.report_service_level_target"),
    ],
)
def test_out_of_range_is_refused_with_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, f"[dashboard]\n{text}\n"), environ={})
