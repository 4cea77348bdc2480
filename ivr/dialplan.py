"""Every name the dialplan (asterisk_conf/extensions.conf) and the Python code share.

A test reads extensions.conf and checks that each AGI route and channel variable
it uses is declared here, and that each one declared here is used there.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

# FastAGI routes: agi://host:port/<route>
ROUTE_INCOMING: Final = "incoming"
AGI_ROUTES: Final = frozenset({ROUTE_INCOMING})


class Route(StrEnum):
    """Values of IVR_ROUTE: what the dialplan does once the flow has decided."""

    QUEUE = "queue"  # Queue() to the navigators
    RESEARCH = "research"  # VoiceMail() of the research box
    TRANSFER = "transfer"  # Dial() the destination's number (IVR_DEST_NUMBER)
    CLOSED = "closed"  # closed-hours goodbye, then Hangup()
    HANGUP = "hangup"  # the caller hung up during the flow


# Channel variables set by the flow. Names with INHERITED=True are set with the
# "__" prefix so the navigator's leg (and its AMI events) carry them too.
VAR_ROUTE: Final = "IVR_ROUTE"
VAR_LANG: Final = "IVR_LANG"
VAR_PATH: Final = "IVR_PATH"
VAR_INTERPRETER: Final = "IVR_INTERPRETER"
VAR_DEST: Final = "IVR_DEST"
VAR_DEST_NUMBER: Final = "IVR_DEST_NUMBER"
VAR_QUEUE: Final = "IVR_QUEUE"
VAR_MAILBOX: Final = "IVR_MAILBOX"
VAR_LINE_STATE: Final = "IVR_LINE_STATE"
VAR_CLOSES_AT: Final = "IVR_CLOSES_AT"  # epoch seconds when the open line closes, or ""
VAR_CALLBACK: Final = "IVR_CALLBACK"  # research box: the callback number typed, or ""
VAR_FLOW_DONE: Final = "IVR_FLOW_DONE"

INHERITED: Final = frozenset({VAR_LANG, VAR_PATH, VAR_INTERPRETER})

CHANNEL_VARIABLES: Final = frozenset(
    {
        VAR_ROUTE,
        VAR_LANG,
        VAR_PATH,
        VAR_INTERPRETER,
        VAR_DEST,
        VAR_DEST_NUMBER,
        VAR_QUEUE,
        VAR_MAILBOX,
        VAR_LINE_STATE,
        VAR_CLOSES_AT,
        VAR_CALLBACK,
        VAR_FLOW_DONE,
    }
)

# app_voicemail writes the channel variable VM_CATEGORY into the message's metadata
# (``category=`` in msgNNNN.txt, 2e-voicemail-spool.txt). [ivr211-research] sets it to
# ``<IVR_LANG>`` or ``<IVR_LANG>/<IVR_CALLBACK>``: the ingest reads the caller's language
# and callback number from there with ``parse_vm_category``.
VAR_VM_CATEGORY: Final = "VM_CATEGORY"
VM_CATEGORY_SEPARATOR: Final = "/"


def vm_category(language: str, callback: str | None) -> str:
    """What the dialplan writes in ``VM_CATEGORY``: ``fr``, or ``en/4185550199``."""
    return f"{language}{VM_CATEGORY_SEPARATOR}{callback}" if callback else language


def parse_vm_category(category: str) -> tuple[str | None, str | None]:
    """``category=fr/4185550199`` -> ``("fr", "4185550199")``; ``category=`` (a message
    left without our dialplan, as in 2e) -> ``(None, None)``."""
    language, _, callback = category.strip().partition(VM_CATEGORY_SEPARATOR)
    return language or None, callback or None


# AstDB family and keys that mirror the line state for the dialplan's fallback
# (used when the FastAGI server cannot be reached). Values are plain strings;
# times are Unix epoch seconds so the dialplan can compare them with ${EPOCH}.
ASTDB_FAMILY: Final = "ivr211"
DB_OVERRIDE: Final = "override"  # "open", "closed" or "" (none)
DB_OVERRIDE_UNTIL: Final = "override_until"  # epoch, or "" for "until lifted"
DB_CLOSURE_START: Final = "closure_start"  # epoch of the current/next closure, or ""
DB_CLOSURE_END: Final = "closure_end"
DB_HOLIDAY_DATES: Final = "holidays"  # comma-separated YYYY-MM-DD, this year and next
ASTDB_KEYS: Final = frozenset(
    {DB_OVERRIDE, DB_OVERRIDE_UNTIL, DB_CLOSURE_START, DB_CLOSURE_END, DB_HOLIDAY_DATES}
)
# One key per transfer destination: its full dialable number for the centre's
# territory, read by the navigators' transfer codes (global DEST_<TOKEN> is the default).
DB_DEST_PREFIX: Final = "dest_"
# One key per day: the opening range as GotoIfTime reads it ("08:00-18:59": the end
# minute is included, so a line closing at 19:00 ends at 18:59), or "closed". The day
# is STRFTIME's %u (1 = Monday .. 7 = Sunday), or HOURS_HOLIDAY on a holiday; the
# dialplan's HOURS_DEFAULT serves while neither writer has run.
DB_HOURS_PREFIX: Final = "hours_"
HOURS_HOLIDAY: Final = "HOLIDAY"
HOURS_DAYS: Final = ("1", "2", "3", "4", "5", "6", "7", HOURS_HOLIDAY)
HOURS_CLOSED: Final = "closed"
# The settings version the values above were computed from, written after them: the
# dialplan takes the more recent of the two copies (see GLOBAL_PREFIX).
DB_VERSION: Final = "version"

# The same values reach the dialplan twice. The FastAGI server writes AstDB during
# calls (DATABASE PUT); the AMI listener pushes them within seconds of a change as
# dialplan globals (Setvar GLOBAL(...), the only write its AMI rights allow, 2r),
# named GLOBAL_PREFIX + the AstDB key in capitals: IVR211_OVERRIDE, IVR211_HOURS_3,
# IVR211_DEST_CRISE, IVR211_VERSION. None of them may be named in extensions.conf
# [globals]: `dialplan reload` would reset it to the file's value (2r).
GLOBAL_PREFIX: Final = "IVR211_"


def global_name(key: str) -> str:
    """``override_until`` -> ``IVR211_OVERRIDE_UNTIL``: the dialplan global that holds the
    AstDB value ``key`` once the listener has pushed it."""
    return GLOBAL_PREFIX + key.upper()


def dest_token(key: str) -> str:
    """``menus-travaux`` -> ``MENUS_TRAVAUX``: the destination's name in the dialplan
    (the ``DEST_<TOKEN>`` global and the ``dest_<TOKEN>`` AstDB key)."""
    return key.upper().replace("-", "_")
