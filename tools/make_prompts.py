"""Generate the line's prompt audio from ivr.prompts.CATALOGUE (``make prompts``).

For each prompt and each of its languages this writes ``<out>/<lang>/211/<name>.wav``
(8000 Hz, mono, 16-bit signed PCM: what Asterisk plays as ``.wav``) and the text
beside it as ``<name>.txt``, so the centre can record a real voice later and drop
the recording in place. Speech is espeak-ng piped into sox. Copy ``<out>/*`` to
``/var/lib/asterisk/sounds/`` (see asterisk_conf/README.md).

A prompt whose .wav exists and whose .txt holds the current text is skipped unless
``--force``:
a recorded voice is never overwritten by accident when the text did not change.

The pieces the flow says the opening hours with (``ivr.hours``: "de", "8 heures", "à",
...) are played one after the other, so their silence is trimmed to a short pause
(``PIECE_PAUSE_S``) instead of espeak-ng's 0.4 s: the hours then sound like one sentence.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ivr.hours import PIECE_NAMES  # noqa: E402
from ivr.prompts import CATALOGUE, SOUND_DIR  # noqa: E402

# espeak-ng voices in Debian's espeak-ng-data (`espeak-ng --voices=fr`): "fr-fr" is
# the built-in French voice (the fr-ca voices need mbrola, not installed).
VOICES: Mapping[str, str] = {"fr": "fr-fr", "en": "en-us"}
WORDS_PER_MINUTE = 150
SAMPLE_RATE = 8000
PIECE_PAUSE_S = 0.12
# sox: cut the silence at the start, then (reversed) at the end, then add the pause.
_TRIM = ["silence", "1", "0.01", "0.5%", "reverse", "silence", "1", "0.01", "0.5%", "reverse"]


class PromptError(Exception):
    """A prompt could not be generated (missing tool, unknown language, tool failure)."""


@dataclass(frozen=True)
class Generated:
    name: str
    language: str
    wav: Path
    skipped: bool


def _up_to_date(wav: Path, txt: Path, text: str) -> bool:
    if not (wav.exists() and txt.exists()) or wav.stat().st_size == 0:
        return False
    return txt.read_text(encoding="utf-8") == text


def synthesise(text: str, language: str, wav: Path, *, trim: bool = False) -> None:
    """espeak-ng (WAV on stdout) | sox -> 8 kHz mono 16-bit signed PCM WAV; with
    ``trim``, the silence around the speech becomes a ``PIECE_PAUSE_S`` pause."""
    voice = VOICES.get(language)
    if voice is None:
        raise PromptError(f"no espeak-ng voice for language {language!r}")
    tmp = wav.with_name(wav.name + ".part")
    espeak_cmd = ["espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "--stdout", text]
    sox_cmd = ["sox", "-V1", "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16"]
    sox_cmd += ["-e", "signed-integer", "-t", "wav", str(tmp)]
    if trim:
        sox_cmd += [*_TRIM, "pad", "0", str(PIECE_PAUSE_S)]
    try:
        with subprocess.Popen(espeak_cmd, stdout=subprocess.PIPE) as espeak:
            sox = subprocess.run(sox_cmd, stdin=espeak.stdout, capture_output=True, check=False)
            if espeak.stdout is not None:
                espeak.stdout.close()
            espeak_rc = espeak.wait()
    except FileNotFoundError as exc:
        raise PromptError(f"{exc.filename} is not installed (make system-test-deps)") from exc
    if espeak_rc != 0 or sox.returncode != 0:
        tmp.unlink(missing_ok=True)
        detail = sox.stderr.decode(errors="replace").strip()
        raise PromptError(
            f"espeak-ng/sox failed for {wav} (rc {espeak_rc}/{sox.returncode}) {detail}"
        )
    tmp.replace(wav)


def generate(
    out: Path,
    catalogue: Mapping[str, Mapping[Any, str]] = CATALOGUE,
    *,
    names: Iterable[str] | None = None,
    force: bool = False,
) -> list[Generated]:
    """Write every (or the named) prompt of the catalogue under ``out``."""
    wanted = set(catalogue) if names is None else set(names)
    unknown = wanted - set(catalogue)
    if unknown:
        raise PromptError(f"not in the catalogue: {', '.join(sorted(unknown))}")
    done = []
    for name in sorted(wanted):
        for language, text in sorted(catalogue[name].items()):
            folder = out / language / SOUND_DIR
            folder.mkdir(parents=True, exist_ok=True)
            wav, txt = folder / f"{name}.wav", folder / f"{name}.txt"
            if not force and _up_to_date(wav, txt, text):
                done.append(Generated(name, language, wav, skipped=True))
                continue
            synthesise(text, language, wav, trim=name in PIECE_NAMES)
            txt.write_text(text, encoding="utf-8")
            done.append(Generated(name, language, wav, skipped=False))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "sounds" / "generated")
    parser.add_argument("--force", action="store_true", help="regenerate up-to-date files too")
    parser.add_argument("names", nargs="*", help="prompt names (default: all)")
    args = parser.parse_args(argv)
    try:
        results = generate(args.out, names=args.names or None, force=args.force)
    except PromptError as exc:
        print(f"make_prompts: {exc}", file=sys.stderr)
        return 1
    made = sum(1 for r in results if not r.skipped)
    print(f"{made} prompt file(s) written, {len(results) - made} up to date, in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
