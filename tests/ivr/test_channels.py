"""Asterisk naming and timing helpers shared by every reader of AMI events and CEL rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ivr.channels import MAX_FIELD, channel_endpoint, event_text, event_time, has_channel_suffix


@pytest.mark.parametrize(
    ("channel", "endpoint"),
    [
        ("PJSIP/nav-alice-0000002a", "PJSIP/nav-alice"),
        ("Local/nav-manual@navigators-00000014;1", "Local/nav-manual@navigators"),
        ("PJSIP/nav-alice", "PJSIP/nav-alice"),
    ],
)
def test_the_endpoint_is_the_name_without_its_suffix(channel: str, endpoint: str) -> None:
    assert channel_endpoint(channel) == endpoint
    assert has_channel_suffix(channel) is (channel != endpoint)


def test_event_text_keeps_a_real_value_only() -> None:
    event = {
        "Channel": "  PJSIP/nav-alice-0000002a ",
        "Empty": " ",
        "Unknown": "<unknown>",
        "Long": "x" * (MAX_FIELD + 1),
    }
    assert event_text(event, "Channel") == "PJSIP/nav-alice-0000002a"
    for name in ("Empty", "Unknown", "Long", "Missing"):
        assert event_text(event, name) is None


def test_event_time_falls_back_to_an_aware_arrival_time_only() -> None:
    arrival = datetime(2026, 11, 28, 10, 34, tzinfo=timezone(timedelta(hours=-5)))
    assert event_time({}, arrival) == datetime(2026, 11, 28, 15, 34, tzinfo=UTC)
    assert event_time({"Timestamp": "1795880041.5"}, arrival) == datetime(
        2026, 11, 28, 15, 34, 1, 500000, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="received_at has no time zone"):
        event_time({}, arrival.replace(tzinfo=None))
