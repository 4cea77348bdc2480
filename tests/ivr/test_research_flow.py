"""The research box, caller side (issue 5): the consent notice in the caller's language
before anything is recorded, and the callback number asked of a caller whose number is
withheld (typed, read back, confirmed with 1 or re-entered with 2). Whatever the caller
does, the message is taken: after ``max_attempts`` without a callback number."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest

from ivr.actions import (
    Action,
    CallInfo,
    DigitPressed,
    DigitsEntered,
    Event,
    Finish,
    GatherDigits,
    HungUp,
    NoInput,
    Play,
    PlaybackDone,
    SayDigits,
)
from ivr.dialplan import Route
from ivr.flow import CallFlow, UnexpectedEventError, normalise_callback
from ivr.settings import Language

from .helpers import (
    AFTER_HOURS_NOW,
    OPEN_NOW,
    Answer,
    Transcript,
    drive,
    explore,
    make_settings,
)

NUMBER = "4185550199"
OTHER = "5815550123"
KNOWN_CALLER = "4185550100"


def to_box(language: Language, *, now_open: bool = True) -> list[Answer]:
    """Keys that reach the research box: open line (language, then 2) or closed (3)."""
    if now_open:
        return ["1" if language == "fr" else "2", "2"]
    return ["3"] if language == "fr" else ["9", "3"]


def run(
    answers: list[Answer],
    *,
    caller: str | None = None,
    max_attempts: int = 3,
    now_open: bool = True,
) -> Transcript:
    settings = make_settings(max_attempts=max_attempts)
    now = OPEN_NOW if now_open else AFTER_HOURS_NOW
    return drive(CallFlow(settings, now, CallInfo(caller_number=caller)), answers)


def box_prompts(transcript: Transcript) -> list[str]:
    """The prompts from the research intro on."""
    prompts = transcript.prompts
    start = next(i for i, p in enumerate(prompts) if p.startswith("research-intro/"))
    return prompts[start:]


def box_path(transcript: Transcript) -> tuple[str, ...]:
    decision = transcript.decision
    assert decision is not None
    path = decision.path
    start = next(i for i, p in enumerate(path) if p in ("main:2", "research"))
    return path[start + 1 :]


def readbacks(transcript: Transcript) -> list[str]:
    return [a.digits for a in transcript.actions if isinstance(a, SayDigits)]


# ---- the consent notice -------------------------------------------------------------


@pytest.mark.parametrize("now_open", [True, False], ids=["open", "closed"])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_consent_notice_in_the_callers_language_before_the_beep(
    language: Language, now_open: bool
) -> None:
    transcript = run(to_box(language, now_open=now_open), caller=KNOWN_CALLER, now_open=now_open)
    decision = transcript.decision
    assert decision is not None
    assert decision.route is Route.RESEARCH
    assert decision.language == language
    assert decision.mailbox == "1000@recherche"
    assert decision.callback is None
    assert box_prompts(transcript) == [
        f"research-intro/{language}",
        f"consent-notice/{language}",
        f"research-record/{language}",
    ]
    assert box_path(transcript) == ()
    assert not any(isinstance(a, GatherDigits) for a in transcript.actions)


# ---- withheld number: the callback number ---------------------------------------------


@dataclass(frozen=True)
class Case:
    language: Language
    entries: list[Answer]  # answers after the research box was chosen
    callback: str | None
    path: tuple[str, ...]
    prompts: list[str]  # after research-intro + consent-notice, as "name" (language added)
    readbacks: list[str]
    max_attempts: int = 3


def case(
    language: Language,
    entries: list[Answer],
    callback: str | None,
    path: tuple[str, ...],
    prompts: list[str],
    readback: list[str] | None = None,
    max_attempts: int = 3,
) -> Case:
    return Case(language, entries, callback, path, prompts, readback or [], max_attempts)


ASK = "callback-request"
READ = "callback-you-entered"
CONFIRM = "callback-confirm"
NONE = ["callback-none", "research-record"]
W = "callback:withheld"

CASES: dict[str, Case] = {
    "confirmed-fr": case(
        "fr", [NUMBER, "1"], NUMBER,
        (W, "callback:entered", "callback:confirmed"),
        [ASK, READ, CONFIRM, "research-record"], [NUMBER],
    ),
    "confirmed-en": case(
        "en", [NUMBER, "1"], NUMBER,
        (W, "callback:entered", "callback:confirmed"),
        [ASK, READ, CONFIRM, "research-record"], [NUMBER],
    ),
    "leading-1-dropped": case(
        "fr", ["1" + NUMBER, "1"], NUMBER,
        (W, "callback:entered", "callback:confirmed"),
        [ASK, READ, CONFIRM, "research-record"], [NUMBER],
    ),
    "re-entered-with-2": case(
        "en", [NUMBER, "2", OTHER, "1"], OTHER,
        (W, "callback:entered", "callback:reenter", "callback:entered", "callback:confirmed"),
        [ASK, READ, CONFIRM, ASK, READ, CONFIRM, "research-record"], [NUMBER, OTHER],
    ),
    "invalid-then-valid": case(
        "fr", ["418555", NUMBER, "1"], NUMBER,
        (W, "callback:invalid", "callback:entered", "callback:confirmed"),
        [ASK, "callback-invalid", ASK, READ, CONFIRM, "research-record"], [NUMBER],
    ),
    "only-the-terminator-is-invalid": case(
        "fr", ["", NUMBER, "1"], NUMBER,
        (W, "callback:invalid", "callback:entered", "callback:confirmed"),
        [ASK, "callback-invalid", ASK, READ, CONFIRM, "research-record"], [NUMBER],
    ),
    "timeout-then-valid": case(
        "en", [None, NUMBER, "1"], NUMBER,
        (W, "callback:timeout", "callback:entered", "callback:confirmed"),
        [ASK, ASK, READ, CONFIRM, "research-record"], [NUMBER],
    ),
    "skipped-with-star": case(
        "fr", ["*"], None, (W, "callback:skipped", "callback:none"), [ASK, *NONE],
    ),
    "silence-exhausted": case(
        "fr", [None, None, None], None,
        (W, "callback:timeout", "callback:timeout", "callback:timeout", "callback:none"),
        [ASK, ASK, ASK, *NONE],
    ),
    "invalid-exhausted": case(
        "en", ["0185550199", "4181555019", "12345"], None,
        (W, "callback:invalid", "callback:invalid", "callback:invalid", "callback:none"),
        [ASK, "callback-invalid", ASK, "callback-invalid", ASK, *NONE],
    ),
    "one-attempt": case(
        "fr", ["1"], None, (W, "callback:invalid", "callback:none"), [ASK, *NONE],
        max_attempts=1,
    ),
    "confirm-invalid-key-reads-back-again": case(
        "fr", [NUMBER, "7", "1"], NUMBER,
        (W, "callback:entered", "confirm:invalid", "callback:confirmed"),
        [ASK, READ, CONFIRM, "invalid-key", READ, CONFIRM, "research-record"],
        [NUMBER, NUMBER],
    ),
    "confirm-silence-reads-back-again": case(
        "en", [NUMBER, None, "1"], NUMBER,
        (W, "callback:entered", "confirm:timeout", "callback:confirmed"),
        [ASK, READ, CONFIRM, READ, CONFIRM, "research-record"], [NUMBER, NUMBER],
    ),
    "confirm-exhausted-takes-no-number": case(
        "fr", [NUMBER, None, "5", None], None,
        (W, "callback:entered", "confirm:timeout", "confirm:invalid", "confirm:timeout",
         "callback:none"),
        [ASK, READ, CONFIRM, READ, CONFIRM, "invalid-key", READ, CONFIRM, *NONE],
        [NUMBER, NUMBER, NUMBER],
    ),
    "re-entry-after-the-last-attempt-takes-no-number": case(
        "fr", [None, None, NUMBER, "2"], None,
        (W, "callback:timeout", "callback:timeout", "callback:entered", "callback:reenter",
         "callback:none"),
        [ASK, ASK, ASK, READ, CONFIRM, *NONE], [NUMBER],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_withheld_number_callback_paths(name: str) -> None:
    expected = CASES[name]
    lang = expected.language
    transcript = run(to_box(lang) + expected.entries, max_attempts=expected.max_attempts)
    decision = transcript.decision
    assert decision is not None
    assert decision.route is Route.RESEARCH
    assert decision.language == lang
    assert decision.callback == expected.callback
    assert box_path(transcript) == expected.path
    assert box_prompts(transcript) == [
        f"research-intro/{lang}",
        f"consent-notice/{lang}",
        *(f"{name}/{lang}" for name in expected.prompts),
    ]
    assert readbacks(transcript) == expected.readbacks
    assert all(a.language == lang for a in transcript.actions if isinstance(a, SayDigits))


@pytest.mark.parametrize("name", list(CASES))
def test_the_number_never_goes_into_the_logged_path(name: str) -> None:
    expected = CASES[name]
    transcript = run(
        to_box(expected.language) + expected.entries, max_attempts=expected.max_attempts
    )
    decision = transcript.decision
    assert decision is not None
    assert not any(ch.isdigit() for part in box_path(transcript) for ch in part)
    assert NUMBER not in decision.path_text and OTHER not in decision.path_text


def test_the_entry_is_get_data_shaped() -> None:
    settings = make_settings()
    transcript = run([*to_box("en"), NUMBER, "1"])
    (entry,) = [a for a in transcript.actions if isinstance(a, GatherDigits)]
    assert entry.max_digits == 11
    assert entry.terminator == "#"
    assert entry.timeout_ms == settings.menu.digit_timeout_ms
    assert [p.name for p in entry.prompts] == ["callback-request"]
    confirm = transcript.actions[transcript.actions.index(entry) + 2]
    assert not isinstance(confirm, Finish | Play)
    assert getattr(confirm, "accept", None) == "12"


@pytest.mark.parametrize("during", ["entry", "readback", "confirm", "consent"])
def test_hangup_during_the_research_box_records_no_number(during: str) -> None:
    flow = CallFlow(make_settings(), OPEN_NOW, CallInfo())
    action = flow.start()
    for answer in to_box("fr"):
        while isinstance(action, Play):
            action = flow.send(PlaybackDone())
        action = flow.send(DigitPressed(answer))
    steps = {"consent": 0, "entry": 1, "readback": 2, "confirm": 3}[during]
    for _ in range(steps):
        if isinstance(action, GatherDigits):
            action = flow.send(DigitsEntered(NUMBER))
        else:
            action = flow.send(PlaybackDone())
    final = flow.send(HungUp())
    assert isinstance(final, Finish)
    assert final.decision.route is Route.HANGUP
    assert final.decision.callback is None
    assert final.decision.path[-1] == "hangup"
    assert NUMBER not in final.decision.path_text


def test_events_must_answer_their_action() -> None:
    flow = CallFlow(make_settings(), AFTER_HOURS_NOW, CallInfo())
    action = flow.start()
    action = flow.send(PlaybackDone())
    with pytest.raises(UnexpectedEventError):
        flow.send(DigitsEntered(NUMBER))
    action = flow.send(DigitPressed("3"))
    assert isinstance(action, Play)
    action = flow.send(PlaybackDone())
    assert isinstance(action, GatherDigits)
    with pytest.raises(UnexpectedEventError):
        flow.send(DigitPressed("4"))
    with pytest.raises(UnexpectedEventError):
        flow.send(PlaybackDone())
    assert isinstance(flow.send(NoInput()), GatherDigits)


ENTRIES: tuple[Answer, ...] = (NUMBER, "1", "2", "7", "*", "", None)


class InTheBox:
    """A flow already driven into the research box, from its consent notice on."""

    def __init__(self, language: Language) -> None:
        self.flow = CallFlow(make_settings(), AFTER_HOURS_NOW, CallInfo())
        self.keys = to_box(language, now_open=False)

    def start(self) -> Action:
        action = self.flow.start()
        for key in self.keys:
            while isinstance(action, Play):
                action = self.flow.send(PlaybackDone())
            action = self.flow.send(DigitPressed(key))
        assert isinstance(action, Play) and action.prompts[0].name == "research-intro"
        return action

    def send(self, event: Event) -> Action:
        return self.flow.send(event)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_way_through_the_callback_request_leaves_a_message(language: Language) -> None:
    """No key, number or silence hangs up on the caller: every branch ends in the box,
    within a bounded number of actions."""
    seen = 0
    for prefix, transcript in explore(
        functools.partial(InTheBox, language),  # type: ignore[arg-type]
        ENTRIES,
        7,
    ):
        seen += 1
        decision = transcript.decision
        assert decision is not None
        assert decision.route is Route.RESEARCH, prefix
        assert decision.language == language
        assert decision.callback in (None, NUMBER), prefix
        if decision.callback is not None:
            assert decision.path[-1] == "callback:confirmed"
        assert len(transcript.actions) < 40
    assert seen > 100


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("4185550199", "4185550199"),
        ("14185550199", "4185550199"),
        ("18005550199", "8005550199"),
        ("418555019", None),
        ("41855501999", None),
        ("24185550199", None),
        ("0185550199", None),
        ("1185550199", None),
        ("4180550199", None),
        ("4181550199", None),
        ("418555019*", None),
        ("", None),
        ("*", None),
    ],
)
def test_normalise_callback(digits: str, expected: str | None) -> None:
    assert normalise_callback(digits) == expected
