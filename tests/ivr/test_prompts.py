from __future__ import annotations

import functools
import re
from dataclasses import replace

import pytest

from ivr.actions import PromptRef
from ivr.flow import CallFlow
from ivr.hours import PIECE_NAMES
from ivr.prompts import CATALOGUE, SOUND_DIR, catalogue_for, prompt_text, sound_file
from ivr.settings import LANGUAGES, Language, ResearchConsent

from .helpers import DISTINCT_KEYS, explore, flow_scenarios, make_settings

# The names agreed with the dialplan and the audio tooling (the preamble's list).
AGREED_NAMES = {
    "greeting",
    "emergency-notice",
    "language-menu",
    "main-menu",
    "invalid-key",
    "closed-hours",
    "closed-holiday",
    "closed-exceptional",
    "emergency-numbers",
    "closed-menu",
    "for-english",
    "interpreter-hold",
    "transferring",
    "to-navigator",
    "research-intro",
    "goodbye",
    "queue-reminder",
    "queue-unavailable",
    "transfer-failed",
    "fallback-closed",
    "fallback-notice",
    # the research box (issue 5)
    "consent-notice",
    "callback-request",
    "callback-invalid",
    "callback-you-entered",
    "callback-confirm",
    "callback-none",
    "research-record",
    "research-review",
    "research-thanks",
}
KEBAB = re.compile(r"[a-z]+(-[a-z0-9]+)*")


@functools.cache
def emitted_prompts() -> frozenset[PromptRef]:
    """Every prompt of every branch (as in test_flow's exhaustive test)."""
    refs: set[PromptRef] = set()
    for settings, now, call in flow_scenarios().values():
        for _, transcript in explore(
            functools.partial(CallFlow, settings, now, call), DISTINCT_KEYS, 6
        ):
            refs.update(transcript.prompt_refs)
    # The callback number's readback and confirmation need a whole valid number.
    settings, now, call = flow_scenarios()["open"]
    for _, transcript in explore(
        functools.partial(CallFlow, settings, now, call), ("1", "2", "4185550199", None), 6
    ):
        refs.update(transcript.prompt_refs)
    return frozenset(refs)


def test_every_prompt_the_flow_emits_is_in_the_catalogue() -> None:
    emitted = emitted_prompts()
    missing = [ref for ref in emitted if ref.language not in CATALOGUE.get(ref.name, {})]
    assert missing == []
    for ref in emitted:
        assert prompt_text(ref).strip()


def test_the_flow_uses_every_menu_prompt() -> None:
    # the pieces of the opening hours: tests/ivr/test_hours.py
    used = {ref.name for ref in emitted_prompts()} - PIECE_NAMES
    # goodbye, queue-reminder, fallback-closed, fallback-notice and research-thanks are
    # played by the dialplan itself, research-review by the Twilio back end.
    assert used == AGREED_NAMES - {
        "goodbye",
        "queue-reminder",
        "fallback-closed",
        "fallback-notice",
        "research-thanks",
        "research-review",
    }


def test_catalogue_has_exactly_the_agreed_names() -> None:
    assert set(CATALOGUE) == AGREED_NAMES | PIECE_NAMES


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_names_are_kebab_case_and_texts_not_empty(name: str) -> None:
    assert KEBAB.fullmatch(name)
    texts = CATALOGUE[name]
    assert texts
    for language, text in texts.items():
        assert language in LANGUAGES
        assert text.strip() == text and len(text) > (0 if name in PIECE_NAMES else 10)


@pytest.mark.parametrize("name", sorted(AGREED_NAMES - {"for-english"}))
def test_both_languages_except_for_english(name: str) -> None:
    assert set(CATALOGUE[name]) == {"fr", "en"}


def test_for_english_is_english_only_and_names_key_9() -> None:
    assert set(CATALOGUE["for-english"]) == {"en"}
    assert "9" in CATALOGUE["for-english"]["en"]


