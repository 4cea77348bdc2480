from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ivr.times import known_zone, require_utc


def test_an_aware_time_is_converted_to_utc() -> None:
    local = datetime(2026, 12, 4, 8, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert require_utc(local) == datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
    assert require_utc(local).tzinfo is UTC


def test_a_naive_time_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="started_at has no time zone: 2026-12-04T08:00:00"):
        require_utc(datetime(2026, 12, 4, 8, 0), "started_at")


def test_a_zone_name_is_kept_only_when_known() -> None:
    assert known_zone("America/Toronto") == "America/Toronto"
    for name in ("Mars/Olympus", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="unknown time zone"):
            known_zone(name)
