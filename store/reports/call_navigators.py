"""Per navigator: calls answered, talk and handle time, logged-in and paused time,
occupancy, transfers and referrals.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import models as m
from store import rollups as ru
from store.reports.basis import Period
from store.reports.call_sources import activity_seconds, call_source
from store.reports.figures import by_navigator
from store.transfer_rollups import TransferNavigatorRollup

__all__ = ["NavigatorFigures", "navigator_figures"]


@dataclass(frozen=True)
class NavigatorFigures:
    navigator_id: int | None
    username: str | None
    display_name: str
    answered: int
    talk_s: float
    after_call_work_s: float
    logged_in_s: float
    paused_s: float
    transfers: int  # transfers done ("avec bascule")
    referrals: int  # referrals without transfer ("sans bascule")

    @property
    def handle_s(self) -> float:
        return self.talk_s + self.after_call_work_s

    @property
    def occupancy(self) -> float | None:
        available = self.logged_in_s - self.paused_s
        return self.handle_s / available if available > 0 else None


def _transfers(session: Session, period: Period, raw: bool) -> dict[int, tuple[int, int]]:
    """Transfers done and referrals per navigator key (0: none): the transfer reports'
    own query with ``raw``, else the roll-up."""
    if raw:
        return {
            row.navigator_id or 0: (row.avec, row.sans) for row in by_navigator(session, period)
        }
    T = TransferNavigatorRollup
    query = (
        select(T.navigator_key, func.sum(T.transfers), func.sum(T.referrals))
        .where(T.local_date >= period.start, T.local_date <= period.end)
        .group_by(T.navigator_key)
    )
    return {int(k): (int(a or 0), int(b or 0)) for k, a, b in session.execute(query)}


def navigator_figures(
    session: Session, period: Period, *, raw: bool = False
) -> list[NavigatorFigures]:
    src = call_source(session, ru.CallNavigatorRollup, period, raw)
    calls = {
        int(key): (int(n or 0), float(t or 0.0))
        for key, n, t in session.execute(
            select(src.c.navigator_key, func.sum(src.c.answered), func.sum(src.c.talk_s)).group_by(
                src.c.navigator_key
            )
        )
    }
    time_in: dict[int, dict[str, float]] = {}
    for (key, state, _), seconds in activity_seconds(session, period, raw).items():
        per = time_in.setdefault(key, {})
        per[state] = per.get(state, 0.0) + seconds
    transfers = _transfers(session, period, raw)
    navigators = {
        n.id: n for n in session.scalars(select(m.Navigator).order_by(m.Navigator.username))
    }
    # A navigator deleted since: their figures go with the unknown ones (key 0).
    answered: dict[int, int] = {}
    talk: dict[int, float] = {}
    states: dict[int, dict[str, float]] = {}
    avec: dict[int, int] = {}
    sans: dict[int, int] = {}

    def fold(key: int) -> int:
        return key if key in navigators else 0

    for key, (n, t) in calls.items():
        answered[fold(key)] = answered.get(fold(key), 0) + n
        talk[fold(key)] = talk.get(fold(key), 0.0) + t
    for key, per in time_in.items():
        into = states.setdefault(fold(key), {})
        for state, seconds in per.items():
            into[state] = into.get(state, 0.0) + seconds
    for key, (done, referred) in transfers.items():
        avec[fold(key)] = avec.get(fold(key), 0) + done
        sans[fold(key)] = sans.get(fold(key), 0) + referred
    out = []
    for key in {*answered, *states, *avec}:
        nav = navigators.get(key)
        per = states.get(key, {})
        out.append(
            NavigatorFigures(
                navigator_id=nav.id if nav else None,
                username=nav.username if nav else None,
                display_name=nav.display_name if nav else "",
                answered=answered.get(key, 0),
                talk_s=talk.get(key, 0.0),
                after_call_work_s=per.get("after_call_work", 0.0),
                logged_in_s=per.get("logged_in", 0.0),
                paused_s=per.get("paused", 0.0),
                transfers=avec.get(key, 0),
                referrals=sans.get(key, 0),
            )
        )
    out.sort(key=lambda r: (r.username is None, r.display_name.casefold()))
    return out
