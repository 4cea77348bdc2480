"""The AstDB values the dialplan reads without the FastAGI server (ivr.mirror)."""

from __future__ import annotations

from dataclasses import replace

from ivr.dialplan import ASTDB_KEYS, dest_token
from ivr.mirror import directory_mirror, line_mirror
from ivr.settings import Destination

from .helpers import local, make_settings


def test_each_destination_maps_to_its_number_for_the_centre_territory() -> None:
    mirror = directory_mirror(make_settings())
    assert mirror == {
        "dest_911": "911",
        "dest_811": "811",
        "dest_CRISE": "4185550199",
        "dest_CPS": "18662773553",
        "dest_SOSVC": "18003639010",
        "dest_988": "988",
    }


def test_a_destination_without_a_number_for_the_territory_maps_to_empty() -> None:
    elsewhere = Destination("crise", "Crise", "Crisis", "emergency", "101", {"beauce": "1"})
    menus = Destination("menus-travaux", "Menus travaux", "Home help", "partner", "201", {})
    mirror = directory_mirror(make_settings(dests=(elsewhere, menus)))
    assert mirror == {"dest_CRISE": "", "dest_MENUS_TRAVAUX": ""}


def test_territory_number_wins_over_the_wildcard() -> None:
    dest = Destination("811", "811", "811", "emergency", "811", {"*": "811"})
    settings = make_settings(dests=(dest,))
    both = replace(dest, numbers={"*": "811", settings.territory: "18005550811"})
    assert directory_mirror(settings) == {"dest_811": "811"}
    assert directory_mirror(replace(settings, destinations=(both,))) == {"dest_811": "18005550811"}


def test_line_mirror_has_the_schedule_keys_and_the_directory_keys() -> None:
    settings = make_settings()
    mirror = line_mirror(settings, local(2026, 6, 10, 10, 0))
    assert set(mirror) >= ASTDB_KEYS
    assert set(mirror) - ASTDB_KEYS == {"dest_" + dest_token(d.key) for d in settings.destinations}


def test_dest_token_is_what_the_dialplan_globals_use() -> None:
    assert dest_token("menus-travaux") == "MENUS_TRAVAUX"
    assert dest_token("988") == "988"
