"""``ivr211 retention run``, ``ivr211 privacy export`` and ``ivr211 notify test``.

``retention run`` is meant for a daily timer (systemd, cron): it exits 1 when something
could not be purged (an unreadable file, a failed reopen command), so the timer's
failure shows. ``notify test`` sends the notification text once over every configured
channel, to check the SMTP relay and the Twilio account before the first real message.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from ivr211.cli.common import CliError, Commands, open_engine
from ivr211.config import Config
from ivr211.retention import RetentionError, export_caller, run_retention
from store.db import require_current

__all__ = ["add_parsers"]


def cmd_retention_run(args: argparse.Namespace, config: Config) -> int:
    with open_engine(config) as engine:
        require_current(engine)
        report = run_retention(engine, config, datetime.now(UTC), dry_run=args.dry_run)
    for line in report.lines():
        print(line)
    return 1 if report.problems else 0


def cmd_privacy_export(args: argparse.Namespace, config: Config) -> int:
    with open_engine(config) as engine:
        require_current(engine)
        try:
            data = export_caller(engine, args.number, user=args.by, now=datetime.now(UTC))
        except RetentionError as exc:
            raise CliError(str(exc)) from None
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        with open(args.output, "x", encoding="utf-8") as out:
            out.write(text)
        print(
            f"{args.output}: {len(data['voice_messages'])} messages,"
            f" {len(data['transfer_records'])} transfer records, {len(data['calls'])} calls"
        )
    return 0


def cmd_notify_test(args: argparse.Namespace, config: Config) -> int:
    # Imported here, not above: these load twilio and requests, which only this command
    # (and a notification) needs; the other commands work whatever state they are in.
    from ivr211.notify_options import notify_options
    from research.notify import Notifier, SettingError

    notifier = Notifier(notify_options(config.notify))
    if not notifier.channels:
        print("notify: no channel configured ([notify] email_to, sms_to)")
        return 1
    try:
        deliveries = notifier.notify("test")
    except SettingError as exc:
        raise CliError(str(exc)) from None
    for d in deliveries:
        outcome = "sent" if d.ok else f"FAILED after {d.attempts} tries: {d.error}"
        print(f"{d.channel} to {', '.join(d.recipients)}: {outcome}")
    return 0 if all(d.ok for d in deliveries) else 1


def add_parsers(cli: Commands) -> None:
    ret = cli.branch(
        cli.root, "retention", "Purge personal data past its retention period.", "ret_cmd"
    )
    run = cli.leaf(
        ret,
        "run",
        "Purge research messages, caller numbers of transfer records, and CDR/CEL/"
        "queue_log/log lines older than their period ([retention]); each purge is audited.",
        cmd_retention_run,
    )
    run.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    priv = cli.branch(cli.root, "privacy", "Requests about one person's data.", "privacy_cmd")
    exp = cli.leaf(
        priv,
        "export",
        "Print one caller's data as JSON (messages' metadata and notes, transfer records); "
        "the export is audited.",
        cmd_privacy_export,
        [cli.by],
    )
    exp.add_argument("--number", required=True, help="the caller's phone number")
    exp.add_argument("--output", help="write to this new file instead of stdout")
    notify = cli.branch(cli.root, "notify", "Notifications to the research team.", "notify_cmd")
    cli.leaf(
        notify,
        "test",
        "Send the new-message notification once over every channel ([notify]).",
        cmd_notify_test,
    )
