"""Line settings in the database: seed, load, cache, and the change functions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ivr.settings import DayHours
from ivr211.config import DEFAULT_SEED
from store import models as m
from store.linesettings import (
    CachedSettings,
    SeedError,
    SettingsChangeError,
    SettingsNotFound,
    SettingsStore,
    add_closure,
    list_closures,
    read_seed,
    remove_closure,
    seed_if_empty,
    set_destination_number,
    set_hours,
    set_override,
    unverified_numbers,
)
from store.tables import metadata

QC = ZoneInfo("America/Toronto")
FUTURE = datetime(2099, 1, 1, 8, 0, tzinfo=QC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_load_before_seed_says_to_upgrade(migrated_engine: Engine) -> None:
    with pytest.raises(SettingsNotFound, match="db upgrade"):
        SettingsStore(migrated_engine).load()


def test_seed_gives_the_domain_defaults(store: SettingsStore) -> None:
    settings = store.load()
    sched = settings.schedule
    # DOMAIN.md: the centre's published hours, 8 h - 19 h seven days a week, holidays too
    every_day = DayHours(time(8), time(19))
    assert [sched.weekly.for_weekday(d) for d in range(7)] == [every_day] * 7
    assert sched.weekly.holiday == every_day
    assert sched.timezone == "America/Toronto"
    assert (sched.holidays.country, sched.holidays.subdivision) == ("CA", "QC")
    assert sched.holidays.categories == ("public",)
    assert sched.override is None and sched.closures == ()
    assert settings.territory == "capitale-nationale"
    assert settings.queue_name == "navigateurs"
    assert settings.research_mailbox == "1000@recherche"
    assert dict(settings.closed_transfer_keys) == {"1": "811", "2": "cps"}
    assert settings.closed_research_key == "3"
    assert (settings.menu.max_attempts, settings.menu.digit_timeout_ms) == (3, 5000)
    assert settings.version == 1

    keys = [d.key for d in settings.destinations]
    assert keys == [
        "911",
        "811",
        "crise",
        "cps",
        "sosvc",
        "988",
        "menus-travaux",
        "appels-amitie",
        "paniers-noel",
    ]
    by_key = {d.key: d for d in settings.destinations}
    assert by_key["cps"].number_for("capitale-nationale") == "18662773553"
    assert by_key["sosvc"].number_for("chaudiere-appalaches") == "18003639010"
    for code in ("911", "811", "988"):
        assert by_key[code].number_for("capitale-nationale") == code
    # one crisis centre per territory, still to fill in: no number dials yet
    assert dict(by_key["crise"].numbers) == {}
    assert by_key["crise"].number_for("capitale-nationale") is None
    assert {d.key for d in settings.destinations if d.kind == "partner"} == {
        "menus-travaux",
        "appels-amitie",
        "paniers-noel",
    }


def test_report_groups_and_unverified_numbers(store: SettingsStore) -> None:
    with store.change() as session:
        groups = {
            k: g for k, g in session.execute(select(m.Destination.key, m.Destination.report_group))
        }
        unverified = unverified_numbers(session)
    assert groups["988"] == "cps"
    assert groups["811"] == "811"
    assert groups["crise"] == "crise"
    assert len(unverified) == 10  # 5 numbers that dial x 2 territories, none checked yet


def _row_counts(session: Session) -> dict[str, int]:
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in metadata.sorted_tables
    }


def test_seeding_twice_does_not_double_anything(store: SettingsStore) -> None:
    with store.change() as session:
        before = _row_counts(session)
        assert seed_if_empty(session, DEFAULT_SEED) is False
        assert seed_if_empty(session, Path("/nonexistent/seed.toml")) is False
        after = _row_counts(session)
    assert before == after
    assert before["destinations"] == 9
    assert before["destination_numbers"] == 18
    assert before["opening_hours"] == 8
    assert before["settings_version"] == 1


def _change_override(session: Session) -> None:
    set_override(session, "closed", FUTURE, "tempête", "alice")


def _change_add_closure(session: Session) -> None:
    add_closure(session, FUTURE, FUTURE + timedelta(hours=3), "réunion d'équipe", "alice")


def _change_hours(session: Session) -> None:
    set_hours(session, "sun", None, "alice")


def _change_number(session: Session) -> None:
    set_destination_number(session, "crise", "capitale-nationale", "418 555-0199", "alice")


CHANGES: dict[str, Callable[[Session], None]] = {
    "override": _change_override,
    "add_closure": _change_add_closure,
    "hours": _change_hours,
    "number": _change_number,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_each_change_bumps_the_version_and_the_cache_sees_it(
    store: SettingsStore, change: Callable[[Session], None]
) -> None:
    clock = FakeClock()
    cached = CachedSettings(store, ttl_s=5.0, clock=clock)
    first = cached()
    assert first.version == 1
    with store.change() as session:
        change(session)
    assert store.version() == 2
    clock.now += 1.0
    assert cached() is first, "within the TTL the cached value is served"
    clock.now += 5.0
    fresh = cached()
    assert fresh.version == 2
    assert fresh != first


def test_each_change_is_visible_in_the_loaded_settings(store: SettingsStore) -> None:
    with store.change() as session:
        for change in CHANGES.values():
            change(session)
    settings = store.load(now=datetime(2026, 1, 1, tzinfo=UTC))
    assert settings.version == 5
    assert settings.schedule.override is not None
    assert settings.schedule.override.mode == "closed"
    assert settings.schedule.override.set_by == "alice"
    assert [c.reason for c in settings.schedule.closures] == ["réunion d'équipe"]
    assert settings.schedule.weekly.for_weekday(6) is None
    crise = settings.destination("crise")
    assert crise is not None and crise.numbers["capitale-nationale"] == "4185550199"


def test_cache_does_not_reload_when_the_version_did_not_move(store: SettingsStore) -> None:
    clock = FakeClock()
    cached = CachedSettings(store, ttl_s=5.0, clock=clock)
    first = cached()
    clock.now += 60.0
    assert cached() is first


def test_fresh_is_the_cached_value_within_the_ttl_only(store: SettingsStore) -> None:
    clock = FakeClock()
    cached = CachedSettings(store, ttl_s=5.0, clock=clock)
    assert cached.fresh() is None, "nothing read yet"
    first = cached()
    clock.now += 4.0
    assert cached.fresh() is first
    clock.now += 1.0
    assert cached.fresh() is None, "a version check is due: the caller reads the source"
    assert cached() is first
    assert cached.fresh() is first
    cached.invalidate()
    assert cached.fresh() is None


def test_cache_keeps_the_last_value_when_the_database_fails(store: SettingsStore) -> None:
    clock = FakeClock()
    cached = CachedSettings(store, ttl_s=5.0, clock=clock)
    first = cached()
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE settings_version"))
    clock.now += 60.0
    assert cached() is first
    fresh = CachedSettings(store, ttl_s=5.0, clock=clock)
    with pytest.raises(Exception, match="settings_version"):
        fresh()


def test_aware_datetimes_round_trip(store: SettingsStore) -> None:
    starts = datetime(2099, 7, 1, 9, 30, 15, 123456, tzinfo=QC)  # EDT, UTC-4
    ends = datetime(2099, 7, 1, 20, 0, tzinfo=ZoneInfo("Europe/Paris"))
    with store.change() as session:
        closure_id = add_closure(session, starts, ends, "storm", "bob")
    with store.change() as session:
        (row,) = list_closures(session)
    assert row.id == closure_id
    assert row.starts == starts and row.ends == ends
    assert row.starts.tzinfo == UTC and row.starts.hour == 13
    assert row.created_at.tzinfo == UTC
    settings = store.load(now=datetime(2099, 6, 1, tzinfo=UTC))
    assert settings.schedule.closures[0].starts == starts


def test_naive_datetimes_are_refused(store: SettingsStore) -> None:
    with pytest.raises(ValueError, match="start has no time zone"), store.change() as session:
        add_closure(session, datetime(2099, 1, 1), datetime(2099, 1, 2), "x", "bob")
    assert store.version() == 1


def test_expired_override_and_past_closures_are_left_out(store: SettingsStore) -> None:
    now = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
    with store.change() as session:
        set_override(session, "open", now + timedelta(hours=1), "", "bob", now=now)
        add_closure(session, now, now + timedelta(hours=2), "storm", "bob", now=now)
    during = store.load(now=now + timedelta(minutes=30)).schedule
    assert during.override is not None and len(during.closures) == 1
    after = store.load(now=now + timedelta(hours=3)).schedule
    assert after.override is None and after.closures == ()


def test_a_forced_closure_is_the_night_switch_unless_exceptional(store: SettingsStore) -> None:
    with store.change() as session:
        set_override(session, "closed", None, "soir", "bob")
    night = store.load().schedule.override
    assert night is not None and (night.reason, night.exceptional) == ("soir", False)
    with store.change() as session:
        set_override(session, "closed", FUTURE, "panne de courant", "bob", exceptional=True)
    outage = store.load().schedule.override
    assert outage is not None
    assert (outage.mode, outage.reason, outage.exceptional) == ("closed", "panne de courant", True)
    with store.change() as session:
        set_override(session, "closed", None, "", "bob", exceptional=True)
    unnamed = store.load().schedule.override
    assert unnamed is not None and (unnamed.reason, unnamed.exceptional) == ("", True)
    with store.change() as session:
        set_override(session, "open", None, "", "bob")
    forced_open = store.load().schedule.override
    assert forced_open is not None and not forced_open.exceptional


def test_clearing_the_override(store: SettingsStore) -> None:
    with store.change() as session:
        set_override(session, "closed", None, "panne", "bob")
    assert store.load().schedule.override is not None
    with store.change() as session:
        assert set_override(session, None, None, "", "bob") == 3
    assert store.load().schedule.override is None


def test_remove_closure(store: SettingsStore) -> None:
    with store.change() as session:
        closure_id = add_closure(session, FUTURE, FUTURE + timedelta(days=1), "x", "bob")
    with store.change() as session:
        remove_closure(session, closure_id, "bob")
    assert store.version() == 3
    with pytest.raises(SettingsChangeError, match="no closure"), store.change() as session:
        remove_closure(session, closure_id, "bob")
    assert store.version() == 3
    assert store.load().schedule.closures == ()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: set_override(s, "closed", datetime(2000, 1, 1, tzinfo=UTC), "", "b"), "past"),
        (lambda s: set_override(s, "open", None, "", "b", exceptional=True), "forced closure"),
        (lambda s: set_override(s, "closed", None, "[exceptional] x", "b"), "cannot start"),
        (lambda s: add_closure(s, FUTURE, FUTURE, "x", "b"), "end after"),
        (lambda s: add_closure(s, FUTURE, FUTURE + timedelta(1), " ", "b"), "reason"),
        (lambda s: set_destination_number(s, "nowhere", "*", "911", "b"), "no destination"),
        (lambda s: set_destination_number(s, "911", "*", "91-one", "b"), "dialable"),
        (lambda s: set_hours(s, "someday", None, "b"), "unknown day"),
    ],
)
def test_bad_changes_are_refused_and_change_nothing(
    store: SettingsStore, call: Callable[[Session], object], message: str
) -> None:
    with pytest.raises(SettingsChangeError, match=message), store.change() as session:
        call(session)
    assert store.version() == 1


SEED_TEXT = DEFAULT_SEED.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('kind = "partner"', 'kind = "friend"', "destinations[6].kind: Input should be"),
        ('mon = "08:00-19:00"', 'mon = "8h-19h"', "hours.mon: "),
        ('tue = "08:00-19:00"', 'tue = "19:00-08:00"', "hours.tue: "),
        ('queue_name = "navigateurs"', 'queue = "navigateurs"', "line.queue: unknown key"),
        (
            'timezone = "America/Toronto"',
            'timezone = "Mars/Olympus"',
            "line.timezone: unknown time zone",
        ),
        ('"2" = "cps"', '"2" = "nowhere"', "closed_menu.transfer_keys.2: unknown destination"),
        ('"18003639010"', '"1-800-SOS"', "destinations[4].numbers.capitale-nationale: "),
        ('short_code = "102"', 'short_code = "101"', "destinations[3].short_code: duplicate"),
        ('research_key = "3"', 'research_key = "1"', "closed_menu.research_key: "),
        ("max_attempts = 3", 'max_attempts = "three"', "menu.max_attempts: "),
        ('mon = "08:00-19:00"', 'mon = "08:00-19:00', "invalid TOML: "),
    ],
)
def test_bad_seed_names_the_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in SEED_TEXT
    path = tmp_path / "seed.toml"
    path.write_text(SEED_TEXT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SeedError) as info:
        read_seed(path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_bad_seed_toml_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "seed.toml"
    path.write_text("format = 1\n[line\n", encoding="utf-8")
    with pytest.raises(SeedError, match="line 2"):
        read_seed(path)


def test_a_bad_seed_writes_nothing(migrated_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "seed.toml"
    path.write_text(SEED_TEXT.replace('kind = "partner"', 'kind = "x"'), encoding="utf-8")
    store = SettingsStore(migrated_engine)
    with pytest.raises(SeedError), store.change() as session:
        seed_if_empty(session, path)
    assert store.version() is None


def test_seed_with_holiday_changes(migrated_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "seed.toml"
    text_ = SEED_TEXT.replace("added = {}", 'added = { 2030-12-24 = "Veille de Noël" }').replace(
        "removed = []", "removed = [2030-07-01]"
    )
    path.write_text(text_, encoding="utf-8")
    store = SettingsStore(migrated_engine)
    with store.change() as session:
        assert seed_if_empty(session, path) is True
    rules = store.load().schedule.holidays
    assert dict(rules.added) == {date(2030, 12, 24): "Veille de Noël"}
    assert rules.removed == frozenset({date(2030, 7, 1)})
