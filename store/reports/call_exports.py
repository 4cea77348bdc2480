"""CSV of every table of the call reports, with the conventions of the transfer exports
(``store.reports.exports``: UTF-8 with a byte order mark, the separator and decimal mark
a spreadsheet in the user's language expects, ISO dates) and through ``store.csvfile``
(no cell runs as a formula: a menu path or a queue member's name is text from outside).
Never a caller's number: these tables hold only counts."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from store import csvfile
from store.reports.calls import CallCount, CallSummary, NavigatorFigures, StaffingHour
from store.reports.exports import BOM, EXCEL_FR, CsvFormat

COUNT_COLUMNS: tuple[str, ...] = ("recus", "offerts", "repondus", "abandonnes", "bloques", "ferme")
NAVIGATOR_COLUMNS: tuple[str, ...] = (
    "navigateur",
    "nom",
    "appels_repondus",
    "conversation_s",
    "apres_appel_s",
    "traitement_s",
    "connecte_s",
    "en_pause_s",
    "occupation",
    "transferts_avec_bascule",
    "references_sans_bascule",
)
STAFFING_COLUMNS: tuple[str, ...] = (
    "heure",
    "jours",
    "appels_offerts",
    "appels_par_heure",
    "appels_repondus",
    "duree_moyenne_traitement_s",
    "navigateurs_necessaires",
    "navigateurs_connectes",
)


def _cell(value: Any, fmt: CsvFormat) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".replace(".", fmt.decimal)
    return value


def table_csv(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: CsvFormat = EXCEL_FR
) -> str:
    out = io.StringIO()
    out.write(BOM)
    writer = csvfile.writer(out, delimiter=fmt.separator)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(value, fmt) for value in row])
    return out.getvalue()


def summary_csv(summary: CallSummary, fmt: CsvFormat = EXCEL_FR) -> str:
    """One row per figure: (indicateur, valeur)."""
    t = summary.thresholds
    rows: list[tuple[str, Any]] = [
        ("appels_recus", summary.received),
        ("appels_ligne_fermee", summary.closed),
        ("appels_mode_secours", summary.fallback),
        ("messages_recherche", summary.research),
        ("appels_offerts_file", summary.offered),
        ("bloques_file_pleine", summary.blocked_full),
        ("bloques_aucun_navigateur", summary.blocked_joinempty),
        ("entres_dans_la_file", summary.entered),
        ("repondus", summary.answered),
        ("abandonnes", summary.abandoned),
        (f"abandons_courts_moins_de_{t.short_abandon_s}_s", summary.short_abandoned),
        ("sortis_delai_maximal", summary.timeout),
        ("sortis_fermeture", summary.closing),
        ("sortis_plus_de_navigateur", summary.leaveempty),
        ("taux_abandon", summary.abandon_rate),
    ]
    for limit, n, level in zip(
        t.service_levels_s, summary.answered_within, summary.service_levels, strict=True
    ):
        rows += [(f"repondus_en_{limit}_s", n), (f"niveau_de_service_{limit}_s", level)]
    rows += [
        ("vitesse_moyenne_de_reponse_s", summary.average_speed_of_answer_s),
        ("attente_mediane_s", summary.median_wait_s),
        ("attente_90e_centile_s", summary.p90_wait_s),
        ("attente_la_plus_longue_s", summary.longest_wait_s),
        ("conversation_s", summary.talk_s),
        ("apres_appel_s", summary.after_call_work_s),
        ("duree_moyenne_traitement_s", summary.average_handle_s),
    ]
    return table_csv(("indicateur", "valeur"), rows, fmt)


def _counts(row: CallCount) -> list[int]:
    return [row.received, row.offered, row.answered, row.abandoned, row.blocked, row.closed]


def days_csv(rows: Iterable[CallCount], fmt: CsvFormat = EXCEL_FR) -> str:
    return table_csv(
        ("date", *COUNT_COLUMNS), ([r.key.isoformat(), *_counts(r)] for r in rows), fmt
    )


def months_csv(rows: Iterable[CallCount], fmt: CsvFormat = EXCEL_FR) -> str:
    return table_csv(
        ("mois", *COUNT_COLUMNS),
        ([f"{r.key[0]:04d}-{r.key[1]:02d}", *_counts(r)] for r in rows),
        fmt,
    )


def heat_csv(rows: Iterable[CallCount], fmt: CsvFormat = EXCEL_FR) -> str:
    """Weekday 1 = Monday (ISO 8601), hour 0-23 local."""
    return table_csv(
        ("jour_semaine", "heure", *COUNT_COLUMNS),
        ([r.key[0] + 1, r.key[1], *_counts(r)] for r in rows),
        fmt,
    )


def languages_csv(rows: Iterable[CallCount], fmt: CsvFormat = EXCEL_FR) -> str:
    return table_csv(("langue", *COUNT_COLUMNS), ([r.key, *_counts(r)] for r in rows), fmt)


def menu_csv(rows: Iterable[tuple[str, int]], fmt: CsvFormat = EXCEL_FR) -> str:
    return table_csv(("parcours", "appels"), rows, fmt)


def closed_csv(rows: Iterable[tuple[str, str, str, int]], fmt: CsvFormat = EXCEL_FR) -> str:
    return table_csv(("etat_ligne", "choix", "destination", "appels"), rows, fmt)


def routes_csv(rows: Iterable[tuple[str, str, int]], fmt: CsvFormat = EXCEL_FR) -> str:
    return table_csv(("acheminement", "sortie_de_file", "appels"), rows, fmt)


def navigators_csv(rows: Iterable[NavigatorFigures], fmt: CsvFormat = EXCEL_FR) -> str:
    return table_csv(
        NAVIGATOR_COLUMNS,
        (
            [
                r.username or "",
                r.display_name,
                r.answered,
                r.talk_s,
                r.after_call_work_s,
                r.handle_s,
                r.logged_in_s,
                r.paused_s,
                r.occupancy,
                r.transfers,
                r.referrals,
            ]
            for r in rows
        ),
        fmt,
    )


def staffing_csv(rows: Iterable[StaffingHour], fmt: CsvFormat = EXCEL_FR) -> str:
    return table_csv(
        STAFFING_COLUMNS,
        (
            [
                r.hour,
                r.days,
                r.offered,
                r.calls_per_hour,
                r.answered,
                r.average_handle_s,
                r.needed,
                r.logged_in,
            ]
            for r in rows
        ),
        fmt,
    )
