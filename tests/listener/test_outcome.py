"""The one rule both readers use for how a consultation ended (``listener.outcome``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from listener.outcome import answer_delay, consultation_outcome, dial_outcome, joined_outcome
from store.facts import Outcome

BUSY, FAILED, NOT_ANSWERED = Outcome.BUSY, Outcome.FAILED, Outcome.NOT_ANSWERED


@pytest.mark.parametrize(
    ("statuses", "causes", "expected"),
    [
        (["BUSY"], [], BUSY),
        ([], [17], BUSY),
        (["ANSWER", "BUSY"], [16], BUSY),  # 6a: the prompt's ANSWER, the inner leg's BUSY
        (["CHANUNAVAIL"], [], FAILED),
        (["CONGESTION"], [16], FAILED),
        (["TORTURE"], [], FAILED),
        ([], [34], FAILED),  # no circuit available
        (["NOANSWER"], [], NOT_ANSWERED),
        ([], [19], NOT_ANSWERED),
        (["ANSWER"], [16], None),
        (["CANCEL", "RINGING", None, ""], [0, 16, 31, None], None),
        (["busy"], [], BUSY),
    ],
)
def test_dial_statuses_and_causes(
    statuses: list[str | None], causes: list[int | None], expected: Outcome | None
) -> None:
    assert dial_outcome(statuses, causes) is expected


def ended(**given: object) -> Outcome:
    args: dict[str, object] = {
        "answered": False,
        "answered_by_dial": False,
        "statuses": [],
        "causes": [],
        "target_left_first": False,
        "navigator_cancelled": False,
    }
    args.update(given)
    return consultation_outcome(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # our prompt answered after the inner Dial's BUSY (2q, 6a): busy, whoever left first
        ({"answered": True, "statuses": ["ANSWER", "BUSY"]}, BUSY),
        ({"answered": True, "statuses": ["BUSY"], "target_left_first": True}, BUSY),
        ({"answered": True, "statuses": ["BUSY"], "navigator_cancelled": True}, BUSY),
        # ... after CHANUNAVAIL / CONGESTION: failed; with no dial at all (no number): failed
        ({"answered": True, "statuses": ["CHANUNAVAIL"]}, FAILED),
        ({"answered": True, "statuses": ["CONGESTION"]}, FAILED),
        ({"answered": True}, FAILED),
        ({"answered": True, "navigator_cancelled": True}, FAILED),
        # the service answered: who left first says it
        ({"answered": True, "answered_by_dial": True, "target_left_first": True}, FAILED),
        ({"answered": True, "answered_by_dial": True}, Outcome.ABANDONED),
        # never answered
        ({"statuses": ["BUSY"]}, BUSY),
        ({"causes": [17]}, BUSY),
        ({"statuses": ["RINGING"]}, NOT_ANSWERED),
        ({"statuses": ["RINGING"], "navigator_cancelled": True}, Outcome.ABANDONED),
        # the caller hung up during the consultation: ringing (2l1) or answered (2l2, 2k)
        ({"caller_hung_up": True, "statuses": ["RINGING"]}, Outcome.CALLER_HUNG_UP),
        (
            {"caller_hung_up": True, "answered": True, "answered_by_dial": True},
            Outcome.CALLER_HUNG_UP,
        ),
        ({"caller_hung_up": True, "statuses": ["BUSY"]}, Outcome.CALLER_HUNG_UP),
    ],
)
def test_consultation_outcome(given: dict[str, object], expected: Outcome) -> None:
    assert ended(**given) is expected


def test_the_join_of_our_three_way_counts_only_when_the_service_answered() -> None:
    assert joined_outcome(answered_by_dial=True, statuses=[], causes=[]) is Outcome.COMPLETED
    assert joined_outcome(answered_by_dial=False, statuses=["BUSY"], causes=[]) is BUSY
    assert joined_outcome(answered_by_dial=False, statuses=[], causes=[]) is FAILED


def test_an_answer_by_our_prompt_has_no_answer_delay() -> None:
    start = datetime(2026, 12, 4, 15, 30, 50, 242046, tzinfo=UTC)
    answered = start + timedelta(seconds=1.5)
    assert answer_delay(start, answered, answered_by_dial=True) == 1.5
    assert answer_delay(start, answered, answered_by_dial=False) is None
    assert answer_delay(start, None, answered_by_dial=True) is None
    assert answer_delay(answered, start, answered_by_dial=True) is None
