"""CEL configuration, the referral feature code, and the names Python reads them by.

`ivr211 reconcile` reads CEL rows in the column order of listener.cel.COLUMNS and
recognises the referral by listener.cel's event names: the conf files must write
exactly those.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from listener.cel import (
    COLUMNS,
    REFERRAL_CEL_EVENT,
    REFERRAL_DESTINATION_HEADER,
    REFERRAL_USER_EVENT,
    parse_eventtime,
)

from .confparse import load

SEED = Path(__file__).resolve().parents[2] / "store" / "defaults" / "line-settings.toml"
CUSTOM_VARIABLES = {
    "eventtype": "eventtype",
    "eventtime": "eventtime",
    "CALLERID(name)": "cid_name",
    "CALLERID(num)": "cid_num",
    "CHANNEL(exten)": "exten",
    "CHANNEL(context)": "context",
    "CHANNEL(channame)": "channame",
    "CHANNEL(appname)": "appname",
    "CHANNEL(appdata)": "appdata",
    "CHANNEL(uniqueid)": "uniqueid",
    "CHANNEL(linkedid)": "linkedid",
    "CHANNEL(peer)": "peer",
    "eventextra": "extra",
}
NEEDED_EVENTS = {
    "CHAN_START",
    "CHAN_END",
    "ANSWER",
    "HANGUP",
    "BRIDGE_ENTER",
    "BRIDGE_EXIT",
    "ATTENDEDTRANSFER",
    "BLINDTRANSFER",
    "USER_DEFINED",
    "LINKEDID_END",
}


def dialplan(context: str) -> list[str]:
    return [value for _, value in load("extensions.conf").section(context).entries]


def test_cel_is_enabled_with_the_events_reconcile_reads_and_microseconds() -> None:
    general = load("cel.conf").section("general")
    assert general.get("enable") == "yes"
    events = {e.strip() for e in (general.get("events") or "").split(",")}
    assert events >= NEEDED_EVENTS
    # No dateformat: CEL writes epoch seconds with microseconds (2r), one instant
    # whatever the PBX host's zone; with one, local time without an offset.
    assert general.get("dateformat") is None
    recorded = '"HANGUP","1796401579.353867"'  # 2r, cel_custom Master.csv
    eventtime = recorded.split(",")[1].strip('"')
    for pbx_zone in (UTC, ZoneInfo("America/Toronto"), ZoneInfo("Pacific/Honolulu")):
        when, precise = parse_eventtime(eventtime, pbx_zone)
        assert precise
        assert when == datetime(2026, 12, 4, 16, 26, 19, 353867, tzinfo=UTC)


def test_cel_custom_writes_the_columns_reconcile_reads() -> None:
    (mapping,) = load("cel_custom.conf").section("mappings").entries
    name, value = mapping
    assert name == "Master.csv"
    variables = re.findall(r"\$\{CSV_QUOTE\(\$\{([^}]*)\}\)\}", value)
    assert ",".join(f"${{CSV_QUOTE(${{{v}}})}}" for v in variables) == value
    assert tuple(CUSTOM_VARIABLES.get(v, v) for v in variables) == COLUMNS


def applicationmap() -> dict[str, list[str]]:
    entries = load("features.conf").section("applicationmap").entries
    return {name: value.split(",", 2) for name, value in entries}


def test_referral_feature_runs_the_subroutine_on_the_navigators_channel() -> None:
    features = applicationmap()
    assert list(features) == ["ivr211-referral"]
    code, activate_on, app = features["ivr211-referral"]
    assert activate_on == "self"
    assert app == "Gosub(ivr211-referral,s,1)"
    assert load("extensions.conf").named("ivr211-referral")
    conf = load("features.conf")
    taken = [v for _, v in conf.section("featuremap").entries] + [
        v for k, v in conf.section("general").entries if k.startswith("atxfer") and "*" in v
    ]
    assert all(not code.startswith(t) and not t.startswith(code) for t in taken), taken


def test_only_the_navigators_leg_gets_the_feature() -> None:
    lines = [v for s in load("extensions.conf").sections for _, v in s.entries]
    assert not [line for line in lines if "Set(__DYNAMIC_FEATURES" in line]
    assert "s,1,Set(DYNAMIC_FEATURES=ivr211-referral)" in dialplan("ivr211-navigator-leg")
    queue_calls = [line for line in lines if "Queue(" in line]
    assert queue_calls
    options = [re.search(r"Queue\(([^,]*),([^,]*),", line) for line in queue_calls]
    assert all(o is not None and "b(ivr211-navigator-leg^s^1)" in o[2] for o in options)


def test_referral_events_carry_the_names_listener_reads() -> None:
    lines = dialplan("ivr211-referral")
    user_events = [re.search(r"UserEvent\(([^,]+),(.*)\)$", v) for v in lines if "UserEvent(" in v]
    cel_events = [re.search(r"CELGenUserEvent\(([^,]+),(.*)\)$", v) for v in lines if "CELGen" in v]
    plain = [m for m in user_events if m and "CELGenUserEvent" not in m.string]
    assert len(plain) == 1 and len(cel_events) == 1
    assert plain[0][1] == REFERRAL_USER_EVENT
    assert plain[0][2].startswith(f"{REFERRAL_DESTINATION_HEADER}: ${{REF_KEY}}")
    cel = cel_events[0]
    assert cel is not None
    assert (cel[1], cel[2]) == (REFERRAL_CEL_EVENT, "${REF_KEY}")


def test_referral_codes_are_the_transfer_short_codes_and_give_the_seed_keys() -> None:
    with SEED.open("rb") as seed:
        destinations = tomllib.load(seed)["destinations"]
    by_code = {str(d["short_code"]): str(d["key"]) for d in destinations}
    keys = {}
    for value in dialplan("ivr211-referral-keys"):
        code, priority, app = value.split(",", 2)
        assert priority == "1"
        keys[code] = re.fullmatch(r"Return\(([\w-]+)\)", app)[1]  # type: ignore[index]
    section = load("extensions.conf").section("navigator-transfers")
    transfers = {v.split(",", 1)[0] for k, v in section.entries if k == "exten"}
    assert set(keys) == transfers
    assert keys == by_code
    digits = dict(load("extensions.conf").section("globals").entries)["REFERRAL_CODE_DIGITS"]
    assert {len(code) for code in by_code} == {int(digits)}
    assert any("${REFERRAL_CODE_DIGITS}" in v for v in dialplan("ivr211-referral"))


def test_phones_cannot_transfer_by_sip_refer() -> None:
    conf = load("pjsip.conf")
    assert conf.resolved(conf.section("navigator-phone"))["allow_transfer"] == ["no"]