def test_language_menu_wording() -> None:
    assert CATALOGUE["language-menu"]["fr"] == (
        "Pour le service en français, faites le 1. Pour une autre langue, faites le 3."
    )
    assert CATALOGUE["language-menu"]["en"] == (
        "For service in English, press 2. For another language, press 3."
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_emergency_numbers_are_all_given(language: Language) -> None:
    text = CATALOGUE["emergency-numbers"][language]
    for number in ("9-1-1", "8-1-1", "Info-Santé", "Info-Social", "APPELLE", "277-3553", "9-8-8"):
        assert number in text
    assert text in CATALOGUE["fallback-closed"][language]


@pytest.mark.parametrize("language", LANGUAGES)
def test_fallback_notice_is_short_and_says_to_dial_911(language: Language) -> None:
    """Played in both languages before anything else when the FastAGI server is down:
    a few seconds each, so an English speaker hears it in English at once."""
    text = CATALOGUE["fallback-notice"][language]
    assert "2-1-1" in text and "9-1-1" in text
    assert len(text.split()) <= 15


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", ["closed-hours", "closed-holiday", "closed-exceptional"])
def test_no_prompt_text_states_hours(name: str, language: Language) -> None:
    """The hours a caller hears are the settings' (ivr.hours), never a recording's."""
    text = CATALOGUE[name][language]
    assert not re.search(r"\d", text.replace("2-1-1", "")), text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_emergency_notice_is_short(language: Language) -> None:
    """The one prompt nobody can interrupt (ivr.flow): a few seconds."""
    text = CATALOGUE["emergency-notice"][language]
    assert "9-1-1" in text and len(text.split()) <= 12


@pytest.mark.parametrize("language", LANGUAGES)
def test_research_intro_and_consent_name_the_project_and_the_rights(language: Language) -> None:
    intro = CATALOGUE["research-intro"][language]
    consent = CATALOGUE["consent-notice"][language]
    assert "CHU de Québec - Université Laval" in intro
    assert ("soins à domicile" if language == "fr" else "home-care") in intro
    # Loi 25: why, who receives it, access and withdrawal, how long it is kept.
    words = (
        ("sert seulement", "équipe de recherche du CHU de Québec", "consulter", "retirer",
         "365 jours")
        if language == "fr"
        else ("used only", "research team of the CHU de Québec", "hear it", "withdraw",
              "365 days")
    )  # fmt: skip
    for word in words:
        assert word in consent


@pytest.mark.parametrize("language", LANGUAGES)
def test_consent_notice_is_the_line_setting(language: Language) -> None:
    consent = ResearchConsent(
        text_fr="Gardé {days} jours par le CHU.", text_en="Kept {days} days.", retention_days=90
    )
    settings = replace(make_settings(), research_consent=consent)
    ref = PromptRef("consent-notice", language)
    expected = "Gardé 90 jours par le CHU." if language == "fr" else "Kept 90 days."
    assert prompt_text(ref, settings) == expected
    assert catalogue_for(settings)["consent-notice"][language] == expected
    assert catalogue_for(settings)["greeting"] == CATALOGUE["greeting"]
    assert prompt_text(ref) == CATALOGUE["consent-notice"][language] != expected


def test_every_prompt_read_with_the_settings_is_the_centres_catalogue() -> None:
    consent = ResearchConsent(text_fr="Gardé {days} jours.", text_en="Kept {days} days.")
    settings = replace(make_settings(), research_consent=consent)
    catalogue = catalogue_for(settings)
    for name, texts in catalogue.items():
        for language, text in texts.items():
            assert prompt_text(PromptRef(name, language), settings) == text, name


@pytest.mark.parametrize(
    "changes",
    [{"retention_days": 0}, {"retention_days": 4000}, {"text_fr": " "}, {"text_en": ""}],
)
def test_consent_setting_is_checked(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ResearchConsent(**changes)  # type: ignore[arg-type]


def test_sound_file() -> None:
    assert SOUND_DIR == "211"
    assert sound_file("greeting") == "211/greeting"


def test_prompt_text_errors_are_clear() -> None:
    with pytest.raises(KeyError, match="no prompt named 'nope'"):
        prompt_text(PromptRef("nope", "fr"))
    with pytest.raises(KeyError, match="'for-english' has no 'fr' text"):
        prompt_text(PromptRef("for-english", "fr"))
    assert prompt_text(PromptRef("greeting", "en")) == CATALOGUE["greeting"]["en"]
