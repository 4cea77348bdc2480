"""The annual report's LANGUES block: answered calls per language, as percentages,
ready to paste.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from store.reports.basis import Period
from store.reports.call_counts import CallCount, calls_by_language

__all__ = [
    "LANGUAGE_LABELS_FR",
    "LANGUES_FOOTNOTE",
    "LANGUES_TITLE",
    "LanguageLine",
    "format_percent",
    "language_lines",
    "languages_section",
    "languages_text",
]


#: Calls per language, the annual report's LANGUES block: labels in its order.
LANGUAGE_LABELS_FR: Mapping[str, str] = {
    "fr": "Français",
    "en": "Anglais",
    "interpreter": "Autres",
}
LANGUES_TITLE = "LANGUES"
LANGUES_FOOTNOTE = (
    "*Part des appels répondus par les navigateurs ou navigatrices, selon la langue\n"
    "choisie par l'appelant au menu ; « Autres » : appels servis avec un interprète."
)


@dataclass(frozen=True)
class LanguageLine:
    language: str
    label: str
    answered: int
    percent: float


def languages_section(
    session: Session, period: Period, *, raw: bool = False
) -> tuple[LanguageLine, ...]:
    """Answered calls per language, as percentages of the answered calls whose language
    is known (French, English, "Autres" = the interpreter path)."""
    return language_lines(calls_by_language(session, period, raw=raw))


def language_lines(rows: Iterable[CallCount]) -> tuple[LanguageLine, ...]:
    found = {row.key: row.answered for row in rows}
    total = sum(found.get(k, 0) for k in LANGUAGE_LABELS_FR)
    return tuple(
        LanguageLine(k, label, found.get(k, 0), 100.0 * found.get(k, 0) / total if total else 0.0)
        for k, label in LANGUAGE_LABELS_FR.items()
    )


def format_percent(value: float) -> str:
    """99.3634 -> "99,36 %" (fr_CA: decimal comma, no-break space before %)."""
    from babel.numbers import format_decimal

    number = format_decimal(round(value, 2), format="0.00", locale="fr_CA")
    return f"{number}\u00a0%"


def languages_text(lines: Iterable[LanguageLine]) -> str:
    """The LANGUES block ready to paste, in the form of the annual report's sections."""
    out = [f"{LANGUES_TITLE}*"]
    out += [f"  {format_percent(line.percent)} {line.label}" for line in lines]
    out.append(LANGUES_FOOTNOTE)
    return "\n".join(out) + "\n"
