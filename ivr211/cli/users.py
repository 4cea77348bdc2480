"""``ivr211 user``: the dashboard's accounts (add, list, passwd, roles, disable, enable,
unlock).

An account holds one or several roles: ``--role manager --role admin`` or
``--role manager,admin``; the research role is held alone (``store.accounts.check_roles``).
``roles NAME --role ...`` gives an existing account exactly those roles.

``unlock NAME`` lifts the login lock of a user name, ``unlock --address ADDR`` that of a
client address; ``list`` shows the locks running.

A password is asked twice on the terminal, or read from the first line of stdin with
``--password-stdin``; it is checked (``store.accounts.check_password_strength``) before
anything is written.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ivr211.cli.common import CliError, Commands, Parser, open_engine
from ivr211.config import Config
from ivr211.wiring import account_change_hook
from store.accounts import (
    LANGUAGES,
    ROLES,
    AccountError,
    check_password_strength,
    check_roles,
    create_user,
    list_users,
    roles_text,
    set_user_active,
    user_by_username,
)
from store.db import require_current
from store.login_throttle import locks, unlock, unlock_address
from store.navigators import navigator_by_username
from store.research_access import (
    AccountChange,
    change_roles,
    record_research_account_created,
    reset_password,
)

__all__ = ["add_parsers"]


def _read_new_password(args: argparse.Namespace, username: str) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise CliError("no terminal to ask the password: use --password-stdin")
        password = getpass.getpass(f"password for {username}: ")
        again = getpass.getpass("the same password again: ")
        if password != again:
            raise CliError("the two passwords differ")
    try:
        check_password_strength(password, username)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    return password


def _operator() -> str:
    """Who runs the command, as the audit log names them: the system account."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _tell_research_team(config: Config, change: AccountChange) -> None:
    """A research account was given a new password or created: the audit row is written;
    tell the team ([notify]) and wait for the notice to go."""
    if not change.audited:
        return
    hook = account_change_hook(config)
    if hook is None:
        print("research team not told: no [notify] channel (the change is on its audit page)")
        return
    thread = hook(change)
    if isinstance(thread, threading.Thread):
        thread.join()
    print("research team told ([notify])")


@contextmanager
def _accounts_session(config: Config) -> Iterator[Session]:
    with open_engine(config) as engine:
        require_current(engine)
        try:
            with Session(engine) as session, session.begin():
                yield session
        except AccountError as exc:
            raise CliError(str(exc)) from None


def _roles(args: argparse.Namespace) -> frozenset[str]:
    """The ``--role`` options, each a role or a comma list, as one checked set."""
    chosen = {r.strip() for given in args.role for r in given.split(",") if r.strip()}
    try:
        return check_roles(chosen)
    except AccountError as exc:
        raise CliError(f"{exc} (roles: {', '.join(ROLES)})") from None


def cmd_user_add(args: argparse.Namespace, config: Config) -> int:
    roles = _roles(args)
    if args.navigator and "navigator" not in roles:
        raise CliError("--navigator applies to --role navigator only")
    password = _read_new_password(args, args.username)
    with _accounts_session(config) as session:
        navigator_id = None
        if args.navigator:
            nav = navigator_by_username(session, args.navigator)
            if nav is None:
                raise CliError(
                    f"no navigator {args.navigator!r} (create it with `ivr211 navigator add`)"
                )
            navigator_id = nav.id
        user = create_user(
            session,
            args.username,
            password,
            roles,
            display_name=args.name or "",
            language=args.language,
            navigator_id=navigator_id,
        )
        change = record_research_account_created(
            session, user, by=_operator(), by_role="cli", at=datetime.now(UTC)
        )
        tied = f", navigator {args.navigator}" if args.navigator else ""
        print(f"user {user.username} created: {_roles_words(user.roles)}{tied}")
    _tell_research_team(config, change)
    return 0


def cmd_user_list(args: argparse.Namespace, config: Config) -> int:
    now = datetime.now(UTC)
    with _accounts_session(config) as session:
        users = list_users(session)
        if not users:
            print("no users: create the first admin with `ivr211 user add NAME --role admin`")
        running = locks(session, now)
        names = {lock.key: lock.until for lock in running if lock.scope == "user"}
        for user in users:
            state = "active" if user.active else "disabled"
            if user.username in names:
                state += f", locked until {names[user.username].isoformat(timespec='seconds')}"
            print(f"{user.username}\t{roles_text(user.roles)}\t{user.display_name}\t{state}")
        for lock in running:
            if lock.scope == "address":
                until = lock.until.isoformat(timespec="seconds")
                print(f"address {lock.key} locked until {until} (`ivr211 user unlock --address`)")
    return 0


