"""The line settings in the database: seeding, loading, caching, changing.

The database is the reference once seeded; the TOML seed only fills an empty
database. Every change goes through a function here that bumps the settings
version in the same transaction, so a server holding ``CachedSettings`` sees the
change at its next version check, and the AstDB mirror knows when to rewrite.

One module per job, each importing only those above it in this list:

* ``rules``: the package's errors and what a valid value is (dialable numbers, the
  placeholders a seed may hold, territories, labels, the exceptional-closure tag);
* ``seed``: the seed file's schema, ``read_seed`` and ``seed_if_empty``;
* ``load``: ``load_settings``, ``line_zone``, ``SettingsStore``, ``CachedSettings``,
  ``describe``;
* ``change``: the version bump and the changes of the schedule and the line's options;
* ``directory``: the destinations and their numbers;
* ``checks``: the dialplan's short codes against the directory.

Callers import from the package (``from store import linesettings as ls``).
"""

from __future__ import annotations

from store.linesettings.change import (
    ClosureRecord,
    DayName,
    add_closure,
    add_holiday_date,
    bump_version,
    forget_holiday_date,
    holiday_categories,
    holiday_subdivisions,
    list_closures,
    remove_closure,
    remove_holiday_date,
    set_closed_menu,
    set_holiday_rules,
    set_hours,
    set_line_options,
    set_menu,
    set_override,
    set_research_consent,
)
from store.linesettings.checks import dialplan_mismatches, dialplan_transfer_codes
from store.linesettings.directory import (
    DestinationRecord,
    NumberRecord,
    add_destination,
    list_destinations,
    numbers_to_fill,
    remove_destination_number,
    set_destination_number,
    unverified_numbers,
    update_destination,
)
from store.linesettings.load import (
    UNSEEDED_TIMEZONE,
    CachedSettings,
    SettingsStore,
    describe,
    line_zone,
    load_settings,
    settings_version,
)
from store.linesettings.rules import (
    ANY_TERRITORY,
    EXCEPTIONAL_TAG,
    SEED_AUTHOR,
    SeedError,
    SettingsChangeError,
    SettingsError,
    SettingsNotFound,
    is_placeholder_number,
    normalize_number,
)
from store.linesettings.seed import SEED_FORMAT, read_seed, seed_if_empty

__all__ = [
    "ANY_TERRITORY",
    "EXCEPTIONAL_TAG",
    "SEED_AUTHOR",
    "SEED_FORMAT",
    "UNSEEDED_TIMEZONE",
    "CachedSettings",
    "ClosureRecord",
    "DayName",
    "DestinationRecord",
    "NumberRecord",
    "SeedError",
    "SettingsChangeError",
    "SettingsError",
    "SettingsNotFound",
    "SettingsStore",
    "add_closure",
    "add_destination",
    "add_holiday_date",
    "bump_version",
    "describe",
    "dialplan_mismatches",
    "dialplan_transfer_codes",
    "forget_holiday_date",
    "holiday_categories",
    "holiday_subdivisions",
    "is_placeholder_number",
    "line_zone",
    "list_closures",
    "list_destinations",
    "load_settings",
    "normalize_number",
    "numbers_to_fill",
    "read_seed",
    "remove_closure",
    "remove_destination_number",
    "remove_holiday_date",
    "seed_if_empty",
    "set_closed_menu",
    "set_destination_number",
    "set_holiday_rules",
    "set_hours",
    "set_line_options",
    "set_menu",
    "set_override",
    "set_research_consent",
    "settings_version",
    "unverified_numbers",
    "update_destination",
]
