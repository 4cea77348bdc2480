"""The layering contract (.importlinter) holds, and it bites: the same check on a copy
of the code with one upward import added fails and names the floors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "ivr",
    "store",
    "research",
    "agi_scripts",
    "listener",
    "dashboard",
    "twilio_line",
    "ivr211",
)
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(ROOT / ".importlinter")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
    )


def copy_tree(target: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return target


def test_the_code_keeps_its_floors(tmp_path: Path) -> None:
    result = lint_imports(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    with (tree / "store" / "db.py").open("a", encoding="utf-8") as fh:
        fh.write("\nimport ivr211.config  # noqa: E402, F401 (an import from the floor above)\n")
    with (tree / "listener" / "ami.py").open("a", encoding="utf-8") as fh:
        fh.write("\nimport dashboard  # noqa: E402, F401 (an adapter importing another)\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "store is not allowed to import ivr211" in result.stdout
    assert "- store.db -> ivr211.config" in result.stdout
    assert "listener is not allowed to import dashboard" in result.stdout
    assert "Contracts: 0 kept, 2 broken." in result.stdout
