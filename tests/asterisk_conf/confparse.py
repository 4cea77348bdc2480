"""A small reader for Asterisk's configuration format, enough for asterisk_conf/.

Asterisk's config files are ``[section]`` headers (optionally ``[name](!)`` for a
template, ``[name](template)`` to inherit one, ``[name](+)`` to extend an earlier
section) followed by ``key = value`` or ``key => value`` lines; ``;`` starts a
comment unless escaped as ``\\;``; ``#include "file"`` pulls in another file.
Several sections may share a name (pjsip.conf: an endpoint, an aor and an identify
all called ``trunk``), so a file is a list of sections, not a dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[2] / "asterisk_conf"

_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\](?:\((?P<options>[^)]*)\))?$")
_ENTRY = re.compile(r"^(?P<key>[^=]+?)\s*=>?\s*(?P<value>.*)$")


class ConfError(Exception):
    """A line the reader cannot place."""


@dataclass
class Section:
    name: str
    options: tuple[str, ...] = ()
    entries: list[tuple[str, str]] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)

    @property
    def is_template(self) -> bool:
        return "!" in self.options

    @property
    def templates(self) -> tuple[str, ...]:
        return tuple(opt for opt in self.options if opt not in ("!", "+"))

    def get_all(self, key: str) -> list[str]:
        return [value for k, value in self.entries if k == key]

    def get(self, key: str) -> str | None:
        values = self.get_all(key)
        return values[-1] if values else None


@dataclass
class ConfFile:
    path: Path
    sections: list[Section]
    top_includes: list[str]

    def named(self, name: str) -> list[Section]:
        return [s for s in self.sections if s.name == name]

    def section(self, name: str) -> Section:
        found = self.named(name)
        if len(found) != 1:
            raise KeyError(f"{self.path.name}: {len(found)} sections named [{name}]")
        return found[0]

    def resolved(self, section: Section) -> dict[str, list[str]]:
        """The section's keys with those of its templates (templates first)."""
        values: dict[str, list[str]] = {}
        for template in section.templates:
            parents = [s for s in self.sections if s.name == template and s.is_template]
            if len(parents) != 1:
                raise ConfError(f"{self.path.name}: template ({template}) not found once")
            for key, vals in self.resolved(parents[0]).items():
                values.setdefault(key, []).extend(vals)
        for key, value in section.entries:
            values.setdefault(key, []).append(value)
        return values


def strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if char == ";":
            break
        out.append(char)
        i += 1
    return "".join(out).strip()


def parse_text(text: str, path: Path) -> ConfFile:
    sections: list[Section] = []
    top_includes: list[str] = []
    current: Section | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = strip_comment(raw)
        if not line:
            continue
        if line.startswith("#"):
            directive, _, arg = line.partition(" ")
            if directive not in ("#include", "#tryinclude"):
                raise ConfError(f"{path.name}:{number}: unknown directive {directive}")
            target = arg.strip().strip('"')
            (current.includes if current else top_includes).append(target)
            continue
        header = _SECTION.match(line)
        if header:
            options = tuple(o.strip() for o in (header["options"] or "").split(",") if o.strip())
            current = Section(header["name"].strip(), options)
            sections.append(current)
            continue
        entry = _ENTRY.match(line)
        if entry is None or current is None:
            raise ConfError(f"{path.name}:{number}: cannot read {raw!r}")
        current.entries.append((entry["key"].strip(), entry["value"].strip()))
    return ConfFile(path, sections, top_includes)


def load(name: str, conf_dir: Path = CONF_DIR) -> ConfFile:
    path = conf_dir / name
    return parse_text(path.read_text(encoding="utf-8"), path)
