"""``ivr211 user add --role`` several times or as a comma list, ``ivr211 user roles``; the
research role is held alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from store import accounts
from store.db import make_engine
from tests.dashboard.test_cli_dashboard import PASSWORD, config_path, run

__all__ = ["config_path"]


def _roles(config: Path, name: str) -> frozenset[str]:
    engine = make_engine(f"sqlite:///{config.parent / 'line.db'}")
    try:
        with Session(engine) as session:
            user = accounts.user_by_username(session, name)
            assert user is not None
            return user.roles
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "options",
    [
        ("--role", "manager", "--role", "admin"),
        ("--role", "manager,admin"),
        ("--role", "admin, manager"),
    ],
)
def test_user_add_with_several_roles(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config_path: Path,
    options: tuple[str, ...],
) -> None:
    cfg = ("--config", str(config_path))
    code, out, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "dora",
        *options,
        "--password-stdin",
        *cfg,
        stdin=PASSWORD + "\n",
    )
    assert (code, out, err) == (0, "user dora created: roles manager, admin\n", "")
    assert _roles(config_path, "dora") == {"manager", "admin"}
    assert (
        run(capsys, monkeypatch, "user", "list", *cfg)[1] == "dora\tmanager+admin\tdora\tactive\n"
    )


@pytest.mark.parametrize(
    ("role", "message"),
    [
        ("research,manager", "the research role stays apart"),
        ("root", "role 'root' is not one of manager, navigator, research, admin"),
        (",", "an account needs at least one role"),
    ],
)
def test_user_add_refuses_research_with_another_role_or_an_unknown_one(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config_path: Path,
    role: str,
    message: str,
) -> None:
    code, out, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "lea",
        "--role",
        role,
        "--password-stdin",
        "--config",
        str(config_path),
        stdin=PASSWORD + "\n",
    )
    assert code == 2 and out == "" and message in err and "Traceback" not in err


def test_user_roles_changes_an_existing_account(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config_path: Path
) -> None:
    cfg = ("--config", str(config_path))
    run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "marc",
        "--role",
        "manager",
        "--password-stdin",
        *cfg,
        stdin=PASSWORD + "\n",
    )
    code, out, _ = run(
        capsys, monkeypatch, "user", "roles", "marc", "--role", "manager,admin", *cfg
    )
    assert (code, out) == (0, "user marc: roles manager, admin\n")
    assert _roles(config_path, "marc") == {"manager", "admin"}
    code, out, err = run(
        capsys, monkeypatch, "user", "roles", "marc", "--role", "research", "--role", "admin", *cfg
    )
    assert code == 2 and "the research role stays apart" in err
    code, out, _ = run(capsys, monkeypatch, "user", "roles", "marc", "--role", "research", *cfg)
    assert code == 0 and out.startswith("user marc: role research\n")
    assert "research team not told" in out  # audited; no [notify] channel configured
    assert _roles(config_path, "marc") == {"research"}
    code, _, err = run(capsys, monkeypatch, "user", "roles", "nobody", "--role", "admin", *cfg)
    assert (code, err) == (2, "ivr211: error: no user 'nobody'\n")
