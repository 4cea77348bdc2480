from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import pytest

from ivr.actions import (
    CallInfo,
    Decision,
    DigitPressed,
    Event,
    Finish,
    Gather,
    HungUp,
    NoInput,
    Play,
    PlaybackDone,
)
from ivr.dialplan import Route
from ivr.flow import (
    CallFlow,
    FlowError,
    FlowFinishedError,
    FlowNotStartedError,
    UnexpectedEventError,
)
from ivr.settings import Language, LineSettings, Override

from .helpers import (
    AFTER_HOURS_NOW,
    ALL_KEYS,
    DISTINCT_KEYS,
    OPEN_NOW,
    Answer,
    Transcript,
    drive,
    explore,
    flow_scenarios,
    make_schedule,
    make_settings,
    sampled_sequences,
    to_event,
)

QUEUE = "navigateurs"
MAILBOX = "1000@recherche"

OPEN_INTRO = ["greeting/fr", "emergency-notice/fr", "emergency-notice/en"]
LANG_MENU = ["language-menu/fr", "language-menu/en"]
LANG_INVALID = ["invalid-key/fr", "invalid-key/en"]
CLOSED_MENU_FR = ["closed-menu/fr", "for-english/en"]
CLOSED_MENU_EN = ["closed-menu/en"]


def closed_intro(reason_prompt: str) -> list[str]:
    return ["greeting/fr", "emergency-notice/fr", f"{reason_prompt}/fr", "emergency-numbers/fr"]


# Every open-line scenario runs at OPEN_NOW, a Tuesday: the line closes at 19:00.
OPEN_CLOSES_AT = OPEN_NOW.replace(hour=19)


def closes_at(line_state: str) -> datetime | None:
    return OPEN_CLOSES_AT if line_state == "hours" else None


def to_queue(
    lang: Language, *path: str, line_state: str = "hours", interpreter: bool = False
) -> Decision:
    return Decision(
        Route.QUEUE,
        lang,
        path,
        interpreter=interpreter,
        queue=QUEUE,
        line_state=line_state,
        closes_at=closes_at(line_state),
    )


SKIPPED = ("callback:withheld", "callback:skipped", "callback:none")


def to_research(
    lang: Language,
    *path: str,
    line_state: str = "hours",
    callback: str | None = None,
    after: tuple[str, ...] = SKIPPED,
) -> Decision:
    """The research box. The flow scenarios have no caller number (withheld): the
    branch cases press * at the callback request unless ``after`` says otherwise."""
    return Decision(
        Route.RESEARCH,
        lang,
        (*path, *after),
        mailbox=MAILBOX,
        line_state=line_state,
        closes_at=closes_at(line_state),
        callback=callback,
    )


def research_skipped(lang: str) -> list[str]:
    return [
        f"research-intro/{lang}",
        f"consent-notice/{lang}",
        f"callback-request/{lang}",
        f"callback-none/{lang}",
        f"research-record/{lang}",
    ]


def to_transfer(lang: Language, dest: str, number: str, *path: str, line_state: str) -> Decision:
    return Decision(
        Route.TRANSFER,
        lang,
        path,
        destination=dest,
        number=number,
        line_state=line_state,
        closes_at=closes_at(line_state),
    )


def to_closed(lang: Language, *path: str, line_state: str) -> Decision:
    return Decision(
        Route.CLOSED, lang, path, line_state=line_state, closes_at=closes_at(line_state)
    )


@dataclass(frozen=True)
class Case:
    scenario: str
    answers: tuple[Answer, ...]
    decision: Decision
    prompts: tuple[str, ...]


def case(scenario: str, answers: list[Answer], decision: Decision, prompts: list[str]) -> Case:
    return Case(scenario, tuple(answers), decision, tuple(prompts))


AH = "after_hours"

