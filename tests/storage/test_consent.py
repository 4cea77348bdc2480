"""The research box's consent notice is a line setting (Loi 25), stored in the database."""

from __future__ import annotations

import pytest

from ivr.prompts import PromptRef, prompt_text
from ivr.settings import ResearchConsent
from store.linesettings import SettingsChangeError, SettingsStore, set_research_consent


def test_the_default_notice_until_the_centre_writes_its_own(store: SettingsStore) -> None:
    assert store.load().research_consent == ResearchConsent()


def test_the_centre_notice_and_period_reach_the_flow_and_the_retention_job(
    store: SettingsStore,
) -> None:
    before = store.version()
    with store.change() as session:
        set_research_consent(
            session,
            "Votre message est gardé {days} jours par l'équipe de recherche du CHU de Québec.",
            "Your message is kept {days} days by the CHU de Québec research team.",
            180,
            "admin",
        )
    settings = store.load()
    assert store.version() == (before or 0) + 1
    assert settings.research_consent.retention_days == 180
    assert settings.research_consent.text("fr") == (
        "Votre message est gardé 180 jours par l'équipe de recherche du CHU de Québec."
    )
    assert "180 days" in prompt_text(PromptRef("consent-notice", "en"), settings)


def test_empty_texts_go_back_to_the_default(store: SettingsStore) -> None:
    with store.change() as session:
        set_research_consent(session, "Texte {days}", "Text {days}", 30, "admin")
    with store.change() as session:
        set_research_consent(session, "  ", None, None, "admin")
    assert store.load().research_consent == ResearchConsent()


@pytest.mark.parametrize("days", [0, 4000])
def test_a_period_out_of_range_is_refused_with_a_clear_error(
    store: SettingsStore, days: int
) -> None:
    with pytest.raises(SettingsChangeError, match="retention_days"), store.change() as session:
        set_research_consent(session, None, None, days, "admin")
    assert store.load().research_consent.retention_days == ResearchConsent().retention_days
