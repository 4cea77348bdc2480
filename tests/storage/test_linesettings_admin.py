"""The change functions behind the admin pages, on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr.schedule import holidays_in_year
from store.linesettings import (
    SettingsChangeError,
    SettingsStore,
    add_destination,
    add_holiday_date,
    dialplan_mismatches,
    dialplan_transfer_codes,
    forget_holiday_date,
    list_destinations,
    remove_destination_number,
    remove_holiday_date,
    set_closed_menu,
    set_destination_number,
    set_holiday_rules,
    set_line_options,
    set_menu,
    update_destination,
)

EXTENSIONS_CONF = Path(__file__).resolve().parents[2] / "asterisk_conf" / "extensions.conf"
ST_JEAN = date(2026, 6, 24)
EASTER_MONDAY_2026 = date(2026, 4, 6)


def _new_destination(session: Session) -> int:
    return add_destination(
        session,
        "popote",
        "Popote roulante",
        "Meals on wheels",
        "partner",
        "popote",
        "204",
        {"capitale-nationale": "418 555-0141", "*": "1 800 555-0142"},
        "alice",
    )


CHANGES: dict[str, Callable[[Session], int]] = {
    "holiday_rules": lambda s: set_holiday_rules(s, ["public", "optional"], "QC", "alice"),
    "add_holiday": lambda s: add_holiday_date(s, date(2026, 12, 24), "Veille de Noël", "alice"),
    "remove_holiday": lambda s: remove_holiday_date(s, ST_JEAN, "alice"),
    "add_destination": _new_destination,
    "update_destination": lambda s: update_destination(s, "sosvc", "alice", label_en="SOS"),
    "remove_number": lambda s: remove_destination_number(
        s, "crise", "chaudiere-appalaches", "alice"
    ),
    "line_options": lambda s: set_line_options(s, "alice", queue_name="nav-211"),
    "menu": lambda s: set_menu(s, 4, 7000, "alice"),
    "closed_menu": lambda s: set_closed_menu(s, {"1": "811", "2": "988"}, "9", "alice"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_each_change_bumps_the_version_once(
    store: SettingsStore, change: Callable[[Session], int]
) -> None:
    before = store.load()
    with store.change() as session:
        assert change(session) == 2
    after = store.load()
    assert after.version == 2
    assert after != before


def test_holiday_rules_add_easter_monday(store: SettingsStore) -> None:
    rules = store.load().schedule.holidays
    assert EASTER_MONDAY_2026 not in holidays_in_year(rules, 2026)
    with store.change() as session:
        set_holiday_rules(session, ["optional", "public", " "], "qc", "alice")
    rules = store.load().schedule.holidays
    assert rules.categories == ("optional", "public")
    assert rules.subdivision == "QC"
    assert EASTER_MONDAY_2026 in holidays_in_year(rules, 2026)
    with store.change() as session:
        set_holiday_rules(session, ["public"], "", "alice")
    national = store.load().schedule.holidays
    assert national.subdivision == ""
    assert ST_JEAN not in holidays_in_year(national, 2026)


def test_added_removed_and_forgotten_holiday_dates(store: SettingsStore) -> None:
    eve = date(2026, 12, 24)
    with store.change() as session:
        add_holiday_date(session, eve, " Veille de Noël ", "alice")
        remove_holiday_date(session, ST_JEAN, "alice")
    rules = store.load().schedule.holidays
    assert dict(rules.added) == {eve: "Veille de Noël"}
    assert rules.removed == frozenset({ST_JEAN})
    year = holidays_in_year(rules, 2026)
    assert year[eve] == "Veille de Noël" and ST_JEAN not in year
    with store.change() as session:
        forget_holiday_date(session, ST_JEAN, "alice")
        forget_holiday_date(session, eve, "alice")
    rules = store.load().schedule.holidays
    assert rules.added == {} and rules.removed == frozenset()
    assert store.version() == 5


def test_new_destination_is_loaded_with_unverified_numbers(store: SettingsStore) -> None:
    with store.change() as session:
        _new_destination(session)
        (popote,) = [d for d in list_destinations(session) if d.key == "popote"]
    assert (popote.kind, popote.report_group, popote.short_code) == ("partner", "popote", "204")
    assert {n.territory: (n.number, n.verified) for n in popote.numbers} == {
        "*": ("18005550142", False),
        "capitale-nationale": ("4185550141", False),
    }
    loaded = store.load().destination("popote")
    assert loaded is not None
    assert loaded.number_for("capitale-nationale") == "4185550141"
    assert loaded.number_for("bas-saint-laurent") == "18005550142"
    assert store.load().destinations[-1].key == "popote"


def test_destination_edits_and_deactivation(store: SettingsStore) -> None:
    with store.change() as session:
        update_destination(
            session,
            "988",
            "alice",
            label_fr=" 9-8-8 ",
            label_en="988",
            kind="emergency",
            report_group="988",
            short_code="9880",
        )
        update_destination(session, "paniers-noel", "alice", active=False)
        records = {d.key: d for d in list_destinations(session)}
    assert records["988"].label_fr == "9-8-8"
    assert (records["988"].report_group, records["988"].short_code) == ("988", "9880")
    assert records["paniers-noel"].active is False
    settings = store.load()
    assert settings.destination("paniers-noel") is None
    d988 = settings.destination("988")
    assert d988 is not None and d988.short_code == "9880"
    with store.change() as session:
        update_destination(session, "paniers-noel", "alice", active=True)
    assert store.load().destination("paniers-noel") is not None


def test_numbers_per_territory(store: SettingsStore) -> None:
    with store.change() as session:
        set_destination_number(session, "crise", "bas-saint-laurent", "418 555-0177", "alice")
        remove_destination_number(session, "crise", "chaudiere-appalaches", "alice")
    crise = store.load().destination("crise")
    assert crise is not None
    assert dict(crise.numbers) == {"bas-saint-laurent": "4185550177"}  # the seed's are empty


def test_line_options_menu_and_closed_menu(store: SettingsStore) -> None:
    with store.change() as session:
        set_line_options(
            session,
            "alice",
            territory="chaudiere-appalaches",
            queue_name="nav-211",
            research_mailbox="2000@recherche",
        )
        set_menu(session, 5, 8000, "alice")
        set_closed_menu(session, {"1": "811", "2": "988", "5": "crise"}, "#", "alice")
        set_destination_number(session, "crise", "chaudiere-appalaches", "418 555-0102", "alice")
    settings = store.load()
    assert settings.territory == "chaudiere-appalaches"
    assert (settings.queue_name, settings.research_mailbox) == ("nav-211", "2000@recherche")
    assert (settings.menu.max_attempts, settings.menu.digit_timeout_ms) == (5, 8000)
    assert dict(settings.closed_transfer_keys) == {"1": "811", "2": "988", "5": "crise"}
    assert settings.closed_research_key == "#"
    crise = settings.destination("crise")
    assert crise is not None and crise.number_for(settings.territory) == "4185550102"


REFUSED: list[tuple[str, Callable[[Session], object], str]] = [
    ("no category", lambda s: set_holiday_rules(s, [" "], "QC", "b"), "at least one"),
    ("bad category", lambda s: set_holiday_rules(s, ["fun"], "QC", "b"), "unknown holiday cat"),
    ("bad subdivision", lambda s: set_holiday_rules(s, ["public"], "XX", "b"), "subdivision"),
    ("bad country", lambda s: set_holiday_rules(s, ["public"], None, "b", country="ZZ"), "ZZ"),
    ("unnamed holiday", lambda s: add_holiday_date(s, date(2026, 3, 3), " ", "b"), "name"),
    ("not a holiday", lambda s: remove_holiday_date(s, date(2026, 3, 3), "b"), "not a holiday"),
    ("nothing to forget", lambda s: forget_holiday_date(s, ST_JEAN, "b"), "neither"),
    (
        "duplicate key",
        lambda s: add_destination(s, "cps", "a", "b", "emergency", "cps", "555", {"*": "1"}, "b"),
        "already exists",
    ),
    (
        "bad key",
        lambda s: add_destination(s, "Nope!", "a", "b", "partner", "x", "555", {"*": "911"}, "b"),
        "key 'Nope!'",
    ),
    (
        "duplicate code",
        lambda s: add_destination(s, "new", "a", "b", "partner", "x", "101", {"*": "911"}, "b"),
        "already used by destination 'crise'",
    ),
    (
        "bad kind",
        lambda s: add_destination(s, "new", "a", "b", "friend", "x", "555", {"*": "911"}, "b"),
        "emergency or partner",
    ),
    (
        "no label",
        lambda s: add_destination(s, "new", " ", "b", "partner", "x", "555", {"*": "911"}, "b"),
        "French label",
    ),
    (
        "no number here",
        lambda s: add_destination(
            s, "new", "a", "b", "partner", "x", "555", {"bas-saint-laurent": "4185550000"}, "b"
        ),
        "territory 'capitale-nationale'",
    ),
    (
        "bad number",
        lambda s: add_destination(s, "new", "a", "b", "partner", "x", "555", {"*": "abc"}, "b"),
        "dialable",
    ),
    ("bad code", lambda s: update_destination(s, "cps", "b", short_code="1a"), "1 to 16 digits"),
    ("code taken", lambda s: update_destination(s, "cps", "b", short_code="911"), "'911'"),
    ("bad group", lambda s: update_destination(s, "cps", "b", report_group="A B"), "report group"),
    ("unknown dest", lambda s: update_destination(s, "nope", "b", label_fr="x"), "no destination"),
    ("menu dest", lambda s: update_destination(s, "811", "b", active=False), "closed-hours menu"),
    (
        "bad territory",
        lambda s: set_destination_number(s, "crise", "Rive Sud", "4185550000", "b"),
        "territory 'Rive Sud'",
    ),
    (
        "last number",
        lambda s: remove_destination_number(s, "crise", "capitale-nationale", "b"),
        "would have no number",
    ),
    (
        "no such number",
        lambda s: remove_destination_number(s, "crise", "bas-saint-laurent", "b"),
        "has no number",
    ),
    (
        "territory without numbers",
        lambda s: set_line_options(s, "b", territory="bas-saint-laurent"),
        "no number for territory 'bas-saint-laurent' for: 911, 811, crise",
    ),
    ("bad queue", lambda s: set_line_options(s, "b", queue_name="nav 211"), "queue name"),
    ("bad mailbox", lambda s: set_line_options(s, "b", research_mailbox="@x"), "mailbox"),
    ("attempts", lambda s: set_menu(s, 0, 5000, "b"), "between 1 and 9"),
    ("timeout", lambda s: set_menu(s, 3, 500, "b"), "between 1000 and 30000"),
    ("bad digit", lambda s: set_closed_menu(s, {"x": "811"}, "3", "b"), "not a phone key"),
    ("unknown target", lambda s: set_closed_menu(s, {"1": "nope"}, "3", "b"), "no active"),
    ("same key", lambda s: set_closed_menu(s, {"1": "811"}, "1", "b"), "both"),
    ("bad research key", lambda s: set_closed_menu(s, {"1": "811"}, "12", "b"), "research key"),
]


@pytest.mark.parametrize(("call", "message"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_bad_changes_are_refused_and_change_nothing(
    store: SettingsStore, call: Callable[[Session], object], message: str
) -> None:
    before = store.load()
    with pytest.raises(SettingsChangeError, match=re.escape(message)), store.change() as session:
        call(session)
    assert store.version() == 1
    assert store.load() == before


def test_seed_destinations_match_the_dialplan_short_codes(store: SettingsStore) -> None:
    codes = dialplan_transfer_codes(EXTENSIONS_CONF.read_text(encoding="utf-8"))
    assert codes["101"] == "CRISE" and codes["201"] == "MENUS_TRAVAUX"
    with store.change() as session:
        assert dialplan_mismatches(list_destinations(session), codes) == {}
        _new_destination(session)
        update_destination(session, "sosvc", "b", short_code="1030")
        update_destination(session, "cps", "b", short_code="103")
        problems = dialplan_mismatches(list_destinations(session), codes)
    assert problems == {
        "popote": "no extension 204 in [navigator-transfers]",
        "cps": "extension 103 of [navigator-transfers] dials SOSVC, not CPS",
        "sosvc": "no extension 1030 in [navigator-transfers]",
    }
