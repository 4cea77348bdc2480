"""A call's path read back step by step (``ivr.actions.path_steps``), as the console
puts it into words."""

from __future__ import annotations

import pytest

from ivr.actions import PATH_SEPARATOR, path_steps
from ivr.flow import CallFlow
from tests.ivr.helpers import DISTINCT_KEYS, explore, flow_scenarios


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("open/lang:fr/main:1", (("open", ""), ("lang", "fr"), ("main", "1"))),
        (
            "closed:after_hours/menu:2/transfer:cps",
            (("closed", "after_hours"), ("menu", "2"), ("transfer", "cps")),
        ),
        ("queue-exit/hangup", (("queue-exit", ""), ("hangup", ""))),
        ("open/lang:", (("open", ""), ("lang", ""))),  # cut short by the listener
        ("", ()),
        ("//", ()),
        ("main>navigator", (("main>navigator", ""),)),
        ("a:b:c", (("a", "b:c"),)),
    ],
)
def test_path_steps(text: str, steps: tuple[tuple[str, str], ...]) -> None:
    assert path_steps(text) == steps


@pytest.mark.parametrize("scenario", list(flow_scenarios()))
def test_every_path_the_flow_writes_reads_back(scenario: str) -> None:
    seen = 0
    for _answers, transcript in explore(
        lambda: CallFlow(*flow_scenarios()[scenario]), DISTINCT_KEYS, 3
    ):
        decision = transcript.decision
        assert decision is not None
        steps = path_steps(decision.path_text)
        rebuilt = PATH_SEPARATOR.join(f"{what}:{which}" if which else what for what, which in steps)
        assert rebuilt == decision.path_text
        assert len(steps) == len(decision.path)
        seen += 1
    assert seen > 5
