"""Phone numbers as Québec writes them (``ivr.phone``), table-driven."""

from __future__ import annotations

import pytest

from ivr.phone import format_phone


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("4185550177", "418 555-0177"),
        ("18662773553", "1 866 277-3553"),
        ("+14185550177", "+1 418 555-0177"),
        (" 5815550199 ", "581 555-0199"),
        ("211", "211"),
        ("811", "811"),
        ("911", "911"),
        ("988", "988"),
        ("", ""),
        (None, ""),
        ("5550177", "5550177"),  # seven digits: not a Québec number any more, as stored
        ("28662773553", "28662773553"),  # eleven digits without the 1: as stored
        ("41855501771234", "41855501771234"),  # an extension run on: as stored
        ("+33142685300", "+33142685300"),  # international: as stored
        ("+4185550177", "+4185550177"),  # a + with no country code 1: as stored
        ("418 555-0177", "418 555-0177"),  # already written for reading: left alone
        ("4185550177,123", "4185550177,123"),
        ("x" * 200, "x" * 200),
    ],
)
def test_format_phone(stored: str | None, shown: str) -> None:
    assert format_phone(stored) == shown
