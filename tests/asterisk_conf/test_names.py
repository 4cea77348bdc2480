"""The dialplan and the Python code name the same things (ivr/dialplan.py, ivr/prompts.py).

Every AGI route, IVR_* channel variable, IVR_ROUTE value and AstDB key named in
extensions.conf is declared in ivr.dialplan, and every one declared there is used
in the dialplan; every 211/<name> prompt the conf files play is in the catalogue;
every destination of the seed has its short code and DEST_ global.
"""

from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path

import pytest

from ivr import dialplan as names
from ivr.dialplan import dest_token
from ivr.mirror import gotoiftime_range
from ivr.prompts import CATALOGUE, SOUND_DIR
from ivr.settings import DayHours

from .confparse import load

SEED = Path(__file__).resolve().parents[2] / "store" / "defaults" / "line-settings.toml"


def dialplan_lines() -> list[str]:
    """The dialplan without its comments (a name in a comment is not a use)."""
    return [v for s in load("extensions.conf").sections for _, v in s.entries]


def test_agi_routes_match() -> None:
    used = {m for line in dialplan_lines() for m in re.findall(r"AGI\([^/]+/([\w-]+)", line)}
    assert used == set(names.AGI_ROUTES)


def test_channel_variables_match_both_ways() -> None:
    used = {m for line in dialplan_lines() for m in re.findall(r"\bIVR_[A-Z_]+\b", line)}
    assert used == set(names.CHANNEL_VARIABLES)


def test_inherited_variables_are_set_with_the_double_underscore() -> None:
    set_inherited = {m for line in dialplan_lines() for m in re.findall(r"Set\(__(IVR_\w+)=", line)}
    assert set_inherited <= set(names.INHERITED)
    set_plain = {m for line in dialplan_lines() for m in re.findall(r"Set\((IVR_\w+)=", line)}
    assert not set_plain & set(names.INHERITED)


def test_route_values_match() -> None:
    used = {
        m for line in dialplan_lines() for m in re.findall(r'"\$\{IVR_ROUTE\}" = "([\w-]+)"', line)
    }
    assert used == {route.value for route in names.Route}


def test_astdb_family_and_keys_match() -> None:
    found = {
        m for line in dialplan_lines() for m in re.findall(r"\$\{DB\(([\w-]+)/(\w+)\)\}", line)
    }
    assert {family for family, _ in found} == {names.ASTDB_FAMILY}
    assert {key for _, key in found} == set(names.ASTDB_KEYS) | {names.DB_VERSION}


def test_transfer_numbers_and_hours_are_read_from_the_astdb_keys_the_server_writes() -> None:
    pattern = r"\$\{DB\(([\w-]+/\w+)\$\{(?:ARG1|DAY)\}\)\}"
    dynamic = {m for line in dialplan_lines() for m in re.findall(pattern, line)}
    family = names.ASTDB_FAMILY
    assert dynamic == {f"{family}/{names.DB_DEST_PREFIX}", f"{family}/{names.DB_HOURS_PREFIX}"}


def mirrored_keys() -> set[str]:
    """The keys line_mirror writes, with the per-destination and per-day ones as prefixes."""
    return {
        *names.ASTDB_KEYS,
        names.DB_VERSION,
        names.DB_DEST_PREFIX,
        names.DB_HOURS_PREFIX,
    }


def test_the_listeners_globals_are_the_astdb_keys_in_capitals() -> None:
    """Every GLOBAL(IVR211_...) the dialplan reads is global_name() of a mirrored key, and
    each mirrored key is read both ways."""
    read = {
        m
        for line in dialplan_lines()
        for m in re.findall(r"\$\{GLOBAL\((IVR211_\w+?)(?:\$\{\w+\})?\)\}", line)
    }
    assert read == {names.global_name(key) for key in mirrored_keys()}


def test_no_pushed_global_is_named_in_the_globals_section() -> None:
    """`dialplan reload` puts a global named in [globals] back to its file value (2r): a
    value the listener pushed there would silently revert until the next change."""
    declared = {name for name, _ in load("extensions.conf").section("globals").entries}
    assert not {n for n in declared if n.startswith(names.GLOBAL_PREFIX)}