CASES = {
    # ---- open line: language menu --------------------------------------------------
    "open-fr-navigator": case(
        "open", ["1", "1"], to_queue("fr", "open", "lang:fr", "main:1"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/fr", "to-navigator/fr"],
    ),
    "open-en-navigator": case(
        "open", ["2", "1"], to_queue("en", "open", "lang:en", "main:1"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/en", "to-navigator/en"],
    ),
    "open-fr-research": case(
        "open", ["1", "2", "*"], to_research("fr", "open", "lang:fr", "main:2"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/fr", *research_skipped("fr")],
    ),
    "open-en-research": case(
        "open", ["2", "2", "*"], to_research("en", "open", "lang:en", "main:2"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/en", *research_skipped("en")],
    ),
    "open-interpreter": case(
        "open", ["3"], to_queue("fr", "open", "lang:other", interpreter=True),
        [*OPEN_INTRO, *LANG_MENU, "interpreter-hold/fr", "interpreter-hold/en"],
    ),
    "open-language-timeout-is-french": case(
        "open", [None, "1"], to_queue("fr", "open", "lang:timeout", "main:1"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/fr", "to-navigator/fr"],
    ),
    "open-language-invalid-then-en": case(
        "open", ["7", "2", "1"], to_queue("en", "open", "lang:invalid", "lang:en", "main:1"),
        [*OPEN_INTRO, *LANG_MENU, *LANG_INVALID, *LANG_MENU, "main-menu/en", "to-navigator/en"],
    ),
    "open-language-invalid-then-timeout": case(
        "open", ["#", None, "2", "*"],
        to_research("fr", "open", "lang:invalid", "lang:timeout", "main:2"),
        [*OPEN_INTRO, *LANG_MENU, *LANG_INVALID, *LANG_MENU, "main-menu/fr",
         *research_skipped("fr")],
    ),
    "open-language-invalid-exhausted": case(
        "open", ["7", "8", "*", "1"],
        to_queue("fr", "open", "lang:invalid", "lang:invalid", "lang:invalid", "lang:default",
                 "main:1"),
        [*OPEN_INTRO, *LANG_MENU, *LANG_INVALID, *LANG_MENU, *LANG_INVALID, *LANG_MENU,
         "main-menu/fr", "to-navigator/fr"],
    ),
    # ---- open line: main menu ------------------------------------------------------
    "open-main-invalid-then-1": case(
        "open", ["2", "5", "1"], to_queue("en", "open", "lang:en", "main:invalid", "main:1"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/en", "invalid-key/en", "main-menu/en",
         "to-navigator/en"],
    ),
    "open-main-timeout-then-2": case(
        "open", ["1", None, "2", "*"],
        to_research("fr", "open", "lang:fr", "main:timeout", "main:2"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/fr", "main-menu/fr", *research_skipped("fr")],
    ),
    "open-main-default": case(
        "open", [None, "5", None, None],
        to_queue("fr", "open", "lang:timeout", "main:invalid", "main:timeout", "main:timeout",
                 "main:default"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/fr", "invalid-key/fr", "main-menu/fr",
         "main-menu/fr", "to-navigator/fr"],
    ),
    "open-main-default-on-invalid": case(
        "open", ["2", "3", "3", "3"],
        to_queue("en", "open", "lang:en", "main:invalid", "main:invalid", "main:invalid",
                 "main:default"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/en", "invalid-key/en", "main-menu/en",
         "invalid-key/en", "main-menu/en", "to-navigator/en"],
    ),
    "one-attempt-language": case(
        "open-one-attempt", ["0", "1"],
        to_queue("fr", "open", "lang:invalid", "lang:default", "main:1"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/fr", "to-navigator/fr"],
    ),
    "one-attempt-main": case(
        "open-one-attempt", ["2", None],
        to_queue("en", "open", "lang:en", "main:timeout", "main:default"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/en", "to-navigator/en"],
    ),
    # ---- closed line -----------------------------------------------------------------
    "after-hours-811": case(
        "after-hours", ["1"],
        to_transfer("fr", "811", "811", "closed:after_hours", "menu:1", "transfer:811",
                    line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, "transferring/fr"],
    ),
    "holiday-cps": case(
        "holiday", ["2"],
        to_transfer("fr", "cps", "18662773553", "closed:holiday", "menu:2", "transfer:cps",
                    line_state="holiday"),
        [*closed_intro("closed-holiday"), *CLOSED_MENU_FR, "transferring/fr"],
    ),
    "closure-research": case(
        "closure", ["3", "*"],
        to_research("fr", "closed:closure", "menu:3", "research", line_state="closure"),
        [*closed_intro("closed-exceptional"), *CLOSED_MENU_FR, *research_skipped("fr")],
    ),
    "override-closed-english-811": case(
        "override-closed", ["9", "1"],
        to_transfer("en", "811", "811", "closed:override_closed", "lang:en", "menu:1",
                    "transfer:811", line_state="override_closed"),
        [*closed_intro("closed-exceptional"), *CLOSED_MENU_FR, "closed-exceptional/en",
         "emergency-numbers/en", *CLOSED_MENU_EN, "transferring/en"],
    ),
    "after-hours-english-research": case(
        "after-hours", ["9", "3", "*"],
        to_research("en", "closed:after_hours", "lang:en", "menu:3", "research", line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, "closed-hours/en",
         "emergency-numbers/en", *CLOSED_MENU_EN, *research_skipped("en")],
    ),
    "after-hours-silence": case(
        "after-hours", [None, None, None],
        to_closed("fr", "closed:after_hours", "menu:timeout", "menu:timeout", "menu:timeout",
                  "menu:default", line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, *CLOSED_MENU_FR, *CLOSED_MENU_FR],
    ),
    "holiday-invalid-keys": case(
        "holiday", ["5", "#", "0"],
        to_closed("fr", "closed:holiday", "menu:invalid", "menu:invalid", "menu:invalid",
                  "menu:default", line_state="holiday"),
        [*closed_intro("closed-holiday"), *CLOSED_MENU_FR, "invalid-key/fr", *CLOSED_MENU_FR,
         "invalid-key/fr", *CLOSED_MENU_FR],
    ),
    "english-then-attempts-start-over": case(
        "after-hours", ["5", "9", "4", None, None],
        to_closed("en", "closed:after_hours", "menu:invalid", "lang:en", "menu:invalid",
                  "menu:timeout", "menu:timeout", "menu:default", line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, "invalid-key/fr", *CLOSED_MENU_FR,
         "closed-hours/en", "emergency-numbers/en", *CLOSED_MENU_EN, "invalid-key/en",
         *CLOSED_MENU_EN, *CLOSED_MENU_EN],
    ),
    "nine-in-english-is-invalid": case(
        "after-hours", ["9", "9", "2"],
        to_transfer("en", "cps", "18662773553", "closed:after_hours", "lang:en", "menu:invalid",
                    "menu:2", "transfer:cps", line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, "closed-hours/en",
         "emergency-numbers/en", *CLOSED_MENU_EN, "invalid-key/en", *CLOSED_MENU_EN,
         "transferring/en"],
    ),
    "missing-destination-then-811": case(
        "missing-destination", ["2", "1"],
        to_transfer("fr", "811", "811", "closed:after_hours", "menu:2", "transfer-failed:cps",
                    "menu:1", "transfer:811", line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, "transfer-failed/fr",
         "emergency-numbers/fr", *CLOSED_MENU_FR, "transferring/fr"],
    ),
    "missing-destination-exhausted": case(
        "missing-destination", ["2", "2", "2"],
        to_closed("fr", "closed:after_hours", "menu:2", "transfer-failed:cps", "menu:2",
                  "transfer-failed:cps", "menu:2", "transfer-failed:cps", "menu:default",
                  line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR,
         "transfer-failed/fr", "emergency-numbers/fr", *CLOSED_MENU_FR,
         "transfer-failed/fr", "emergency-numbers/fr", *CLOSED_MENU_FR,
         "transfer-failed/fr", "emergency-numbers/fr"],
    ),
    "no-number-for-territory": case(
        "no-number-for-territory", ["2", None, None],
        to_closed("fr", "closed:after_hours", "menu:2", "transfer-failed:crise",
                  "menu:timeout", "menu:timeout", "menu:default", line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, "transfer-failed/fr",
         "emergency-numbers/fr", *CLOSED_MENU_FR, *CLOSED_MENU_FR],
    ),
    # ---- coming back from the queue ---------------------------------------------------
    "queue-exit-en-811": case(
        "queue-exit-en", ["1"],
        to_transfer("en", "811", "811", "queue-exit", "menu:1", "transfer:811",
                    line_state="hours"),
        ["queue-unavailable/en", "emergency-numbers/en", *CLOSED_MENU_EN, "transferring/en"],
    ),
    "queue-exit-fr-default": case(
        "queue-exit-fr", [None, "7", None],
        to_closed("fr", "queue-exit", "menu:timeout", "menu:invalid", "menu:timeout",
                  "menu:default", line_state="hours"),
        ["queue-unavailable/fr", "emergency-numbers/fr", *CLOSED_MENU_FR, *CLOSED_MENU_FR,
         "invalid-key/fr", *CLOSED_MENU_FR],
    ),
    "queue-exit-fr-to-english-research": case(
        "queue-exit-fr", ["9", "3", "*"],
        to_research("en", "queue-exit", "lang:en", "menu:3", "research"),
        ["queue-unavailable/fr", "emergency-numbers/fr", *CLOSED_MENU_FR,
         "queue-unavailable/en", "emergency-numbers/en", *CLOSED_MENU_EN, *research_skipped("en")],
    ),
}  # fmt: skip


def build(scenario: str) -> tuple[CallFlow, LineSettings]:
    settings, now, call = flow_scenarios()[scenario]
    return CallFlow(settings, now, call), settings


@pytest.mark.parametrize("name", list(CASES))
def test_flow_branches(name: str) -> None:
    expected = CASES[name]
    flow, _ = build(expected.scenario)
    transcript = drive(flow, expected.answers)
    assert transcript.decision == expected.decision
    assert tuple(transcript.prompts) == expected.prompts
    assert flow.finished


def test_every_scenario_is_covered_by_a_branch_case() -> None:
    assert {c.scenario for c in CASES.values()} == set(flow_scenarios())


@pytest.mark.parametrize("name", list(CASES))
def test_gathers_use_the_menu_timeout_and_accept_their_keys(name: str) -> None:
    expected = CASES[name]
    flow, settings = build(expected.scenario)
    gathers = [a for a in drive(flow, expected.answers).actions if isinstance(a, Gather)]
    assert gathers
    for gather in gathers:
        assert gather.timeout_ms == settings.menu.digit_timeout_ms
        assert list(gather.accept) == sorted(set(gather.accept))


CLOSED_ACCEPT = [
    ("after-hours", ["9"], ["1239", "123"]),
    ("queue-exit-fr", ["9"], ["1239", "123"]),
    ("queue-exit-en", [], ["123"]),
]


@pytest.mark.parametrize(("scenario", "answers", "accepts"), CLOSED_ACCEPT)
def test_closed_menu_accepts_configured_keys(
    scenario: str, answers: list[Answer], accepts: list[str]
) -> None:
    flow, _ = build(scenario)
    actions = drive(flow, answers, pad_with_silence=True).actions
    seen = [a.accept for a in actions if isinstance(a, Gather)]
    assert seen[: len(accepts)] == accepts


def test_open_menus_accept() -> None:
    flow, _ = build("open")
    assert isinstance(flow.start(), Play)
    first = flow.send(PlaybackDone())
    assert isinstance(first, Gather) and first.accept == "123"
    second = flow.send(DigitPressed("1"))
    assert isinstance(second, Gather) and second.accept == "12"


def test_custom_closed_keys_and_queue() -> None:
    settings, now, call = flow_scenarios()["after-hours"]
    custom = replace(
        settings,
        closed_transfer_keys={"4": "988", "5": "sosvc"},
        closed_research_key="6",
        queue_name="q211",
    )
    flow = CallFlow(custom, now, call)
    transcript = drive(flow, ["5"])
    decision = transcript.decision
    assert decision is not None
    assert (decision.route, decision.destination, decision.number) == (
        Route.TRANSFER,
        "sosvc",
        "18003639010",
    )
    gather = next(a for a in transcript.actions if isinstance(a, Gather))
    assert gather.accept == "4569"


def test_queue_exit_unknown_language_is_french() -> None:
    settings, now, _ = flow_scenarios()["queue-exit-fr"]
    call = CallInfo(extra={"entry": "queue-exit", "language": "de"})
    transcript = drive(CallFlow(settings, now, call), ["1"])
    assert transcript.prompts[0] == "queue-unavailable/fr"
    assert transcript.decision is not None and transcript.decision.language == "fr"


def test_line_state_is_decided_once_at_start() -> None:
    settings, _, call = flow_scenarios()["open"]
    late = datetime.fromisoformat("2026-03-10T18:59:59-04:00")
    flow = CallFlow(settings, late, call)
    transcript = drive(flow, ["1", "1"])
    assert transcript.decision is not None
    assert transcript.decision.route is Route.QUEUE
    assert flow.line_state is not None and flow.line_state.reason == "hours"


def test_override_open_outside_hours_runs_the_open_menu() -> None:
    settings = make_settings(make_schedule(override=Override("open")))
    transcript = drive(CallFlow(settings, AFTER_HOURS_NOW, CallInfo()), ["1", "1"])
    assert transcript.decision == to_queue(
        "fr", "open", "lang:fr", "main:1", line_state="override_open"
    )


# ---- hang-ups ---------------------------------------------------------------------

HANGUPS = [
    # (scenario, answers, then hang up during the next "play" or "gather", language, path)
    ("open", [], "play", "fr", ("open", "hangup")),
    ("open", [], "gather", "fr", ("open", "hangup")),
    ("open", ["7"], "play", "fr", ("open", "lang:invalid", "hangup")),
    ("open", ["2"], "gather", "en", ("open", "lang:en", "hangup")),
    ("open", ["2", "1"], "play", "en", ("open", "lang:en", "main:1", "hangup")),
    ("open", ["2", "5"], "play", "en", ("open", "lang:en", "main:invalid", "hangup")),
    ("open", ["3"], "play", "fr", ("open", "lang:other", "hangup")),
    ("after-hours", [], "play", "fr", ("closed:after_hours", "hangup")),
    ("after-hours", [], "gather", "fr", ("closed:after_hours", "hangup")),
    ("after-hours", ["9"], "play", "en", ("closed:after_hours", "lang:en", "hangup")),
    ("after-hours", ["9"], "gather", "en", ("closed:after_hours", "lang:en", "hangup")),
    ("after-hours", ["1"], "play", "fr",
     ("closed:after_hours", "menu:1", "transfer:811", "hangup")),
    ("after-hours", ["3"], "play", "fr", ("closed:after_hours", "menu:3", "research", "hangup")),
    ("queue-exit-en", [], "gather", "en", ("queue-exit", "hangup")),
    ("missing-destination", ["2"], "play", "fr",
     ("closed:after_hours", "menu:2", "transfer-failed:cps", "hangup")),
]  # fmt: skip


@pytest.mark.parametrize(("scenario", "answers", "during", "language", "path"), HANGUPS, ids=str)
def test_hangup_at_any_point(
    scenario: str, answers: list[Answer], during: str, language: str, path: tuple[str, ...]
) -> None:
    flow, _ = build(scenario)
    action = flow.start()
    pending = list(answers)
    kind = Play if during == "play" else Gather
    while pending or not isinstance(action, kind):
        if isinstance(action, Finish):
            pytest.fail(f"flow finished before the hang-up: {action}")
        if isinstance(action, Gather):
            action = flow.send(to_event(pending.pop(0)))
        else:
            action = flow.send(PlaybackDone())
    final = flow.send(HungUp())
    assert isinstance(final, Finish)
    assert final.decision.route is Route.HANGUP
    assert (final.decision.language, final.decision.path) == (language, path)
    assert final.decision.destination is None and final.decision.queue is None
    assert flow.finished


# ---- misuse by the adapter --------------------------------------------------------


def test_send_before_start() -> None:
    flow, _ = build("open")
    with pytest.raises(FlowNotStartedError):
        flow.send(PlaybackDone())


def test_start_twice() -> None:
    flow, _ = build("open")
    flow.start()
    with pytest.raises(FlowNotStartedError):
        flow.start()


@pytest.mark.parametrize("event", [PlaybackDone(), DigitPressed("1"), NoInput(), HungUp()], ids=str)
def test_event_after_finish(event: Event) -> None:
    flow, _ = build("open")
    drive(flow, ["3"])
    with pytest.raises(FlowFinishedError):
        flow.send(event)


@pytest.mark.parametrize("event", [DigitPressed("1"), NoInput()], ids=str)
def test_key_during_play(event: Event) -> None:
    flow, _ = build("open")
    assert isinstance(flow.start(), Play)
    with pytest.raises(UnexpectedEventError):
        flow.send(event)


def test_playback_done_during_gather() -> None:
    flow, _ = build("after-hours")
    flow.start()
    assert isinstance(flow.send(PlaybackDone()), Gather)
    with pytest.raises(UnexpectedEventError):
        flow.send(PlaybackDone())


def test_flow_errors_share_a_base() -> None:
    for error in (FlowNotStartedError, FlowFinishedError, UnexpectedEventError):
        assert issubclass(error, FlowError)


# ---- nobody is left in silence or hung up on ----------------------------------------

MAX_ACTIONS = 40


def _check(scenario: str, answers: tuple[Answer, ...], transcript: Transcript) -> None:
    decision = transcript.decision
    assert decision is not None, (scenario, answers)
    assert decision.route is not Route.HANGUP, (scenario, answers)
    assert len(transcript.actions) <= MAX_ACTIONS
    if decision.route is Route.CLOSED:
        assert "emergency-numbers" in {ref.name for ref in transcript.prompt_refs}
    if decision.route is Route.TRANSFER:
        assert decision.number and decision.destination
    if decision.route is Route.QUEUE:
        assert decision.queue == QUEUE


@pytest.mark.parametrize("scenario", list(flow_scenarios()))
def test_every_sequence_of_six_keys_ends_in_a_decision(scenario: str) -> None:
    paths = 0
    for answers, transcript in explore(lambda: build(scenario)[0], DISTINCT_KEYS, 6):
        _check(scenario, answers, transcript)
        paths += 1
    assert paths > 13


@pytest.mark.parametrize("scenario", list(flow_scenarios()))
def test_random_sequences_of_any_key_end_in_a_decision(scenario: str) -> None:
    for answers in sampled_sequences(ALL_KEYS, 12, count=1000, seed=211):
        flow, _ = build(scenario)
        transcript = drive(flow, answers, pad_with_silence=True, max_actions=MAX_ACTIONS)
        _check(scenario, answers, transcript)
        assert flow.finished
