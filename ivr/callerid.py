"""Is the caller's number withheld? One rule for the call flow, the voicemail ingest and
the listener.

A withheld number reaches us in several spellings, and each reader used to keep its own
list. What Asterisk 22.10.1 was recorded sending:

- FastAGI, a channel with no caller ID (1a-1q, 5a)::

      agi_callerid: unknown
      agi_calleridname: unknown
      agi_callingpres: 67

  (67 = 0x43: "number unavailable", the network's own presentation);
- AMI, the same channel: ``CallerIDNum: <unknown>`` (6c), and on ``NewCallerid``
  ``CID-CallingPres: 67 (Number Unavailable)``, or ``0 (Presentation Allowed, Not
  Screened)`` for a shown number;
- app_voicemail's ``msgNNNN.txt``: ``callerid="Marie Gagnon" <4185550199>`` (2e), and
  ``Unknown`` when the channel has neither name nor number (app_voicemail's source; no
  recording shows it).

SIP trunks present a withheld number as ``"Anonymous" <anonymous>`` (README of the
recordings, 2026-12-04); carriers also write ``restricted``, ``private`` or
``unavailable``. And a caller may show a number but ask that it not be shown: the
presentation then says restricted (0x20) or unavailable (0x40), bits Asterisk keeps in
``AST_PRES_RESTRICTION`` (0x60). Such a number is not the caller's to give out: the flow
asks for a callback number instead of using it.

Twilio (``From`` and ``Caller`` of its voice webhooks) writes a withheld number two ways.
Since its change of November 2022 ("Upcoming changes to withheld caller ID behavior for
<Dial> calls", Twilio changelog) it keeps the word the network sent: ``Anonymous``,
``Restricted``... Before, and still on some routes, it spelled the word on a phone
keypad (Twilio's help article "Why am I getting calls from these strange numbers?"):
``+266696687`` (ANONYMOUS), ``+7378742833`` (RESTRICTED), ``+86282452253``
(UNAVAILABLE), ``+8656696`` (UNKNOWN) and ``+2562533`` (BLOCKED). Only those exact E.164
forms count: without the ``+``, ``7378742833`` is a real North American number.

The rule: a number is withheld when it is empty, is one of the words above (any case,
with or without ``<>``), is one of Twilio's keypad forms, has no digit at all, or comes
with a restricted or unavailable presentation.
"""

from __future__ import annotations

import re
from typing import Final

WITHHELD_WORDS: Final = frozenset(
    {"anonymous", "restricted", "private", "unavailable", "unknown", "blocked"}
)
#: Twilio's keypad spellings of a withheld number (ANONYMOUS, RESTRICTED, UNAVAILABLE,
#: UNKNOWN, BLOCKED), exactly as its webhooks write them.
TWILIO_WITHHELD_NUMBERS: Final = frozenset(
    {"+266696687", "+7378742833", "+86282452253", "+8656696", "+2562533"}
)
PRES_RESTRICTION_MASK: Final = 0x60  # AST_PRES_RESTRICTION: 0x20 restricted, 0x40 unavailable
_LEADING_INT: Final = re.compile(r"^\s*(\d+)")


def _bare(value: str) -> str:
    """``<unknown>`` (AMI), ``"Anonymous"`` (a quoted name) -> the word itself."""
    return value.strip().strip("<>").strip().strip('"').strip()


def is_withheld_word(value: str | None) -> bool:
    """Empty, or one of the words that stand for "no caller ID" (``Anonymous``,
    ``<unknown>``, ``RESTRICTED``...). Also the rule for a caller *name*."""
    if value is None:
        return True
    bare = _bare(value)
    return not bare or bare.lower() in WITHHELD_WORDS


def presentation_withheld(presentation: int | str | None) -> bool:
    """``agi_callingpres: 67`` or ``CID-CallingPres: 32 (Presentation Prohibited, ...)``:
    True when the restriction bits say restricted or unavailable. Nothing, or text
    that does not start with a number, says nothing (False)."""
    if presentation is None:
        return False
    if isinstance(presentation, int):
        value = presentation
    else:
        match = _LEADING_INT.match(presentation)
        if match is None:
            return False
        value = int(match.group(1))
    return bool(value & PRES_RESTRICTION_MASK)


def is_withheld(number: str | None, presentation: int | str | None = None) -> bool:
    """The rule above, for a caller number and its presentation (when known)."""
    if is_withheld_word(number) or presentation_withheld(presentation):
        return True
    if (number or "").strip() in TWILIO_WITHHELD_NUMBERS:
        return True
    return not any(ch.isdigit() for ch in number or "")


def caller_number(number: str | None, presentation: int | str | None = None) -> str | None:
    """The caller's number as given (stripped), or None when it is withheld."""
    if number is None or is_withheld(number, presentation):
        return None
    return number.strip()


def caller_name(name: str | None) -> str | None:
    """The caller's name (quotes and blanks removed), or None for ``Anonymous``,
    ``Unknown``, ``<unknown>`` and the other withheld words."""
    if name is None or is_withheld_word(name):
        return None
    return name.strip().strip('"').strip() or None
