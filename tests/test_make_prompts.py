"""tools/make_prompts.py writes 8 kHz mono 16-bit WAV prompts that are not silent."""

from __future__ import annotations

import array
import importlib.util
import sys
import wave
from pathlib import Path
from types import ModuleType

import pytest

from ivr.prompts import CATALOGUE

TOOL = Path(__file__).resolve().parent.parent / "tools" / "make_prompts.py"


@pytest.fixture(scope="module")
def make_prompts() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_prompts", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_prompts"] = module
    spec.loader.exec_module(module)
    return module


def peak(path: Path) -> tuple[int, int, int, int, int]:
    with wave.open(str(path), "rb") as wav:
        params = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes())
        samples = array.array("h", wav.readframes(wav.getnframes()))
    return (*params, max((abs(s) for s in samples), default=0))


def test_generates_each_language_as_asterisk_wav_with_its_text(
    make_prompts: ModuleType, tmp_path: Path
) -> None:
    results = make_prompts.generate(tmp_path, names=["greeting", "for-english"])
    made = {(r.name, r.language) for r in results}
    assert made == {("greeting", "fr"), ("greeting", "en"), ("for-english", "en")}
    for name, language in made:
        wav = tmp_path / language / "211" / f"{name}.wav"
        rate, channels, width, frames, loudest = peak(wav)
        assert (rate, channels, width) == (8000, 1, 2)
        assert frames > 8000 // 2, "less than half a second of audio"
        assert loudest > 1000, "the prompt is silent"
        text = (tmp_path / language / "211" / f"{name}.txt").read_text(encoding="utf-8")
        assert text == CATALOGUE[name][language]
    assert not (tmp_path / "fr" / "211" / "for-english.wav").exists()


def silence_at_the_end(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        samples = array.array("h", wav.readframes(wav.getnframes()))
    last = max(i for i, s in enumerate(samples) if abs(s) > 500)
    return (len(samples) - last) / 8000


def test_pieces_of_the_hours_end_with_a_short_pause(
    make_prompts: ModuleType, tmp_path: Path
) -> None:
    """The hours are said piece by piece ("de" "8 heures" "à" "19 heures"): each piece
    ends with a short pause, a whole prompt with espeak-ng's own."""
    make_prompts.generate(tmp_path, names=["hour-8", "time-from", "goodbye"])
    for piece in ("fr/211/hour-8.wav", "fr/211/time-from.wav", "en/211/hour-8.wav"):
        rate, channels, width, _, loudest = peak(tmp_path / piece)
        assert (rate, channels, width) == (8000, 1, 2) and loudest > 1000
        assert silence_at_the_end(tmp_path / piece) < 0.2
    assert silence_at_the_end(tmp_path / "fr" / "211" / "goodbye.wav") > 0.3


def test_up_to_date_prompts_are_kept_unless_forced(
    make_prompts: ModuleType, tmp_path: Path
) -> None:
    first = make_prompts.generate(tmp_path, names=["goodbye"])
    assert [r.skipped for r in first] == [False, False]
    recorded = tmp_path / "fr" / "211" / "goodbye.wav"
    stamp = recorded.stat().st_mtime_ns
    again = make_prompts.generate(tmp_path, names=["goodbye"])
    assert [r.skipped for r in again] == [True, True]
    assert recorded.stat().st_mtime_ns == stamp
    forced = make_prompts.generate(tmp_path, names=["goodbye"], force=True)
    assert [r.skipped for r in forced] == [False, False]


def test_a_changed_text_is_regenerated(make_prompts: ModuleType, tmp_path: Path) -> None:
    catalogue = {"goodbye": {"fr": "Au revoir."}}
    make_prompts.generate(tmp_path, catalogue, names=["goodbye"])
    changed = {"goodbye": {"fr": "Merci, au revoir."}}
    results = make_prompts.generate(tmp_path, changed, names=["goodbye"])
    assert [r.skipped for r in results] == [False]
    txt = (tmp_path / "fr" / "211" / "goodbye.txt").read_text(encoding="utf-8")
    assert txt == "Merci, au revoir."


def test_unknown_prompt_names_are_refused(make_prompts: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(make_prompts.PromptError, match="no-such-prompt"):
        make_prompts.generate(tmp_path, names=["no-such-prompt"])
