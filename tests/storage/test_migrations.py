"""The schema: migrations from empty on both databases, and the SQLite connection tuning."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from store.db import (
    NotMigrated,
    current_revision,
    head_revision,
    make_engine,
    normalize_url,
    readonly,
    require_current,
    upgrade,
)
from store.tables import MODELS, metadata

TABLES = {
    "settings_version",
    "line_options",
    "opening_hours",
    "holiday_rules",
    "holiday_dates",
    "closures",
    "line_override",
    "destinations",
    "destination_numbers",
    "closed_menu_keys",
    "navigators",
    "transfer_records",
    "calls",
    "navigator_activity",
    "call_hour_rollups",
    "call_wait_rollups",
    "call_path_rollups",
    "call_navigator_rollups",
    "activity_rollups",
    "call_hour_month_rollups",
    "call_wait_month_rollups",
    "call_path_month_rollups",
    "call_navigator_month_rollups",
    "activity_month_rollups",
    "transfer_navigator_rollups",
    "transfer_day_rollups",
    "transfer_hour_rollups",
    "transfer_delay_rollups",
    "commands",
    "listener_status",
    "users",
    "login_throttle",
    "user_sessions",
    "service_heartbeats",
    "navigator_presence",
    "queue_callers",
    "live_state",
    "voice_messages",
    "voice_notes",
    "audit_log",
    "twilio_calls",
    "twilio_conferences",
    "twilio_presence",
}


def test_upgrade_from_empty_reaches_head_with_every_table(engine: Engine) -> None:
    assert current_revision(engine) is None
    with pytest.raises(NotMigrated, match="db upgrade"):
        require_current(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision() == "0020"
    assert set(inspect(engine).get_table_names()) >= TABLES
    require_current(engine)


def test_migrations_match_the_models(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_every_table_is_listed_once_in_store_tables() -> None:
    assert len(set(MODELS)) == len(MODELS)
    assert {model.__tablename__ for model in MODELS} == set(metadata.tables) == TABLES


def test_upgrade_twice_changes_nothing(migrated_engine: Engine) -> None:
    upgrade(migrated_engine)
    assert current_revision(migrated_engine) == head_revision()


def test_upgrade_accepts_a_url(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(migrated_engine: Engine) -> None:
    with pytest.raises(IntegrityError), migrated_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO closed_menu_keys (digit, destination_key) VALUES ('1', 'nowhere')")
        )


def test_check_constraints_are_enforced(migrated_engine: Engine) -> None:
    with pytest.raises(IntegrityError), migrated_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO opening_hours (day, opens, closes)"
                " VALUES ('mon', '19:00:00', '08:00:00')"
            )
        )


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    try:
        # two transactions open at once in one thread: readers (two IMMEDIATE writers
        # would wait for each other, see test_sqlite_locking)
        with readonly(engine).connect() as first, readonly(engine).connect() as second:
            for conn in (first, second):
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "var" / "deeper" / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    assert path.is_file()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_postgresql_urls_use_psycopg3(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


def test_password_is_injected_not_written(tmp_path: Path) -> None:
    url = normalize_url("postgresql://ivr211@db.example/ivr211", password="s3cret")
    assert url.password == "s3cret"
    assert "s3cret" not in url.render_as_string(hide_password=True)


def _downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    from store.db import _alembic_config

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _transfer_row(outcome: str, source: str = "ami") -> str:
    return (
        "INSERT INTO transfer_records (key, kind, outcome, started_at, local_date, local_hour,"
        " fiscal_year, linkedid, navigator_channel, target_exten, target_context, interpreter,"
        f" source, created_at) VALUES ('k-{outcome}', 'attended', '{outcome}',"
        " '2026-12-04 16:12:16', '2026-12-04', 11, 2026, 'l1-735-caller',"
        f" 'Local/nav-manual@navigators', '913', 'emergency-services', false, '{source}',"
        " '2026-12-04 16:12:19')"
    )


def test_0007_accepts_caller_hung_up_and_its_downgrade_keeps_the_record(engine: Engine) -> None:
    upgrade(engine, "0006")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(_transfer_row("caller_hung_up")))
    upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(text(_transfer_row("caller_hung_up")))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(_transfer_row("hung_up")))
    _downgrade(engine, "0006")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT outcome FROM transfer_records")).scalars().all()
    assert kept == ["abandoned"]


def test_0019_accepts_the_twilio_source_and_its_downgrade_keeps_the_record(
    engine: Engine,
) -> None:
    upgrade(engine, "0018")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(_transfer_row("completed", "twilio")))
    upgrade(engine, "0019")
    with engine.begin() as conn:
        conn.execute(text(_transfer_row("completed", "twilio")))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(_transfer_row("abandoned", "rest")))
    _downgrade(engine, "0018")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT source FROM transfer_records")).scalars().all()
    assert kept == ["action"]


def _audit_row(action: str) -> str:
    return (
        'INSERT INTO audit_log (at, "user", role, action, object, detail) VALUES'
        f" ('2026-12-05 03:10:00', 'admin', 'admin', '{action}', 'user:research', 'x')"
    )


def test_0008_accepts_the_account_audit_action(engine: Engine) -> None:
    upgrade(engine, "0007")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(_audit_row("account")))
    upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.execute(text(_audit_row("account")))
        conn.execute(text(_audit_row("login")))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(_audit_row("became")))


def test_0009_moves_a_running_name_lock_to_the_throttle_and_back(engine: Engine) -> None:
    upgrade(engine, "0008")
    with engine.begin() as conn:
        for name, locked in (("alice", "'2026-12-05 03:30:00'"), ("bob", "NULL")):
            conn.execute(
                text(
                    "INSERT INTO users (username, display_name, password_hash, role, active,"
                    " language, failed_logins, locked_until, created_at) VALUES"
                    f" ('{name}', '{name}', 'x', 'manager', true, 'fr', 2, {locked},"
                    " '2026-12-01 12:00:00')"
                )
            )
    upgrade(engine, "0009")
    with engine.connect() as conn:
        rows = conn.execute(
            text('SELECT scope, "key", failures FROM login_throttle ORDER BY "key"')
        ).all()
        columns = {c["name"] for c in inspect(conn).get_columns("users")}
    assert [tuple(r) for r in rows] == [("user", "alice", 0)]
    assert not {"failed_logins", "locked_until"} & columns
    _downgrade(engine, "0008")
    with engine.connect() as conn:
        back = conn.execute(
            text("SELECT username, locked_until IS NOT NULL FROM users ORDER BY username")
        ).all()
    assert [tuple(r) for r in back] == [("alice", True), ("bob", False)]
    assert "user_sessions" not in inspect(engine).get_table_names()


def _record(n: int, kind: str, outcome: str, destination: str | None, delay: float | None) -> str:
    hour = 9 + n % 3
    return (
        "INSERT INTO transfer_records (key, kind, outcome, started_at, local_date, local_hour,"
        " fiscal_year, linkedid, navigator_channel, destination, answer_delay_s, target_exten,"
        f" target_context, interpreter, source, created_at) VALUES ('k-{n}', '{kind}',"
        f" '{outcome}', '2026-12-04 16:12:16', '2026-12-0{1 + n % 2}', {hour}, 2026,"
        f" 'l1-{n}', 'Local/nav-manual@navigators',"
        f" {'NULL' if destination is None else repr(destination)},"
        f" {'NULL' if delay is None else delay}, '913', 'emergency-services', false, 'ami',"
        " '2026-12-04 16:12:19')"
    )


def test_0014_fills_the_transfer_roll_ups_from_the_records(engine: Engine) -> None:
    from sqlalchemy import select, true
    from sqlalchemy.orm import Session

    from store import transfer_rollups as tr

    upgrade(engine, "0013")
    records = [
        ("attended", "completed", "911", 4.5),  # rounded up, to 5 s
        ("attended", "completed", "911", 2.49),
        ("blind", "busy", "911", 7.0),  # busy: its delay does not count
        ("threeway", "not_answered", "811", None),
        ("referral", "completed", "811", None),
        ("referral", "completed", None, None),
        ("attended", "caller_hung_up", "crise", 3.0),
    ]
    with engine.begin() as conn:
        for n, record in enumerate(records):
            conn.execute(text(_record(n, *record)))
    upgrade(engine, "0014")
    with Session(engine) as session:
        for model in tr.TRANSFER_ROLLUPS:
            stored = sorted(tuple(r) for r in session.execute(select(model.__table__)))
            query = tr.aggregate(model, true(), engine.dialect.name)
            computed = sorted(tuple(r) for r in session.execute(query))
            assert stored == computed, model.__tablename__
            assert stored, model.__tablename__
        delays = session.execute(
            select(tr.TransferDelayRollup.seconds).order_by("seconds")
        ).scalars()
        assert list(delays) == [2, 3, 5]
        navigators = session.execute(
            select(
                tr.TransferNavigatorRollup.transfers,
                tr.TransferNavigatorRollup.referrals,
                tr.TransferNavigatorRollup.attempts,
            )
        ).all()
        assert [sum(column) for column in zip(*navigators, strict=True)] == [2, 2, 5]
