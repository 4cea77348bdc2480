from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time

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
    PromptRef,
)
from ivr.dialplan import Route
from ivr.flow import (
    CallFlow,
    FlowError,
    FlowFinishedError,
    FlowNotStartedError,
    UnexpectedEventError,
)
from ivr.settings import DayHours, Language, LineSettings, Override, WeeklyHours

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

NOTICE = "emergency-notice/fr"
OPEN_INTRO = [NOTICE, "greeting/fr"]
LANG_MENU = ["language-menu/fr", "language-menu/en"]
LANG_INVALID = ["invalid-key/fr", "invalid-key/en"]
# The first English main menu starts with the emergency notice in English.
MAIN_EN_FIRST = ["emergency-notice/en", "main-menu/en"]
CLOSED_MENU_FR = ["closed-menu/fr", "for-english/en"]
CLOSED_MENU_EN = ["closed-menu/en"]

# The hours of the test line (helpers.weekly_hours: Mon-Fri 08:00-19:00, weekends and
# holidays 08:00-15:30), as the flow says them: "Nous vous répondons du lundi au
# vendredi de 8 heures à 19 heures, et le samedi, le dimanche et les jours fériés de
# 8 heures à 15 heures 30".
_HOURS = ["hours-open", "from-day-mon", "to-day-fri", "time-from", "hour-8", "time-to",
          "hour-19", "word-and", "day-sat", "day-sun", "word-and", "days-holidays",
          "time-from", "hour-8", "time-to", "hour-15", "minute-30"]  # fmt: skip
HOURS_FR = [f"{name}/fr" for name in _HOURS]
HOURS_EN = [f"{name}/en" for name in (
    "hours-open", "from-day-mon", "to-day-fri", "time-from", "hour-8", "time-am", "time-to",
    "hour-19", "time-pm", "word-and", "day-sat", "day-sun", "word-and", "days-holidays",
    "time-from", "hour-8", "time-am", "time-to", "hour-15", "minute-30", "time-pm")]  # fmt: skip
# The reasons after which the hours are said: after hours (or the night switch), holiday.
WITH_HOURS = {"closed-hours", "closed-holiday"}


def closed_info(reason_prompt: str, lang: str) -> list[str]:
    english = ["for-english/en"] if lang == "fr" else []
    hours = (HOURS_FR if lang == "fr" else HOURS_EN) if reason_prompt in WITH_HOURS else []
    return [f"{reason_prompt}/{lang}", *english, *hours, f"emergency-numbers/{lang}"]


