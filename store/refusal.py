"""A refused change, said twice: in English for the logs and the CLI (``str(exc)``), and
as a ``code`` with its ``params`` for a page to say in its reader's language.

The storage floor holds no translations (it is below the dashboard and imports no
Flask-Babel); ``dashboard/refusals.py`` maps each code to its French text, which the
dashboard's catalogue translates. A refusal raised without a code still reads in
English, so a new one is never lost, and a test (tests/dashboard/test_refusals.py)
finds every refusal raised in ``store/`` without a code the dashboard knows.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Refusal"]


class Refusal(Exception):
    """``Refusal("short code '12a' must be 1 to 16 digits", "short_code_format",
    code="12a")``: ``code`` names the refusal, ``params`` the values its sentence
    repeats (what the user typed, a destination's key, a date)."""

    code: str
    params: Mapping[str, object]

    def __init__(self, message: str, refusal: str = "", /, **params: object) -> None:
        super().__init__(message)
        self.code = refusal
        self.params = params
