"""logger.conf: queue_log on and to its file, and the log lines the operations guide
tells an administrator to look for actually written to a file."""

from __future__ import annotations

import re
from pathlib import Path

from .confparse import CONF_DIR, load

OPERATIONS = CONF_DIR.parent / "docs" / "operations.md"
SAMPLE = CONF_DIR.parent / "config" / "ivr211.sample.toml"


def test_queue_log_is_written_to_the_file_the_readers_and_the_retention_job_use() -> None:
    general = load("logger.conf").section("general")
    assert general.get("queue_log") == "yes"
    assert general.get("queue_log_to_file") == "yes"
    name = general.get("queue_log_name")
    assert name == "queue_log"
    sample = SAMPLE.read_text(encoding="utf-8")
    assert f'queue_log_path = "/var/log/asterisk/{name}"' in sample
    assert f'queue_log_paths = ["/var/log/asterisk/{name}"]' in sample


def verbose_level(levels: str) -> int:
    """The verbose level a log channel writes (``verbose(1)``; ``verbose`` alone follows
    the core's level, counted 0 here: nothing is sure to be written)."""
    match = re.search(r"\bverbose\((\d+)\)", levels)
    return int(match[1]) if match else 0


def test_every_dialplan_line_the_operations_guide_quotes_reaches_a_log_file() -> None:
    files = {
        name: levels
        for name, levels in load("logger.conf").section("logfiles").entries
        if name != "console"
    }
    assert files, "no log file at all"
    guide = OPERATIONS.read_text(encoding="utf-8")
    dialplan = [v for s in load("extensions.conf").sections for _, v in s.entries]
    needed = []
    for line in dialplan:
        match = re.search(r"Verbose\((\d+),211: ([^$]+)", line)
        if match and f"`{match[2].strip()}" in guide:
            needed.append(int(match[1]))
    assert needed, "the guide quotes no line of the dialplan"
    assert any(verbose_level(levels) >= max(needed) for levels in files.values())
    for levels in files.values():
        assert {"notice", "warning", "error"} <= {
            part.split("(")[0].strip() for part in levels.split(",")
        }


def test_the_file_logs_stop_short_of_the_steps_that_print_callers_numbers() -> None:
    dialplan = [v for s in load("extensions.conf").sections for _, v in s.entries]
    assert any("CALLERID(num)" in line for line in dialplan if line.startswith("s,1,NoOp("))
    # NoOp and every dialplan step are logged at verbose level 3 ("Executing [...]")
    for name, levels in load("logger.conf").section("logfiles").entries:
        assert verbose_level(levels) < 3, name
        assert not Path(name).is_absolute()
