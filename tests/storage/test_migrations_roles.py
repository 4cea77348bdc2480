"""Migrations 0015 (accounts hold a set of roles) and 0016 (refused accesses audited), up
and down on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from store.db import upgrade


def _audit_row(action: str) -> str:
    return (
        'INSERT INTO audit_log (at, "user", role, action, object, detail) VALUES'
        f" ('2026-12-05 03:10:00', 'admin', 'admin', '{action}', 'user:research', 'x')"
    )


def _user_row(name: str, role: str, navigator: str = "NULL") -> str:
    return (
        "INSERT INTO users (username, display_name, password_hash, role, active, language,"
        f" navigator_id, created_at) VALUES ('{name}', '{name}', 'x', '{role}', true, 'fr',"
        f" {navigator}, '2026-12-01 12:00:00')"
    )


_ROLE_COLUMNS = "role_manager, role_navigator, role_research, role_admin"


def _downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    from store.db import _alembic_config

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_0015_gives_every_account_the_role_it_had_and_back(engine: Engine) -> None:
    upgrade(engine, "0014")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO navigators (username, display_name, phone_endpoint, queue_interface,"
                " active) VALUES ('nadia', 'Nadia', 'PJSIP/201', 'PJSIP/201', true)"
            )
        )
        nav = conn.execute(text("SELECT id FROM navigators")).scalar_one()
        for name, role in (("ana", "admin"), ("marc", "manager"), ("lea", "research")):
            conn.execute(text(_user_row(name, role)))
        conn.execute(text(_user_row("nadia", "navigator", str(nav))))
    upgrade(engine, "0015")
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT username, {_ROLE_COLUMNS}, navigator_id FROM users ORDER BY username")
        ).all()
        columns = {c["name"] for c in inspect(conn).get_columns("users")}
    assert [tuple(r) for r in rows] == [
        ("ana", False, False, False, True, None),
        ("lea", False, False, True, False, None),
        ("marc", True, False, False, False, None),
        ("nadia", False, True, False, False, nav),
    ]
    assert "role" not in columns
    # A director: manager and administrator at once.
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role_admin = true WHERE username = 'marc'"))
    # No role at all, or research with another: the database refuses both.
    for change in (
        "UPDATE users SET role_admin = false WHERE username = 'ana'",
        "UPDATE users SET role_research = false WHERE username = 'lea'",
        "UPDATE users SET role_manager = true WHERE username = 'lea'",
        "UPDATE users SET role_research = true WHERE username = 'ana'",
    ):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(change))
    _downgrade(engine, "0014")
    with engine.connect() as conn:
        back = conn.execute(
            text("SELECT username, role, navigator_id FROM users ORDER BY username")
        ).all()
    assert [tuple(r) for r in back] == [
        ("ana", "admin", None),
        ("lea", "research", None),
        ("marc", "admin", None),
        ("nadia", "navigator", nav),
    ]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(_user_row("root", "root")))


def test_0016_accepts_the_refused_audit_action_and_its_downgrade_drops_it(
    engine: Engine,
) -> None:
    upgrade(engine, "0015")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(_audit_row("refused")))
    upgrade(engine, "0016")
    with engine.begin() as conn:
        conn.execute(text(_audit_row("refused")))
        conn.execute(text(_audit_row("view")))
    _downgrade(engine, "0015")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT action FROM audit_log")).scalars().all()
    assert kept == ["view"]
