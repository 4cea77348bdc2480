"""A destination whose number is still to fill in: the caller is never sent to dial
nothing from the closed-hours menu; the flow says the transfer cannot be made and the
rest of the menu (the other services, the emergency numbers) stays open."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ivr.actions import CallInfo, Gather
from ivr.dialplan import Route
from ivr.flow import CallFlow
from ivr.settings import Destination, LineSettings

from .helpers import AFTER_HOURS_NOW, TERRITORY, destinations, drive, make_settings


def with_crisis_numbers(numbers: dict[str, str]) -> LineSettings:
    dests = tuple(replace(d, numbers=numbers) if d.key == "crise" else d for d in destinations())
    return make_settings(dests=dests, closed_transfer_keys={"1": "811", "2": "crise"})


@pytest.mark.parametrize(
    "numbers",
    [
        {TERRITORY: ""},  # the seed leaves a placeholder empty
        {"*": ""},
        {TERRITORY: "", "*": ""},
        {},
    ],
    ids=["territory-empty", "any-empty", "both-empty", "none"],
)
def test_an_empty_number_is_not_dialled_and_the_menu_goes_on(numbers: dict[str, str]) -> None:
    flow = CallFlow(with_crisis_numbers(numbers), AFTER_HOURS_NOW, CallInfo())
    transcript = drive(flow, ["2", "1"])
    decision = transcript.decision
    assert decision is not None
    assert (decision.route, decision.destination, decision.number) == (Route.TRANSFER, "811", "811")
    assert "transfer-failed:crise" in decision.path
    prompts = transcript.prompts
    failed = prompts.index("transfer-failed/fr")
    assert "emergency-numbers/fr" in prompts[failed:]
    menus_after = [a for a in transcript.actions[1:] if isinstance(a, Gather)]
    assert len(menus_after) == 2  # the menu was offered again after the failure
    assert "transferring/fr" not in prompts[:failed]


def test_number_for_never_gives_an_empty_number() -> None:
    dest = Destination("crise", "Centre de crise", "Crisis", "emergency", "101", {"*": ""})
    assert dest.number_for(TERRITORY) is None
    both = replace(dest, numbers={TERRITORY: "", "*": "4186864433"})
    assert both.number_for(TERRITORY) == "4186864433"