def cmd_user_passwd(args: argparse.Namespace, config: Config) -> int:
    with _accounts_session(config) as session:
        if user_by_username(session, args.username) is None:
            raise CliError(f"no user {args.username!r}")
    password = _read_new_password(args, args.username)
    with _accounts_session(config) as session:
        change = reset_password(
            session, args.username, password, by=_operator(), by_role="cli", at=datetime.now(UTC)
        )
    print(f"password of {args.username} changed; its other sessions are closed")
    _tell_research_team(config, change)
    return 0


def _roles_words(roles: frozenset[str]) -> str:
    return f"{'roles' if len(roles) > 1 else 'role'} {', '.join(r for r in ROLES if r in roles)}"


def cmd_user_roles(args: argparse.Namespace, config: Config) -> int:
    roles = _roles(args)
    with _accounts_session(config) as session:
        if user_by_username(session, args.username) is None:
            raise CliError(f"no user {args.username!r}")
        change = change_roles(
            session, args.username, roles, by=_operator(), by_role="cli", at=datetime.now(UTC)
        )
    print(f"user {change.account}: {_roles_words(roles)}")
    _tell_research_team(config, change)
    return 0


def cmd_user_disable(args: argparse.Namespace, config: Config) -> int:
    with _accounts_session(config) as session:
        if user_by_username(session, args.username) is None:
            raise CliError(f"no user {args.username!r}")
        user = set_user_active(session, args.username, args.user_cmd == "enable")
        name, active = user.username, user.active
    print(f"user {name} {'enabled' if active else 'disabled'}")
    return 0


def cmd_user_unlock(args: argparse.Namespace, config: Config) -> int:
    if (args.username is None) == (args.address is None):
        raise CliError("give a user name, or --address ADDRESS")
    with _accounts_session(config) as session:
        if args.address is not None:
            lifted = unlock_address(session, args.address)
            what = f"address {args.address.strip()}"
        else:
            # Unknown names lock too (the lock must not tell which names exist).
            lifted = unlock(session, args.username)
            what = args.username
    print(f"login lock of {what} lifted" if lifted else f"{what} was not locked")
    return 0


def add_parsers(cli: Commands) -> None:
    users = cli.branch(
        cli.root, "user", "Dashboard users: add, list, passwd, roles, disable.", "user_cmd"
    )
    secret = Parser(add_help=False)
    secret.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (else asked twice)",
    )
    uadd = cli.leaf(
        users, "add", "Create a dashboard user (asks the password).", cmd_user_add, [secret]
    )
    uadd.add_argument("username")
    role_help = (
        f"a role ({', '.join(ROLES)}); repeat it or give a comma list for several"
        " (research is held alone)"
    )
    uadd.add_argument("--role", required=True, action="append", metavar="ROLE", help=role_help)
    uadd.add_argument("--navigator", metavar="USER", help="the navigator account it acts for")
    uadd.add_argument("--name", help="display name (default: the username)")
    uadd.add_argument("--language", choices=LANGUAGES, default="fr")
    cli.leaf(users, "list", "List the dashboard users.", cmd_user_list)
    upw = cli.leaf(users, "passwd", "Set a user's password (asks it).", cmd_user_passwd, [secret])
    upw.add_argument("username")
    uroles = cli.leaf(users, "roles", "Give an existing user exactly these roles.", cmd_user_roles)
    uroles.add_argument("username")
    uroles.add_argument("--role", required=True, action="append", metavar="ROLE", help=role_help)
    for name, text in (("disable", "Stop a user from logging in."), ("enable", "Let it again.")):
        cli.leaf(users, name, text, cmd_user_disable).add_argument("username")
    unl = cli.leaf(
        users,
        "unlock",
        "Lift a login lock (too many failures) of a user name or a client address.",
        cmd_user_unlock,
    )
    unl.add_argument("username", nargs="?", help="the user name (or an unknown name) locked")
    unl.add_argument("--address", metavar="ADDR", help="a client address locked instead")
