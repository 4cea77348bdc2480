"""The voice and language of prompts spoken with ``<Say>`` (a prompt without its audio
file): each language by a voice that speaks it, configurable in ``[twilio]``."""

from __future__ import annotations

from pathlib import Path

from ivr.actions import Play, PromptRef
from ivr211.config import Config
from ivr211.twilio_options import twilio_options
from tests.twilio_line.helpers import PUBLIC, line_settings, options, verbs
from twilio_line.twiml import Renderer


def spoken(body: str) -> list[tuple[str | None, str | None]]:
    return [(say.get("voice"), say.get("language")) for say in verbs(body) if say.tag == "Say"]


def render(tmp_path: Path, **changes: object) -> str:
    renderer = Renderer(options(tmp_path, **changes), line_settings())
    action = Play((PromptRef("goodbye", "fr"), PromptRef("goodbye", "en")))
    return str(renderer.action(action, 1, 0))


def test_each_language_is_spoken_by_a_voice_that_speaks_it_by_default(tmp_path: Path) -> None:
    assert spoken(render(tmp_path)) == [
        ("Polly.Gabrielle-Neural", "fr-CA"),
        ("Polly.Joanna-Neural", "en-US"),
    ]


def test_voices_and_languages_come_from_the_configuration(tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "twilio": {
                "public_url": PUBLIC,
                "voice_fr": "Google.fr-CA-Neural2-B",
                "voice_en": "",
                "say_language_en": "en-CA",
                "sounds_dir": str(tmp_path / "sounds"),
            }
        }
    )
    assert config.twilio.voice_fr == "Google.fr-CA-Neural2-B"
    built = twilio_options(config, auth_token=lambda: "x")
    renderer = Renderer(built, line_settings())
    body = str(
        renderer.action(Play((PromptRef("goodbye", "fr"), PromptRef("goodbye", "en"))), 1, 0)
    )
    # An empty voice leaves the account's default voice, in the language configured.
    assert spoken(body) == [("Google.fr-CA-Neural2-B", "fr-CA"), (None, "en-CA")]


def test_the_sample_configuration_names_the_default_voices() -> None:
    import tomllib

    sample = Path(__file__).resolve().parents[2] / "config" / "ivr211.sample.toml"
    twilio = tomllib.loads(sample.read_text(encoding="utf-8"))["twilio"]
    defaults = Config().twilio
    assert (twilio["voice_fr"], twilio["say_language_fr"]) == (defaults.voice_fr, "fr-CA")
    assert (twilio["voice_en"], twilio["say_language_en"]) == (defaults.voice_en, "en-US")
