"""Statements the table modules share: an UPDATE that says how many rows it changed,
the update-or-insert of one keyed row (a heartbeat, a singleton status row), the
insert-or-add of keyed sums, and two expressions of the roll-ups' aggregates.

Both write without reading first. On SQLite a transaction that reads and then writes
fails at once ("database is locked") when another connection committed in between, and
several processes write these rows (``store.db``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from typing import cast as as_type

from sqlalchemy import CursorResult, Delete, Integer, Update, case, cast, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Base

#: The largest id a row can have: every table's id is an ``integer`` (PostgreSQL's 4-byte
#: one; SQLite's driver cannot even bind an int past 2**63 - 1). An id past it names no row.
MAX_ROW_ID = 2**31 - 1


def changed_rows(session: Session, statement: Update | Delete) -> int:
    """Run ``statement`` without synchronizing the session's objects; how many rows it
    changed."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return as_type(CursorResult[Any], result).rowcount


def update_or_insert(
    session: Session,
    model: type[Base],
    key: Mapping[str, Any],
    values: Mapping[str, Any],
    *,
    on_insert: Mapping[str, Any] | None = None,
) -> None:
    """Set ``values`` on the row of ``model`` whose columns equal ``key``, in one UPDATE;
    when there is none, add it (``key``, ``values``, then ``on_insert`` for what an UPDATE
    computes in SQL) and flush."""
    table = model.__table__
    where = [table.c[name] == value for name, value in key.items()]
    if changed_rows(session, update(model).where(*where).values(**values)) == 0:
        session.add(model(**{**key, **values, **(on_insert or {})}))
        session.flush()


def insert_or_add(
    session: Session, model: type[Base], keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` into ``model``; a row whose ``keys`` columns match a stored row's
    adds its other columns to that row's instead (``INSERT ... ON CONFLICT DO UPDATE``,
    one statement executed for every row)."""
    if not rows:
        return
    table: Any = model.__table__
    dialect = session.get_bind().dialect.name
    stmt: Any = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    sums = [column.key for column in table.columns if column.key not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + stmt.excluded[name] for name in sums},
    )
    session.execute(stmt, list(rows))


def count_where(condition: Any) -> Any:
    """How many rows meet ``condition``, in an aggregate (0, never NULL)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def whole_number(dialect: str, value: Any, *, up: bool) -> Any:
    """``value`` (>= 0) rounded down or up to a whole number, the same on both databases
    (PostgreSQL's CAST rounds to nearest, SQLite's truncates; SQLite may lack FLOOR)."""
    if dialect == "postgresql":
        return cast(func.ceil(value) if up else func.floor(value), Integer)
    down = cast(value, Integer)
    return down + case((value > down, 1), else_=0) if up else down
