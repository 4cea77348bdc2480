"""Check asterisk_conf/extensions.conf with asterisklint (``make dialplan-lint``).

asterisklint reads the file's siblings too (func_odbc.conf next to it), so the
conf files are copied into a temporary directory and checked there. Its report
lines look like::

    extensions.conf:3 W_WSH_VARSET: expected no horizontal whitespace around equals operator

Every ``E_`` line fails the check, and so does every ``W_`` line not listed in
``ACCEPTED_WARNINGS``: the dialplan is kept free of warnings, so the list is empty.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ACCEPTED_WARNINGS: frozenset[str] = frozenset()
REPORT_LINE = re.compile(r"^\S+:\d+ (?P<code>[EW]_[A-Z0-9_]+):")
DEFAULT_CONF = Path(__file__).resolve().parent.parent / "asterisk_conf" / "extensions.conf"


def asterisklint_path() -> Path:
    """The asterisklint script installed beside this interpreter (the venv's bin/)."""
    return Path(sys.executable).parent / "asterisklint"


def run_asterisklint(extensions_conf: Path) -> tuple[int, str]:
    with tempfile.TemporaryDirectory(prefix="dialplan-lint-") as tmp:
        for conf in extensions_conf.parent.glob("*.conf"):
            shutil.copy2(conf, Path(tmp) / conf.name)
        done = subprocess.run(
            [str(asterisklint_path()), "dialplan-check", extensions_conf.name],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
    return done.returncode, done.stdout + done.stderr


def problems(report: str, accepted: frozenset[str] = ACCEPTED_WARNINGS) -> list[str]:
    """Report lines that fail the check: errors, unaccepted warnings, unparsed lines."""
    bad = []
    for line in report.splitlines():
        if not line.strip():
            continue
        match = REPORT_LINE.match(line)
        if match is None or match["code"] not in accepted:
            bad.append(line)
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extensions_conf", nargs="?", type=Path, default=DEFAULT_CONF)
    args = parser.parse_args(argv)
    conf: Path = args.extensions_conf.resolve()
    if not asterisklint_path().exists():
        print(f"asterisklint not found beside {sys.executable}", file=sys.stderr)
        return 2
    returncode, report = run_asterisklint(conf)
    if report:
        print(report, end="" if report.endswith("\n") else "\n")
    bad = problems(report)
    if bad or (returncode != 0 and not report):
        print(f"{conf.name}: {len(bad)} problem(s) (asterisklint exit {returncode})")
        return 1
    print(f"{conf.name}: asterisklint found nothing to report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
