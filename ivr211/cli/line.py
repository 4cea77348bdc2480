"""``ivr211 line``, ``ivr211 settings`` and ``ivr211 config``: the line now (open or
closed, and why; the day/night override; exceptional closures), its stored settings,
and the deployment's configuration file.

Times on the command line are ISO 8601; one without an offset is the line's local time
(``LineSettings.zone``), and so are the times printed.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from ivr import settings as s
from ivr.schedule import compute_state
from ivr211.cli.common import CliError, Commands, instant, local_time, open_store
from ivr211.config import Config, ConfigError
from store import linesettings as ls
from store.db import safe_url

__all__ = ["add_parsers"]


def cmd_line_status(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        zone = store.load().zone
        at = instant("--at", args.at, zone) if args.at else datetime.now(UTC)
        settings = store.load(now=at)
        with store.change() as session:
            to_fill = ls.numbers_to_fill(session)
            to_verify = ls.unverified_numbers(session)
    state = compute_state(settings.schedule, at)
    print(f"state: {'open' if state.is_open else 'closed'}")
    print(f"reason: {state.reason}")
    print(f"detail: {state.detail}")
    until = local_time(state.until, zone) if state.until else "not known (or until lifted)"
    print(f"until: {until}")
    if state.holiday_name:
        print(f"holiday: {state.holiday_name}")
    print(f"at: {local_time(at, zone)}")
    print(f"settings version: {settings.version}")
    _print_numbers("to fill in", [(k, t, f"(placeholder {n})" if n else "") for k, t, n in to_fill])
    _print_numbers("to verify", to_verify)
    return 0


def _print_numbers(title: str, rows: list[tuple[str, str, str]]) -> None:
    """One line per destination: ``to fill in (crise): capitale-nationale, ...`` (a
    transfer there fails until an administrator enters the number) or ``to verify (911):
    capitale-nationale 911, ...`` (it dials, but nobody has checked it with the centre)."""
    if not rows:
        print(f"{title}: nothing")
    by_key: dict[str, list[str]] = {}
    for key, territory, number in rows:
        by_key.setdefault(key, []).append(f"{territory} {number}".strip())
    for key, items in by_key.items():
        print(f"{title} ({key}): {', '.join(items)}")


def cmd_line_override(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        zone = store.load().zone
        mode: s.OverrideMode | None = None
        if args.mode == "open":
            mode = "open"
        elif args.mode == "closed":
            mode = "closed"
        elif args.until or args.reason:
            raise CliError("line override clear: --until and --reason apply to open/closed")
        if args.exceptional and mode != "closed":
            raise CliError("line override: --exceptional applies to closed only")
        until = instant("--until", args.until, zone) if args.until else None
        with store.change() as session:
            version = ls.set_override(
                session, mode, until, args.reason or "", args.by, exceptional=args.exceptional
            )
    if mode is None:
        print(f"override cleared (settings version {version})")
    else:
        end = local_time(until, zone) if until else "lifted"
        kind = " (exceptional closure)" if args.exceptional else ""
        print(f"override: forced {mode}{kind} until {end} (settings version {version})")
    return 0


def cmd_closure_add(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        zone = store.load().zone
        starts = instant("--start", args.start, zone)
        ends = instant("--end", args.end, zone)
        with store.change() as session:
            closure_id = ls.add_closure(session, starts, ends, args.reason, args.by)
    print(f"closure {closure_id} added: {local_time(starts, zone)} -> {local_time(ends, zone)}")
    return 0


def cmd_closure_list(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        zone = store.load().zone
        with store.change() as session:
            rows = ls.list_closures(session, ending_after=None if args.all else datetime.now(UTC))
    if not rows:
        print("no closures" if args.all else "no current or coming closures")
    for row in rows:
        print(
            f"{row.id}\t{local_time(row.starts, zone)}\t{local_time(row.ends, zone)}"
            f"\t{row.reason}\t(by {row.created_by})"
        )
    return 0


def cmd_closure_remove(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store, store.change() as session:
        ls.remove_closure(session, args.id, args.by)
    print(f"closure {args.id} removed")
    return 0


def cmd_settings_show(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        settings = store.load()
        with store.change() as session:
            unverified = ls.unverified_numbers(session)
            to_fill = ls.numbers_to_fill(session)
    view = dict(ls.describe(settings))
    view["numbers_to_fill"] = [f"{k} {t} {n}".strip() for k, t, n in to_fill]
    view["numbers_to_verify"] = [f"{k} {t} {n}" for k, t, n in unverified]
    if args.json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return 0
    _print_tree(view)
    return 0


def _print_tree(value: Any, indent: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                print(f"{indent}{key}:")
                _print_tree(item, indent + "  ")
            else:
                print(f"{indent}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                first, *rest = item.items()
                print(f"{indent}- {first[0]}: {_scalar(first[1])}")
                _print_tree(dict(rest), indent + "  ")
            else:
                print(f"{indent}- {_scalar(item)}")


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def cmd_config_check(args: argparse.Namespace, config: Config) -> int:
    data = config.model_dump(mode="json")
    data["database"]["url"] = safe_url(config.database.url)
    source = config.source or "defaults only (no file, no $IVR211_CONFIG)"
    print(f"# configuration: {source}")
    for section, values in data.items():
        print(f"[{section}]")
        for key, value in values.items():
            if value is not None:
                print(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    try:
        config.ami.secret()
        secret_state = "present"
    except ConfigError as exc:
        secret_state = f"MISSING ({exc})"
    print(f"# AMI secret from {config.ami.secret_source()}: {secret_state}")
    print("# configuration OK")
    return 0


def add_parsers(cli: Commands) -> None:
    line = cli.branch(
        cli.root, "line", "The line now: status, override, exceptional closures.", "line_cmd"
    )
    status = cli.leaf(
        line,
        "status",
        "Say whether the line is open or closed, and why (now or --at).",
        cmd_line_status,
    )
    status.add_argument("--at", metavar="ISO8601", help="another instant (local if no offset)")
    override = cli.leaf(
        line,
        "override",
        "Force the line open or closed (the day/night switch), or clear the override.",
        cmd_line_override,
        parents=[cli.by],
    )
    override.add_argument("mode", choices=["open", "closed", "clear"])
    override.add_argument(
        "--until", metavar="ISO8601", help="end of the override (default: lifted by hand)"
    )
    override.add_argument("--reason", default="", help="why (shown in status and to the team)")
    override.add_argument(
        "--exceptional",
        action="store_true",
        help="closed for an exceptional reason (storm, outage): callers hear that the line "
        "is exceptionally closed; without it a forced closure is the night switch and "
        "callers hear the opening hours",
    )

    closure = cli.branch(
        line, "closure", "Exceptional closures (storm, team meeting).", "closure_cmd"
    )
    add = cli.leaf(
        closure, "add", "Add an exceptional closure [start, end).", cmd_closure_add, [cli.by]
    )
    add.add_argument("--start", required=True, metavar="ISO8601", help="local if no offset")
    add.add_argument("--end", required=True, metavar="ISO8601", help="local if no offset")
    add.add_argument("--reason", required=True, help="why the line is closed")
    lst = cli.leaf(closure, "list", "List current and coming closures.", cmd_closure_list)
    lst.add_argument("--all", action="store_true", help="include past closures")
    rm = cli.leaf(closure, "remove", "Remove a closure by id.", cmd_closure_remove, [cli.by])
    rm.add_argument("id", type=int, help="closure id (from `line closure list`)")

    sett = cli.branch(cli.root, "settings", "Line settings stored in the database.", "settings_cmd")
    show = cli.leaf(sett, "show", "Print the effective line settings.", cmd_settings_show)
    show.add_argument("--json", action="store_true", help="print JSON")

    conf = cli.branch(cli.root, "config", "The deployment configuration file.", "config_cmd")
    cli.leaf(conf, "check", "Load and print the configuration, secrets masked.", cmd_config_check)
