"""Daily roll-ups of the transfer records, so the transfer reports of a year read a few
thousand rows instead of hundreds of thousands of records.

Transfer records are written once and never change (``store.transfers`` inserts them
with ``ON CONFLICT DO NOTHING``), so each roll-up is *added to* as records are inserted,
in the inserting transaction (:func:`add_transfers`), and can be rebuilt from the
records at any time (:func:`rebuild_transfers`, run by ``ivr211 calls rebuild-rollups``).

Four tables, each the narrowest one report needs:

* ``transfer_day_rollups``: records per local date, destination, kind and outcome (the
  counts per destination, the annual report's section, the months, the outcomes);
* ``transfer_hour_rollups``: transfers done and referrals per local date and hour;
* ``transfer_navigator_rollups``: transfers done, referrals and transfer attempts per
  local date and navigator (0: no navigator account matched the phone);
* ``transfer_delay_rollups``: answer delays of the consultations a service answered,
  per local date, destination and delay in whole seconds (rounded to the nearest, a
  half up). Rounding keeps the order, so a percentile read from it is the records' own
  percentile rounded the same way, which is how the pages show it.

A record without a destination is kept under the destination ``""``.

The same rows computed from the records (:func:`aggregate`) feed the rebuild, the
reports' ``raw=True`` mode and the benchmark, so the two are equal by construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    String,
    and_,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from store import models as m
from store.rows import count_where, insert_or_add, whole_number

__all__ = [
    "BASCULE_KINDS",
    "COMPLETED",
    "NO_DESTINATION",
    "REFERRAL_KIND",
    "TRANSFER_ROLLUPS",
    "UNANSWERED_OUTCOMES",
    "TransferDayRollup",
    "TransferDelayRollup",
    "TransferHourRollup",
    "TransferNavigatorRollup",
    "add_transfers",
    "aggregate",
    "rebuild_transfers",
]

#: Kinds of a transfer attempt ("avec bascule" when completed).
BASCULE_KINDS: Final[tuple[str, ...]] = ("attended", "blind", "threeway")
#: A referral given without transfer ("sans bascule" when completed).
REFERRAL_KIND: Final = "referral"
COMPLETED: Final = "completed"
#: Outcomes in which the service never answered: no answer delay counts.
UNANSWERED_OUTCOMES: Final[tuple[str, ...]] = ("busy", "not_answered")
#: The destination key a record without destination is rolled up under.
NO_DESTINATION: Final = ""


class TransferDayRollup(m.Base):
    """Transfer records per local date, destination, kind and outcome."""

    __tablename__ = "transfer_day_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    destination: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    records: Mapped[int]


class TransferHourRollup(m.Base):
    """Transfers done ("avec bascule") and referrals ("sans bascule") per local date and
    local hour."""

    __tablename__ = "transfer_hour_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    local_hour: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    transfers: Mapped[int]
    referrals: Mapped[int]


class TransferNavigatorRollup(m.Base):
    """Transfers done, referrals and transfer attempts (any outcome) per local date and
    navigator (0: no navigator account matched the phone)."""

    __tablename__ = "transfer_navigator_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    navigator_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    transfers: Mapped[int]
    referrals: Mapped[int]
    attempts: Mapped[int]


class TransferDelayRollup(m.Base):
    """Transfer attempts a service answered with a known answer delay, per local date,
    destination and delay in whole seconds."""

    __tablename__ = "transfer_delay_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    destination: Mapped[str] = mapped_column(String(40), primary_key=True)
    seconds: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    records: Mapped[int]


#: Every transfer roll-up, with the columns that make a row's key (the others are sums).
TRANSFER_ROLLUPS: Final[dict[type[m.Base], tuple[str, ...]]] = {
    TransferDayRollup: ("local_date", "destination", "kind", "outcome"),
    TransferHourRollup: ("local_date", "local_hour"),
    TransferNavigatorRollup: ("local_date", "navigator_key"),
    TransferDelayRollup: ("local_date", "destination", "seconds"),
}


# ---- the rows of one record ------------------------------------------------------------


def _is_bascule(kind: str) -> bool:
    return kind in BASCULE_KINDS


def _pieces(
    row: Mapping[str, Any],
) -> Iterable[tuple[type[m.Base], tuple[Any, ...], tuple[int, ...]]]:
    """What one record adds to each roll-up: (table, key, sums)."""
    kind, outcome, day = row["kind"], row["outcome"], row["local_date"]
    destination = row["destination"] or NO_DESTINATION
    done = outcome == COMPLETED
    transfer = int(done and _is_bascule(kind))
    referral = int(done and kind == REFERRAL_KIND)
    yield TransferDayRollup, (day, destination, kind, outcome), (1,)
    if transfer or referral:
        yield TransferHourRollup, (day, row["local_hour"]), (transfer, referral)
    yield (
        TransferNavigatorRollup,
        (day, row["navigator_id"] or 0),
        (transfer, referral, int(_is_bascule(kind))),
    )
    delay = row["answer_delay_s"]
    if _is_bascule(kind) and delay is not None and outcome not in UNANSWERED_OUTCOMES:
        yield TransferDelayRollup, (day, destination, math.floor(delay + 0.5)), (1,)


def add_transfers(session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
    """Add newly inserted transfer records (their column values) to every roll-up."""
    totals: dict[type[m.Base], dict[tuple[Any, ...], list[int]]] = {
        model: {} for model in TRANSFER_ROLLUPS
    }
    for row in rows:
        for model, key, sums in _pieces(row):
            into = totals[model].setdefault(key, [0] * len(sums))
            for i, value in enumerate(sums):
                into[i] += value
    for model, keys in TRANSFER_ROLLUPS.items():
        names = [c.key for c in model.__table__.columns]
        insert_or_add(
            session,
            model,
            keys,
            [dict(zip(names, (*key, *sums), strict=True)) for key, sums in totals[model].items()],
        )


# ---- the same rows, from the records ---------------------------------------------------


def aggregate(model: type[m.Base], where: ColumnElement[bool], dialect: str) -> Select[Any]:
    """The rows of the roll-up ``model`` computed from the records matching ``where``,
    each column labelled as the roll-up table's, for the ``dialect`` database."""
    R = m.TransferRecord
    done = R.outcome == COMPLETED
    bascule = R.kind.in_(BASCULE_KINDS)
    transfers = count_where(and_(done, bascule)).label("transfers")
    referrals = count_where(and_(done, R.kind == REFERRAL_KIND)).label("referrals")
    destination = func.coalesce(R.destination, literal(NO_DESTINATION))
    if model is TransferDayRollup:
        keys: tuple[Any, ...] = (R.local_date, destination, R.kind, R.outcome)
        sums: tuple[Any, ...] = (func.count().label("records"),)
    elif model is TransferHourRollup:
        keys, sums = (R.local_date, R.local_hour), (transfers, referrals)
        where = and_(where, done, R.kind.in_((*BASCULE_KINDS, REFERRAL_KIND)))
    elif model is TransferNavigatorRollup:
        keys = (R.local_date, func.coalesce(R.navigator_id, 0))
        sums = (transfers, referrals, count_where(bascule).label("attempts"))
    elif model is TransferDelayRollup:
        seconds = whole_number(dialect, R.answer_delay_s + 0.5, up=False)  # nearest, half up
        keys, sums = (R.local_date, destination, seconds), (func.count().label("records"),)
        where = and_(
            where,
            bascule,
            R.answer_delay_s.is_not(None),
            R.outcome.not_in(UNANSWERED_OUTCOMES),
        )
    else:
        raise ValueError(f"not a transfer roll-up: {model.__name__}")
    names = TRANSFER_ROLLUPS[model]
    labelled = [key.label(name) for key, name in zip(keys, names, strict=True)]
    return select(*labelled, *sums).where(where).group_by(*keys)


def rebuild_transfers(session: Session) -> None:
    """Every transfer roll-up again from the records.

    On PostgreSQL the roll-ups are then analysed: every row was replaced, and until
    autovacuum comes round the planner would expect a few dozen rows for a year that
    holds thousands (on 1,000,000 records it sorted a year's 15,000 delay rows where a
    hash of them was twice as fast)."""
    dialect = session.get_bind().dialect.name
    for model in TRANSFER_ROLLUPS:
        session.execute(delete(model))
        names = [c.key for c in model.__table__.columns]
        session.execute(insert(model).from_select(names, aggregate(model, true(), dialect)))
    if dialect == "postgresql":
        tables = ", ".join(model.__tablename__ for model in TRANSFER_ROLLUPS)
        session.execute(text(f"ANALYZE {tables}"))
