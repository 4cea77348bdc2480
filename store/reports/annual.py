"""The annual report's "SERVICE D'URGENCE" section and the partner programmes, as
DOMAIN.md lays them out, with numbers formatted for fr_CA by Babel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from babel.numbers import format_decimal
from sqlalchemy.orm import Session

from store.reports.basis import DestinationInfo, Period, destinations
from store.reports.figures import CountRow, counts

#: The annual report's lines, in DOMAIN.md's order, with their printed labels. A group
#: not listed here (say "988" once a centre separates it) is printed after these, with
#: the French label of its destination. Pass another mapping to change the layout.
DEFAULT_REPORT_GROUPS: Mapping[str, str] = {
    "911": "911",
    "crise": "Centre de crise",
    "cps": "Centre de prévention du suicide",
    "811": "811",
    "sosvc": "SOS violence conjugale",
}

ANNUAL_AVEC = "Services d'urgence (avec bascule)*"
ANNUAL_SANS = "Services d'urgence (sans bascule)*"
ANNUAL_FOOTNOTE = (
    "*La « bascule » téléphonique désigne le transfert d'un appel vers un service\n"
    "d'urgence (par exemple, le 911), effectué par les navigateurs ou navigatrices pour\n"
    "assurer une prise en charge rapide et efficace."
)
PARTNERS_TITLE = "Programmes partenaires (transferts directs)"
REPORT_LOCALE = "fr_CA"


@dataclass(frozen=True)
class AnnualLine:
    group: str
    label: str
    count: int


@dataclass(frozen=True)
class AnnualSection:
    period: Period
    avec: tuple[AnnualLine, ...]
    sans: tuple[AnnualLine, ...]
    partners: tuple[AnnualLine, ...]

    @property
    def total_avec(self) -> int:
        return sum(line.count for line in self.avec)

    @property
    def total_sans(self) -> int:
        return sum(line.count for line in self.sans)

    @property
    def total_partners(self) -> int:
        return sum(line.count for line in self.partners)


def format_count(value: int) -> str:
    """1234 -> "1 234" with fr_CA's no-break space, as Babel formats it."""
    return format_decimal(value, locale=REPORT_LOCALE)


def _group_lines(
    totals: Mapping[str, int],
    directory: Mapping[str, DestinationInfo],
    kind: str,
    layout: Mapping[str, str],
) -> tuple[AnnualLine, ...]:
    members: dict[str, list[DestinationInfo]] = {}
    for info in directory.values():
        if info.kind == kind:
            members.setdefault(info.report_group, []).append(info)

    def label(group: str) -> str:
        if group in layout:
            return layout[group]
        own = directory.get(group)
        if own is not None and own.report_group == group:
            return own.label_fr
        return min(members[group], key=lambda i: (i.sort_order, i.key)).label_fr

    def position(group: str) -> tuple[int, int, str]:
        if group in layout:
            return (0, list(layout).index(group), group)
        return (1, min(i.sort_order for i in members[group]), group)

    groups = sorted((g for g in members if totals.get(g, 0) > 0), key=position)
    return tuple(AnnualLine(g, label(g), totals[g]) for g in groups)


def annual_section(
    session: Session,
    period: Period,
    *,
    layout: Mapping[str, str] = DEFAULT_REPORT_GROUPS,
    counted: Sequence[CountRow] | None = None,
) -> AnnualSection:
    """The figures of the annual report's "SERVICE D'URGENCE" section and of the partners,
    from ``counted`` (the period's :func:`counts`) when the caller already has them."""
    directory = destinations(session)
    avec: dict[str, int] = {}
    sans: dict[str, int] = {}
    for row in counts(session, period) if counted is None else counted:
        info = directory.get(row.destination) if row.destination is not None else None
        if info is None:
            continue
        avec[info.report_group] = avec.get(info.report_group, 0) + row.avec
        sans[info.report_group] = sans.get(info.report_group, 0) + row.sans
    return AnnualSection(
        period=period,
        avec=_group_lines(avec, directory, "emergency", layout),
        sans=_group_lines(sans, directory, "emergency", layout),
        partners=_group_lines(avec, directory, "partner", {}),
    )


def _block(title: str, total: int, lines: Sequence[AnnualLine]) -> list[str]:
    return [f"{title} : {format_count(total)}"] + [
        f"  {format_count(line.count)} {line.label}" for line in lines
    ]


def annual_text(section: AnnualSection) -> str:
    """The section exactly as DOMAIN.md lays it out, ready to paste (ends with a newline)."""
    lines = [
        *_block(ANNUAL_AVEC, section.total_avec, section.avec),
        *_block(ANNUAL_SANS, section.total_sans, section.sans),
        ANNUAL_FOOTNOTE,
    ]
    return "\n".join(lines) + "\n"


def partners_text(section: AnnualSection) -> str:
    """The partner programmes, apart: direct transfers per programme."""
    return "\n".join(_block(PARTNERS_TITLE, section.total_partners, section.partners)) + "\n"