def test_the_mirror_days_are_the_days_the_dialplan_computes() -> None:
    """STRFTIME %u gives 1 (Monday) .. 7 (Sunday); a holiday is HOURS_HOLIDAY."""
    (line,) = [v for v in dialplan_lines() if v.startswith("n,Set(DAY=")]
    assert f"?{names.HOURS_HOLIDAY}:" in line and ",%u)" in line
    assert (*(str(d) for d in range(1, 8)), names.HOURS_HOLIDAY) == names.HOURS_DAYS
    hours_closed = [v for v in dialplan_lines() if f'"{names.HOURS_CLOSED}"' in v]
    assert hours_closed, "the dialplan never tests for a day closed all day"


def test_default_hours_are_domains_eight_to_seven() -> None:
    """The last resort of the fallback, before either writer ever ran (DOMAIN.md: 7/7,
    08:00-19:00; GotoIfTime includes the end minute)."""
    globals_ = dict(load("extensions.conf").section("globals").entries)
    assert globals_["HOURS_DEFAULT"] == gotoiftime_range(DayHours(time(8, 0), time(19, 0)))
    assert not {n for n in globals_ if n.startswith("HOURS_") and n != "HOURS_DEFAULT"}


def played_prompts() -> set[str]:
    prompts: set[str] = set()
    for line in dialplan_lines():
        for files in re.findall(r"(?:Playback|Background)\(([^),]+)", line):
            prompts.update(f for f in files.split("&"))
    for value in load("queues.conf").section("navigateurs").get_all("periodic-announce"):
        prompts.update(value.split(","))
    return prompts


def test_every_prompt_the_configuration_plays_is_in_the_catalogue() -> None:
    prompts = played_prompts()
    assert prompts, "the dialplan plays no prompt at all"
    assert all(p.startswith(f"{SOUND_DIR}/") for p in prompts), prompts
    missing = {p for p in prompts if p.removeprefix(f"{SOUND_DIR}/") not in CATALOGUE}
    assert not missing


def test_every_prompt_the_configuration_plays_exists_in_french_and_english() -> None:
    for prompt in played_prompts():
        assert set(CATALOGUE[prompt.removeprefix(f"{SOUND_DIR}/")]) == {"fr", "en"}, prompt


def seed_destinations() -> list[dict[str, object]]:
    with SEED.open("rb") as seed:
        destinations: list[dict[str, object]] = tomllib.load(seed)["destinations"]
    return destinations


@pytest.mark.parametrize("destination", seed_destinations(), ids=lambda d: str(d["key"]))
def test_each_seed_destination_has_its_short_code_and_number_global(
    destination: dict[str, object],
) -> None:
    variable = "DEST_" + str(destination["key"]).upper().replace("-", "_")
    transfers = load("extensions.conf").section("navigator-transfers")
    first_lines = [v for k, v in transfers.entries if k == "exten"]
    token = dest_token(str(destination["key"]))
    expected = f"{destination['short_code']},1,Gosub(ivr211-dial-code,s,1({token}))"
    assert expected in first_lines
    assert variable in dict(load("extensions.conf").section("globals").entries)


def test_no_short_code_without_a_seed_destination() -> None:
    codes = {str(d["short_code"]) for d in seed_destinations()}
    transfers = load("extensions.conf").section("navigator-transfers")
    assert {v.split(",", 1)[0] for k, v in transfers.entries if k == "exten"} == codes


def test_seed_queue_and_mailbox_match_the_dialplan_globals() -> None:
    with SEED.open("rb") as seed:
        line = tomllib.load(seed)["line"]
    globals_ = dict(load("extensions.conf").section("globals").entries)
    assert globals_["QUEUE_NAME"] == line["queue_name"]
    assert globals_["RESEARCH_MAILBOX"] == line["research_mailbox"]
    assert globals_["LINE_TZ"] == line["timezone"]
