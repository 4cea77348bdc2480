"""The one way the project writes CSV: ``writer``, whose every text cell is safe to open
in a spreadsheet.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets (CSV injection: a navigator's name or a
note like ``=HYPERLINK("http://…")`` becomes a link or a command). Such a cell gets a
leading apostrophe, which the spreadsheet shows as text. Numbers (``int``, ``float``) are
written as they are; a number already turned into text (a decimal comma) that starts with
``-`` is guarded like any other text.

Every CSV writer in the project goes through here (tests/storage/test_csv_guard.py
checks that nothing calls ``csv.writer`` anywhere else).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["FORMULA_START", "SafeWriter", "safe_cell", "writer"]

#: What a spreadsheet takes as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _TextOut(Protocol):
    def write(self, text: str, /) -> Any: ...


def safe_cell(value: object) -> object:
    """``value``, with an apostrophe in front when it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeWriter:
    """A ``csv.writer`` whose rows go through ``safe_cell``."""

    def __init__(self, out: _TextOut, *, delimiter: str, lineterminator: str) -> None:
        self._writer = csv.writer(out, delimiter=delimiter, lineterminator=lineterminator)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _TextOut, *, delimiter: str = ",", lineterminator: str = "\r\n") -> SafeWriter:
    """A CSV writer on ``out`` (lines end in CRLF, as RFC 4180 and Excel expect)."""
    return SafeWriter(out, delimiter=delimiter, lineterminator=lineterminator)
