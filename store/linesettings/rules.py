"""What a valid line-settings value is, whoever writes it (the seed or a change).

The errors of the package, the dialable-number rule and the placeholder numbers a seed
may hold (never dialled), the territory and label checks, and how an exceptional closure
is tagged in ``line_override.reason``. Nothing here reads the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from store.refusal import Refusal

_NUMBER_RE = re.compile(r"^\+?\d{3,15}$")
_NUMBER_NOISE = re.compile(r"[\s().-]")
# North American numbers NXX-555-0100 to NXX-555-0199 are reserved for fiction.
_FICTIONAL_RE = re.compile(r"^(?:\+?1)?\d{3}55501\d{2}$")
_TERRITORY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
NOT_SEEDED = "no line settings in the database: run `ivr211 db upgrade`"


class SettingsError(Exception):
    """Line settings cannot be seeded, loaded or changed."""


class SeedError(SettingsError):
    """The seed file is unreadable or invalid; the message names the file and key."""


class SettingsNotFound(SettingsError):
    """The database holds no line settings yet: run ``ivr211 db upgrade``."""


class SettingsChangeError(Refusal, SettingsError, ValueError):
    """A change was refused (bad value, unknown destination or closure); its code and
    values let a page say why in its reader's language (``store.refusal``)."""


def normalize_number(number: str) -> str:
    """ "1 866 277-3553" -> "18662773553"; refuse anything a trunk could not dial."""
    cleaned = _NUMBER_NOISE.sub("", number)
    if not _NUMBER_RE.match(cleaned):
        raise SettingsChangeError(
            f"{number!r} is not a dialable number (digits, optional leading +)",
            "not_dialable",
            number=number,
        )
    return cleaned


def is_placeholder_number(number: str) -> bool:
    """``4185550101``: a fictional number (555-0100 to 555-0199, any area code), which a
    seed can only hold as a placeholder for a number still to get."""
    return bool(_FICTIONAL_RE.match(_NUMBER_NOISE.sub("", number)))


SEED_AUTHOR = "seed"


def is_to_fill(number: str, verified: bool, updated_by: str) -> bool:
    """Still to fill in, never dialled: an empty number, or a fictional placeholder that
    an older seed wrote (418 555-0101...) and nobody has touched since. A fictional number
    an administrator entered (a lab's test line) is theirs: it dials."""
    if not number:
        return True
    return updated_by == SEED_AUTHOR and not verified and is_placeholder_number(number)


ANY_TERRITORY = "*"


def check_territory(territory: str, *, allow_any: bool) -> str:
    territory = territory.strip()
    if allow_any and territory == ANY_TERRITORY:
        return territory
    if not _TERRITORY_RE.match(territory):
        raise SettingsChangeError(
            f"territory {territory!r} must be lower-case letters, digits and dashes"
            + (' (or "*" for any territory)' if allow_any else ""),
            "territory_format_any" if allow_any else "territory_format",
            territory=territory,
        )
    return territory


def check_label(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise SettingsChangeError(f"{name} must not be empty", "label_empty", field=name)
    if len(value) > 200:
        raise SettingsChangeError(f"{name} is longer than 200 characters", "label_long", field=name)
    return value


def reaches(numbers: Mapping[str, object], territory: str) -> bool:
    """Whether numbers keyed by territory give one for ``territory`` (or for any: "*")."""
    return territory in numbers or ANY_TERRITORY in numbers


# Whether a forced closure is the night switch or an exceptional closure has no column
# of its own in line_override (mode, until, reason, set_by, set_at): an exceptional one is
# stored with this tag in front of its reason, and only the two functions below read or
# write it. A column (line_override.kind) can replace it later without any change
# outside this module.
EXCEPTIONAL_TAG = "[exceptional]"


def override_reason_to_store(reason: str, exceptional: bool) -> str:
    return f"{EXCEPTIONAL_TAG} {reason}".rstrip() if exceptional else reason


def read_override_reason(stored: str) -> tuple[str, bool]:
    """``"[exceptional] panne"`` -> ``("panne", True)``; ``"soir"`` -> ``("soir", False)``."""
    if stored.startswith(EXCEPTIONAL_TAG):
        return stored.removeprefix(EXCEPTIONAL_TAG).strip(), True
    return stored, False
