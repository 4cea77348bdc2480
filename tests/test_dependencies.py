"""Declared dependency floors keep out releases with known security faults."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]

#: Releases a fresh install must never pick: (package, version, why).
KNOWN_BAD = (("waitress", "3.0.0", "CVE-2024-49768 (request smuggling), CVE-2024-49769 (DoS)"),)


def _requirements(text: str) -> dict[str, Requirement]:
    project = tomllib.loads(text)["project"]
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared.extend(extra)
    return {req.name.lower(): req for req in map(Requirement, declared)}


@pytest.mark.parametrize(("name", "version", "why"), KNOWN_BAD)
def test_known_bad_release_is_excluded(name: str, version: str, why: str) -> None:
    req = _requirements((ROOT / "pyproject.toml").read_text())[name]
    assert not req.specifier.contains(version, prereleases=True), f"{req} admits {version}: {why}"
