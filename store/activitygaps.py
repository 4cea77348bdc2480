"""Navigator intervals read back from Asterisk's logs, written only where the live record
has a gap.

queue_log names a queue member by its name (``MemberName``, the navigator's display
name) and times in whole seconds; the listener records the same pauses from AMI under the
member's interface, to the microsecond. The same pause seen by both would be two rows
(``ActivityFact.key`` differs), so an interval from the logs is first given the
navigator's interface, then written only when no stored interval of that member and
state overlaps it: it fills what a dropped AMI link missed, never doubles what the
listener saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Final

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from store import models as m
from store.calls import ActivityFact, NavigatorActivity, record_activity

__all__ = ["record_activity_gaps"]

#: queue_log's whole seconds against AMI's microseconds.
_SLACK: Final = timedelta(seconds=1)


def record_activity_gaps(session: Session, facts: Iterable[ActivityFact]) -> int:
    """Insert the intervals that no stored interval of the same member and state
    overlaps (members named as in queue_log are given their navigator's interface);
    return how many were new."""
    pending = list(facts)
    if not pending:
        return 0
    names = {f.member for f in pending}
    by_name = dict(
        session.execute(
            select(m.Navigator.display_name, m.Navigator.queue_interface).where(
                m.Navigator.display_name.in_(names)
            )
        ).all()
    )
    keep: list[ActivityFact] = []
    for fact in pending:
        interface = by_name.get(fact.member)
        if interface:
            fact = replace(fact, member=interface)
        overlap = session.scalar(
            select(
                exists().where(
                    and_(
                        NavigatorActivity.member == fact.member,
                        NavigatorActivity.state == fact.state,
                        NavigatorActivity.started_at < fact.ended_at + _SLACK,
                        NavigatorActivity.ended_at > fact.started_at - _SLACK,
                    )
                )
            )
        )
        if not overlap:
            keep.append(fact)
    return record_activity(session, keep)
