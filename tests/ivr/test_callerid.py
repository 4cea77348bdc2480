"""One rule for a withheld caller number (``ivr.callerid``), table-driven."""

from __future__ import annotations

import pytest

from ivr.callerid import caller_name, caller_number, is_withheld, presentation_withheld


@pytest.mark.parametrize(
    ("number", "presentation", "expected"),
    [
        ("4185550199", None, "4185550199"),
        ("5145550100", "0", "5145550100"),  # 1a: agi_callingpres: 0
        (" +14185550199 ", None, "+14185550199"),
        ("4185550199", "0 (Presentation Allowed, Not Screened)", "4185550199"),  # AMI form
        ("4185550199", 1, "4185550199"),  # allowed, passed screen
        ("4185550199", 3, "4185550199"),  # allowed, network number
        ("unknown", "67", None),  # 5a: agi_callerid: unknown / agi_callingpres: 67
        ("<unknown>", None, None),  # AMI CallerIDNum: <unknown> (6c)
        ("", None, None),
        (None, None, None),
        ("   ", None, None),
        ("anonymous", None, None),  # SIP: "Anonymous" <anonymous>
        ("Anonymous", "0", None),
        ("ANONYMOUS", None, None),
        ("restricted", None, None),
        ("Private", None, None),
        ("unavailable", None, None),
        ("UNKNOWN", None, None),
        ("s", None, None),  # no digit at all
        ("anonymous.invalid", None, None),
        ("#", None, None),
        ("4185550199", "32", None),  # presentation prohibited: the caller hid it
        ("4185550199", 35, None),  # prohibited, network number
        ("4185550199", "67 (Number Unavailable)", None),
        ("4185550199", 0x40, None),
        ("4185550199", "", "4185550199"),  # an empty presentation says nothing
        ("4185550199", "allowed", "4185550199"),  # text with no number says nothing
        # Twilio: the network's word, or the word spelled on a keypad
        ("Anonymous", None, None),
        ("Restricted", None, None),
        ("Blocked", None, None),
        ("+266696687", None, None),  # ANONYMOUS
        ("+7378742833", None, None),  # RESTRICTED
        ("+86282452253", None, None),  # UNAVAILABLE
        ("+8656696", None, None),  # UNKNOWN
        ("+2562533", None, None),  # BLOCKED
        ("7378742833", None, "7378742833"),  # without "+": a real number in area code 737
        ("+17378742833", None, "+17378742833"),
        ("+14185550199", None, "+14185550199"),
    ],
)
def test_caller_number(number: str | None, presentation: str | int | None, expected: str | None):
    assert caller_number(number, presentation) == expected
    assert is_withheld(number, presentation) is (expected is None)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ('"Marie Gagnon"', "Marie Gagnon"),
        ("Marie Gagnon", "Marie Gagnon"),
        ('"Anonymous"', None),
        ("Anonymous", None),
        ("unknown", None),  # agi_calleridname: unknown
        ("<unknown>", None),  # AMI CallerIDName: <unknown>
        ("Restricted", None),
        ("", None),
        (None, None),
    ],
)
def test_caller_name(name: str | None, expected: str | None) -> None:
    assert caller_name(name) == expected


def test_presentation_bits() -> None:
    """AST_PRES_RESTRICTION (0x60): 0x00 allowed, 0x20 restricted, 0x40 unavailable."""
    assert [presentation_withheld(v) for v in (0, 1, 2, 3)] == [False] * 4
    assert [presentation_withheld(v) for v in (0x20, 0x21, 0x22, 0x23)] == [True] * 4
    assert [presentation_withheld(v) for v in (0x40, 0x43, 0x60)] == [True] * 3
    assert presentation_withheld(None) is False
