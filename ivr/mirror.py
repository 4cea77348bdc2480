"""What the dialplan must know without the FastAGI server, as AstDB values.

The dialplan's fallback decides open/closed from these when the server cannot be
reached, and the navigators' transfer codes dial the numbers kept here, so an
administrator's change reaches Asterisk without a dialplan edit or a reload.
"""

from __future__ import annotations

from datetime import datetime

from ivr.dialplan import DB_DEST_PREFIX, dest_token
from ivr.schedule import astdb_mirror
from ivr.settings import LineSettings


def directory_mirror(settings: LineSettings) -> dict[str, str]:
    """``dest_<TOKEN>`` -> the destination's number for the centre's territory.

    A destination with no number there maps to ``""``: the dialplan then falls back
    to its ``DEST_<TOKEN>`` global, and an empty one makes the transfer fail cleanly.
    """
    return {
        DB_DEST_PREFIX + dest_token(dest.key): dest.number_for(settings.territory) or ""
        for dest in settings.destinations
    }


def line_mirror(settings: LineSettings, now: datetime) -> dict[str, str]:
    """Every AstDB value of the family ``ivr.dialplan.ASTDB_FAMILY``."""
    return {**astdb_mirror(settings.schedule, now), **directory_mirror(settings)}
