"""The navigator's phone on the console, as they know it."""

from __future__ import annotations

import pytest

from dashboard.console import phone_label


@pytest.mark.parametrize(
    ("endpoint", "label"),
    [
        ("PJSIP/201", "201"),
        ("PJSIP/nav-alice", "nav-alice"),
        ("Local/nav-dtmf-atxfer@navigators", "nav-dtmf-atxfer"),
        ("Local/201@navigators/n", "201"),
        ("201", "201"),
    ],
)
def test_the_phone_without_technology_or_context(endpoint: str, label: str) -> None:
    assert phone_label(endpoint) == label
