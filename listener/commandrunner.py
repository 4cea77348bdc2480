"""The navigators' commands, run by the listener: what the dashboard asks of Asterisk.

The dashboard writes a command (a transfer, a cancel, a referral, a queue login, logout
or pause) in the command table (``store.commands``); the listener's poller claims the due
ones and :class:`CommandRunner` runs each as an action on the AMI link
(:class:`~listener.actions.Actions`), then writes its result back in the command's row.
A referral, and a transfer to a destination with no number yet, are recorded as transfer
facts at once (``store.transfers.record_facts``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from listener.actions import ActionError, ActionResult, Actions, NoNumber, QueueMember
from listener.retry import retry_locked
from store import commands
from store.facts import TransferFact
from store.navigators import navigator_by_username
from store.transfers import record_facts

__all__ = ["CommandRunner"]

log = logging.getLogger("listener.service")  # the listener process's log


class CommandRunner:
    """Runs the claimed commands on the event loop; ``queue`` gives the navigators' queue
    (the line's settings, refreshed by the listener)."""

    def __init__(
        self, sessions: sessionmaker[Session], actions: Actions, queue: Callable[[], str]
    ) -> None:
        self.sessions = sessions
        self.actions = actions
        self._queue = queue

    async def execute(self, command_id: int, kind: str, args: dict[str, Any]) -> None:
        """Run one claimed command and write its result (never raises)."""
        try:
            result = await self._run(kind, args)
            status, payload = "ok", {"message": result.message, **result.data}
        except ActionError as exc:
            status, payload = "error", {"code": exc.code, "message": str(exc)}
        except Exception as exc:
            log.exception("command %d (%s) failed", command_id, kind)
            status, payload = "error", {"code": "internal", "message": f"internal error: {exc}"}
        log.info("command %d %s %s: %s", command_id, kind, status, payload.get("message"))
        await asyncio.to_thread(self._complete, command_id, status, payload)

    def _complete(self, command_id: int, status: str, payload: dict[str, Any]) -> None:
        def write() -> None:
            with self.sessions.begin() as session:
                commands.complete(session, command_id, "ok" if status == "ok" else "error", payload)

        retry_locked(write)

    async def _run(self, kind: str, args: dict[str, Any]) -> ActionResult:
        if kind not in commands.KINDS:
            raise ActionError(f"unknown command {kind!r}")
        user = str(args.get("user", ""))
        endpoint, interface, name = await asyncio.to_thread(self._navigator, user)
        a = self.actions
        if kind == commands.REFERRAL:
            fact = a.record_referral(
                str(args.get("linkedid", "")), str(args["destination"]), endpoint
            )
            new = await asyncio.to_thread(self._record, fact)
            said = "recorded" if new else "was already recorded"
            return ActionResult(f"referral to {fact.destination} {said}", {"key": fact.key})
        if kind == commands.TRANSFER:
            mode, dest = str(args.get("mode", commands.ATTENDED)), str(args["destination"])
            try:
                if mode == commands.BLIND:
                    return await a.blind_transfer(endpoint, dest)
                if mode == commands.THREE_WAY:
                    return await a.three_way(endpoint, dest)
                return await a.start_warm_transfer(endpoint, dest)
            except NoNumber as exc:
                await asyncio.to_thread(self._record, exc.fact)
                raise
        if kind == commands.CANCEL:
            return await a.cancel_warm_transfer(endpoint)
        member = QueueMember(self._queue(), interface, name)
        if kind == commands.QUEUE_LOGIN:
            return await a.queue_login(member)
        if kind == commands.QUEUE_LOGOUT:
            return await a.queue_logout(member)
        paused = kind == commands.QUEUE_PAUSE
        return await a.queue_pause(member, paused, str(args.get("reason", "")))

    def _navigator(self, user: str) -> tuple[str, str, str]:
        with self.sessions() as session:
            nav = navigator_by_username(session, user)
            if nav is None:
                raise ActionError(f"no navigator {user!r}")
            return nav.phone_endpoint, nav.queue_interface, nav.display_name

    def _record(self, fact: TransferFact) -> int:
        def write() -> int:
            with self.sessions.begin() as session:
                return record_facts(session, [fact])

        return retry_locked(write)
