"""``ivr211 navigator`` (the navigators' accounts, each tied to one phone and queue
member) and ``ivr211 nav`` (a navigator's actions, run by the listener).

An action is a row of the command table (``store.commands``, whose kinds it uses): the
command waits for the listener to pick it up within ``--ttl`` seconds and for its
result within ``--wait`` more; nobody picking it up means it is never sent.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr211.cli.common import PROG, CliError, Commands, Parser, open_engine, open_store
from ivr211.config import Config
from store import commands
from store.db import require_current
from store.navigators import (
    NavigatorError,
    add_navigator,
    list_navigators,
    navigator_by_username,
    set_twilio_address,
)

__all__ = ["add_nav_parsers", "add_navigator_parsers"]


def cmd_navigator_add(args: argparse.Namespace, config: Config) -> int:
    with open_engine(config) as engine:
        require_current(engine)
        try:
            with Session(engine) as session, session.begin():
                nav = add_navigator(
                    session, args.username, args.name or args.username, args.endpoint, args.queue
                )
                print(
                    f"navigator {nav.username}: phone {nav.phone_endpoint}, "
                    f"queue member {nav.queue_interface}"
                )
        except NavigatorError as exc:
            raise CliError(str(exc)) from None
        except IntegrityError:
            raise CliError(
                f"a navigator already uses the name {args.username!r}, the phone "
                f"{args.endpoint!r} or its queue member interface"
            ) from None
    return 0


def cmd_navigator_list(args: argparse.Namespace, config: Config) -> int:
    with open_engine(config) as engine:
        require_current(engine)
        with Session(engine) as session:
            for nav in list_navigators(session):
                state = "" if nav.active else " (inactive)"
                twilio = f"\tTwilio {nav.twilio_address}" if nav.twilio_address else ""
                print(f"{nav.username}\t{nav.phone_endpoint}\t{nav.queue_interface}{state}{twilio}")
    return 0


def cmd_navigator_twilio(args: argparse.Namespace, config: Config) -> int:
    """Where the Twilio back end calls the navigator when they take a call."""
    if bool(args.address) == bool(args.clear):
        raise CliError("give the phone number or SIP address, or --clear")
    with open_engine(config) as engine:
        require_current(engine)
        try:
            with Session(engine) as session, session.begin():
                nav = set_twilio_address(session, args.username, args.address)
                where = nav.twilio_address or "nowhere (no call on Twilio)"
                print(f"navigator {nav.username}: Twilio calls {where}")
        except NavigatorError as exc:
            raise CliError(str(exc)) from None
    return 0


def _submit_and_wait(
    config: Config, args: argparse.Namespace, kind: str, cmd_args: dict[str, Any]
) -> int:
    if args.ttl <= 0:
        raise CliError("--ttl must be positive")
    with open_store(config) as store:
        settings = store.load()
        dest = cmd_args.get("destination")
        if dest is not None and settings.destination(dest) is None:
            known = ", ".join(d.key for d in settings.destinations)
            raise CliError(f"unknown destination {dest!r} (known: {known})")
        with Session(store.engine) as session, session.begin():
            if navigator_by_username(session, cmd_args["user"]) is None:
                raise CliError(f"no navigator {cmd_args['user']!r}")
            command_id = commands.submit(session, kind, cmd_args, args.by, ttl_s=args.ttl)
        result = commands.wait_result(store.engine, command_id, args.ttl + args.wait)
    payload = result.result or {}
    message = payload.get("message", "")
    if result.status == "ok":
        print(message or "done")
        return 0
    if result.status == "expired":
        print(
            f"{PROG}: not done: nobody picked the command up within {args.ttl:g} s "
            "(is `ivr211 listen` running and connected?)",
            file=sys.stderr,
        )
    elif result.status == "error":
        print(f"{PROG}: failed: {message} [{payload.get('code', 'error')}]", file=sys.stderr)
    else:
        print(f"{PROG}: no result yet (command {command_id} is {result.status})", file=sys.stderr)
    return 1


def cmd_nav_queue(args: argparse.Namespace, config: Config) -> int:
    cmd_args: dict[str, Any] = {"user": args.user}
    if getattr(args, "reason", None):
        cmd_args["reason"] = args.reason
    return _submit_and_wait(config, args, commands.PRESENCE_KINDS[args.nav_cmd], cmd_args)


def cmd_nav_transfer(args: argparse.Namespace, config: Config) -> int:
    mode = commands.ATTENDED
    if args.blind or args.three_way:
        mode = commands.BLIND if args.blind else commands.THREE_WAY
    cmd_args = {"user": args.user, "destination": args.destination, "mode": mode}
    return _submit_and_wait(config, args, commands.TRANSFER, cmd_args)


def cmd_nav_cancel(args: argparse.Namespace, config: Config) -> int:
    return _submit_and_wait(config, args, commands.CANCEL, {"user": args.user})


def cmd_nav_referral(args: argparse.Namespace, config: Config) -> int:
    cmd_args = {"user": args.user, "linkedid": args.linkedid, "destination": args.destination}
    return _submit_and_wait(config, args, commands.REFERRAL, cmd_args)


def add_navigator_parsers(cli: Commands) -> None:
    navs = cli.branch(
        cli.root,
        "navigator",
        "Navigator accounts, each tied to one phone and queue member.",
        "n_cmd",
    )
    nadd = cli.leaf(navs, "add", "Create a navigator account.", cmd_navigator_add)
    nadd.add_argument("username")
    nadd.add_argument("--endpoint", required=True, help='the phone, e.g. "PJSIP/nav-alice"')
    nadd.add_argument("--queue", help="queue member interface (default: the phone endpoint)")
    nadd.add_argument("--name", help="display name (default: the username)")
    cli.leaf(navs, "list", "List the navigator accounts.", cmd_navigator_list)
    ntw = cli.leaf(
        navs,
        "twilio",
        "Where the Twilio back end calls the navigator (a phone number or SIP address).",
        cmd_navigator_twilio,
    )
    ntw.add_argument("username")
    ntw.add_argument("address", nargs="?", help='"+14185550101" or "sip:alice@example.org"')
    ntw.add_argument("--clear", action="store_true", help="take no call on Twilio")


def add_nav_parsers(cli: Commands) -> None:
    waits = Parser(add_help=False)
    waits.add_argument(
        "--ttl", type=float, default=10.0, help="seconds the listener has to start it"
    )
    waits.add_argument("--wait", type=float, default=40.0, help="seconds to wait for its result")
    acting = [cli.by, waits]
    nav = cli.branch(cli.root, "nav", "Navigators' actions, run by the listener.", "nav_cmd")
    for name, text in (
        ("login", "Log the navigator in to the queue."),
        ("pause", "Pause the navigator in the queue."),
        ("unpause", "Make the navigator available again."),
        ("logout", "Log the navigator out of the queue."),
    ):
        q = cli.leaf(nav, name, text, cmd_nav_queue, acting)
        q.add_argument("user", help="navigator username")
        if name == "pause":
            q.add_argument("--reason", default="", help="pause reason (queue_log)")
    tr = cli.leaf(
        nav, "transfer", "Warm transfer (default), blind or three-way.", cmd_nav_transfer, acting
    )
    tr.add_argument("user", help="navigator username")
    tr.add_argument("destination", help="destination key (e.g. 911, 811, cps)")
    mode = tr.add_mutually_exclusive_group()
    mode.add_argument("--blind", action="store_true")
    mode.add_argument("--three-way", action="store_true")
    cn = cli.leaf(nav, "cancel", "Cancel a warm transfer in progress.", cmd_nav_cancel, acting)
    cn.add_argument("user", help="navigator username")
    rf = cli.leaf(
        nav, "referral", "Record a referral given without transfer.", cmd_nav_referral, acting
    )
    rf.add_argument("linkedid", help="the call's Linkedid")
    rf.add_argument("destination", help="destination key")
    rf.add_argument("--user", required=True, help="navigator username")