def closed_intro(reason_prompt: str) -> list[str]:
    return [NOTICE, "greeting/fr", *closed_info(reason_prompt, "fr")]


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
        [*OPEN_INTRO, *LANG_MENU, *MAIN_EN_FIRST, "to-navigator/en"],
    ),
    "open-fr-research": case(
        "open", ["1", "2", "*"], to_research("fr", "open", "lang:fr", "main:2"),
        [*OPEN_INTRO, *LANG_MENU, "main-menu/fr", *research_skipped("fr")],
    ),
    "open-en-research": case(
        "open", ["2", "2", "*"], to_research("en", "open", "lang:en", "main:2"),
        [*OPEN_INTRO, *LANG_MENU, *MAIN_EN_FIRST, *research_skipped("en")],
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
        [*OPEN_INTRO, *LANG_MENU, *LANG_INVALID, *LANG_MENU, *MAIN_EN_FIRST, "to-navigator/en"],
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
        [*OPEN_INTRO, *LANG_MENU, *MAIN_EN_FIRST, "invalid-key/en", "main-menu/en",
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
        [*OPEN_INTRO, *LANG_MENU, *MAIN_EN_FIRST, "invalid-key/en", "main-menu/en",
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
        [*OPEN_INTRO, *LANG_MENU, *MAIN_EN_FIRST, "to-navigator/en"],
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
    # the night switch: closed now, here are our hours
    "override-closed-english-811": case(
        "override-closed", ["9", "1"],
        to_transfer("en", "811", "811", "closed:override_closed", "lang:en", "menu:1",
                    "transfer:811", line_state="override_closed"),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, *closed_info("closed-hours", "en"),
         *CLOSED_MENU_EN, "transferring/en"],
    ),
    # a forced closure for an exceptional reason: said so, no hours
    "override-exceptional-english-811": case(
        "override-exceptional", ["9", "1"],
        to_transfer("en", "811", "811", "closed:closure", "lang:en", "menu:1",
                    "transfer:811", line_state="closure"),
        [*closed_intro("closed-exceptional"), *CLOSED_MENU_FR,
         *closed_info("closed-exceptional", "en"), *CLOSED_MENU_EN, "transferring/en"],
    ),
    "after-hours-english-research": case(
        "after-hours", ["9", "3", "*"],
        to_research("en", "closed:after_hours", "lang:en", "menu:3", "research", line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, *closed_info("closed-hours", "en"),
         *CLOSED_MENU_EN, *research_skipped("en")],
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
         *closed_info("closed-hours", "en"), *CLOSED_MENU_EN, "invalid-key/en",
         *CLOSED_MENU_EN, *CLOSED_MENU_EN],
    ),
    "nine-in-english-is-invalid": case(
        "after-hours", ["9", "9", "2"],
        to_transfer("en", "cps", "18662773553", "closed:after_hours", "lang:en", "menu:invalid",
                    "menu:2", "transfer:cps", line_state=AH),
        [*closed_intro("closed-hours"), *CLOSED_MENU_FR, *closed_info("closed-hours", "en"),
         *CLOSED_MENU_EN, "invalid-key/en", *CLOSED_MENU_EN, "transferring/en"],
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
        [*closed_info("queue-unavailable", "fr"), *CLOSED_MENU_FR, *CLOSED_MENU_FR,
         "invalid-key/fr", *CLOSED_MENU_FR],
    ),
    "queue-exit-fr-to-english-research": case(
        "queue-exit-fr", ["9", "3", "*"],
        to_research("en", "queue-exit", "lang:en", "menu:3", "research"),
        [*closed_info("queue-unavailable", "fr"), *CLOSED_MENU_FR,
         *closed_info("queue-unavailable", "en"), *CLOSED_MENU_EN, *research_skipped("en")],
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


# ---- what a caller hears first, and when keys work -------------------------------------

# Prompts that play whole (a Play) after the emergency notice: the last words before the
# call leaves the flow, and the research box (its notice must be heard before the beep).
RESEARCH_BOX = {"research-intro", "consent-notice", "callback-invalid", "invalid-key"}


def _key_taking(scenario: str, answers: tuple[Answer, ...], transcript: Transcript) -> None:
    actions = transcript.actions
    _, _, call = flow_scenarios()[scenario]
    if call.extra.get("entry") != "queue-exit":
        # one short notice first, that no key skips
        assert actions[0] == Play((PromptRef("emergency-notice", "fr"),)), (scenario, answers)
        later = actions[1:]
    else:
        later = actions  # the caller heard the notice when the call came in
    in_research = False
    for action, following in zip(later, [*later[1:], None], strict=True):
        in_research = in_research or (
            isinstance(action, Play) and action.prompts[0].name == "research-intro"
        )
        if isinstance(action, Play) and not in_research:
            # played whole only just before the call leaves the flow
            assert isinstance(following, Finish), (scenario, answers, action)
    # the greeting (or the queue's apology) is already part of a menu
    assert isinstance(later[0], Gather), (scenario, answers)


@pytest.mark.parametrize("scenario", list(flow_scenarios()))
def test_only_the_first_emergency_notice_cannot_be_interrupted(scenario: str) -> None:
    paths = 0
    for answers, transcript in explore(lambda: build(scenario)[0], DISTINCT_KEYS, 4):
        _key_taking(scenario, answers, transcript)
        paths += 1
    assert paths > 10


@pytest.mark.parametrize("scenario", [s for s in flow_scenarios() if s != "queue-exit-en"])
def test_english_is_offered_within_the_first_prompts(scenario: str) -> None:
    """Before any key, in the first four prompts, in a menu that takes the English key."""
    flow, _ = build(scenario)
    action = flow.start()
    seen = 0
    while True:
        if isinstance(action, Gather):
            names = [f"{ref.name}/{ref.language}" for ref in action.prompts]
            offers = {"language-menu/en": "2", "for-english/en": "9"}
            first = next((i for i, n in enumerate(names) if n in offers), None)
            assert first is not None, names
            assert seen + first <= 3, names
            assert offers[names[first]] in action.accept
            return
        assert isinstance(action, Play)
        seen += len(action.prompts)
        action = flow.send(PlaybackDone())


def test_a_key_pressed_during_the_closed_intro_is_the_menu_choice() -> None:
    """The caller who knows the keys presses 1 during "we are closed": 811 at once."""
    flow, settings = build("after-hours")
    assert isinstance(flow.start(), Play)
    intro = flow.send(PlaybackDone())
    assert isinstance(intro, Gather)
    names = [ref.name for ref in intro.prompts]
    assert names[:3] == ["greeting", "closed-hours", "for-english"]
    assert {"emergency-numbers", "closed-menu", "hours-open"} <= set(names)
    assert set(intro.accept) == {"1", "2", "3", "9"}
    assert intro.timeout_ms == settings.menu.digit_timeout_ms
    announce = flow.send(DigitPressed("1"))
    assert announce == Play((PromptRef("transferring", "fr"),))


# ---- why the line is closed, and the hours it says -----------------------------------


def _closed_prompts(settings: LineSettings, now: datetime) -> list[str]:
    flow = CallFlow(settings, now, CallInfo())
    flow.start()
    gather = flow.send(PlaybackDone())
    assert isinstance(gather, Gather)
    return [f"{ref.name}/{ref.language}" for ref in gather.prompts]


def test_the_night_switch_says_closed_and_the_hours() -> None:
    settings = make_settings(make_schedule(override=Override("closed", reason="soir")))
    prompts = _closed_prompts(settings, OPEN_NOW)
    assert "closed-exceptional/fr" not in prompts
    assert prompts[1:3] == ["closed-hours/fr", "for-english/en"]
    assert prompts[3 : 3 + len(HOURS_FR)] == HOURS_FR


def test_an_exceptional_forced_closure_says_so_without_hours() -> None:
    override = Override("closed", reason="panne", exceptional=True)
    settings = make_settings(make_schedule(override=override))
    prompts = _closed_prompts(settings, OPEN_NOW)
    assert prompts[1:3] == ["closed-exceptional/fr", "for-english/en"]
    assert not {p for p in prompts if p.startswith(("closed-hours", "hours-", "hour-"))}
    transcript = drive(CallFlow(settings, OPEN_NOW, CallInfo()), ["1"])
    assert transcript.decision is not None and transcript.decision.line_state == "closure"


def test_the_hours_said_are_the_settings() -> None:
    """DOMAIN's default, 08:00-19:00 every day, holidays included."""
    every_day = DayHours(time(8), time(19))
    weekly = WeeklyHours(days=dict.fromkeys(range(7), every_day), holiday=every_day)
    settings = make_settings(make_schedule(weekly=weekly))
    prompts = _closed_prompts(settings, AFTER_HOURS_NOW)
    hours = ["hours-open", "days-every-holidays", "time-from", "hour-8", "time-to", "hour-19"]
    assert prompts[3:9] == [f"{name}/fr" for name in hours]
    assert prompts[9] == "emergency-numbers/fr"


# ---- hang-ups ---------------------------------------------------------------------

HANGUPS = [
    # (scenario, answers, then hang up during the next "play" or "gather", language, path)
    ("open", [], "play", "fr", ("open", "hangup")),
    ("open", [], "gather", "fr", ("open", "hangup")),
    ("open", ["7"], "gather", "fr", ("open", "lang:invalid", "hangup")),
    ("open", ["2"], "gather", "en", ("open", "lang:en", "hangup")),
    ("open", ["2", "1"], "play", "en", ("open", "lang:en", "main:1", "hangup")),
    ("open", ["2", "5"], "gather", "en", ("open", "lang:en", "main:invalid", "hangup")),
    ("open", ["3"], "play", "fr", ("open", "lang:other", "hangup")),
    ("after-hours", [], "play", "fr", ("closed:after_hours", "hangup")),
    ("after-hours", [], "gather", "fr", ("closed:after_hours", "hangup")),
    ("after-hours", ["9"], "gather", "en", ("closed:after_hours", "lang:en", "hangup")),
    ("after-hours", ["1"], "play", "fr",
     ("closed:after_hours", "menu:1", "transfer:811", "hangup")),
    ("after-hours", ["3"], "play", "fr", ("closed:after_hours", "menu:3", "research", "hangup")),
    ("queue-exit-en", [], "gather", "en", ("queue-exit", "hangup")),
    ("missing-destination", ["2"], "gather", "fr",
     ("closed:after_hours", "menu:2", "transfer-failed:cps", "hangup")),
    ("missing-destination", ["2", "2", "2"], "play", "fr",
     ("closed:after_hours", "menu:2", "transfer-failed:cps", "menu:2", "transfer-failed:cps",
      "menu:2", "transfer-failed:cps", "menu:default", "hangup")),
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
