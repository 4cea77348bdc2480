"""The line's values pushed to Asterisk as dialplan globals, within seconds of a change.

The dialplan reads them without the FastAGI server: the fallback's override, closures,
holidays and hours, and the number behind each navigator transfer code
(``asterisk_conf/extensions.conf``, ``[ivr211-line-source]``). The FastAGI server keeps
a copy in AstDB, but only while calls reach it; this push is what makes an admin change
reach the PBX when that server is down.

What the listener's AMI user may write decides the form (2r, write = call,originate,
agent)::

    DBPut Family: ivr211 Key: probe2 Val: x     -> Response: Error | Message: Permission denied
    Setvar Variable: DB(ivr211/probe) ...       -> Response: Error | Message: Variable not set
    Setvar Variable: GLOBAL(DEST_911) Value: 9110  (no Channel)
                                                -> Response: Success | Message: Variable Set

``DBPut`` needs the ``system`` write class, which also allows Reload, ModuleLoad and
GetConfig: the rights stay as they are and the values go as globals
(``ivr.dialplan.global_name``), none of them named in ``[globals]`` so that
``dialplan reload`` keeps them. A restart of Asterisk loses them all: ``FullyBooted``,
which Asterisk sends after every login (so after every restart and every reconnect),
makes the next round push everything again. In between, one round every ``interval_s``
computes the values (``ivr.mirror.line_mirror``, the same function the FastAGI server
writes AstDB with) and sends only those that changed, ``IVR211_VERSION`` last: the
dialplan trusts the globals only up to the version they show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ivr.dialplan import global_name
from ivr.mirror import write_order
from listener.ami import ActionTimeout, AmiLink, Event, LinkDown, LinkState

__all__ = ["PbxValues", "PushRound", "setvar_global"]

log = logging.getLogger(__name__)

Values = Callable[[], Mapping[str, str]]


def setvar_global(key: str, value: str) -> dict[str, str]:
    """The AMI action that sets the global of one mirrored value (no Channel: 2r)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"value of {key!r} has a line break: it would end the AMI action")
    return {"Action": "Setvar", "Variable": f"GLOBAL({global_name(key)})", "Value": value}


@dataclass(frozen=True)
class PushRound:
    """What one round did: how many globals it set, and whether it stopped early."""

    sent: int
    complete: bool
    reason: str = ""


class PbxValues:
    """Keeps the IVR211_* globals of Asterisk equal to ``values()`` (AstDB key -> value).

    ``values`` may block (it reads the settings): it runs in a thread. Subscribe
    :meth:`on_event` to the link and call :meth:`on_link_state` from its state
    callback; :meth:`run` does the rounds until :meth:`stop`.
    """

    def __init__(self, link: AmiLink, values: Values, interval_s: float = 2.0) -> None:
        self.link = link
        self._values = values
        self.interval_s = interval_s
        self._pushed: dict[str, str] = {}
        self._epoch = 0
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._last_problem = ""
        self.rounds = 0

    # ---- what the link tells ---------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """``FullyBooted`` (after each login, so after each restart): push everything."""
        if event.get("Event") == "FullyBooted":
            self.forget()

    def on_link_state(self, state: LinkState) -> None:
        """A dropped link may mean a restarted Asterisk: push everything once back."""
        if state.state != "connected":
            self.forget()

    def forget(self) -> None:
        """Consider nothing pushed, and start a round now."""
        self._epoch += 1
        self._pushed = {}
        if self._wake is not None:
            self._wake.set()

    # ---- the rounds ----------------------------------------------------------------

    async def run(self) -> None:
        """A round now, then one every ``interval_s`` or as soon as :meth:`forget` is
        called; a round waits for the link to be up. Runs until :meth:`stop` (not
        cancelled: on Python 3.11 ``wait_for`` loses a cancellation that arrives as
        its event is set, and :meth:`forget` sets it when the link stops)."""
        self._wake = asyncio.Event()
        self._wake.set()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            if self._stopping:
                return
            if not self.link.connected:
                with contextlib.suppress(TimeoutError):
                    await self.link.wait_connected(self.interval_s)
                if not self.link.connected:
                    continue
            await self.push()

    def stop(self) -> None:
        """End :meth:`run` after the round under way."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()

    async def push(self) -> PushRound:
        """Send every value that differs from what this link last accepted."""
        epoch = self._epoch
        try:
            values = dict(await asyncio.to_thread(self._values))
        except Exception as exc:
            log.debug("cannot compute the line's values", exc_info=True)
            return self._done(PushRound(0, False, f"cannot read the settings: {exc}"), True)
        # A key gone from the settings (a deactivated destination) is cleared.
        values.update({key: "" for key in self._pushed.keys() - values.keys()})
        changed = [(k, v) for k, v in write_order(values) if self._pushed.get(k) != v]
        sent = 0
        for key, value in changed:
            if epoch != self._epoch:
                return self._done(PushRound(sent, False, "the link restarted"))
            try:
                reply = await self.link.send(setvar_global(key, value))
            except (LinkDown, ActionTimeout) as exc:
                return self._done(PushRound(sent, False, str(exc)))
            except ValueError as exc:
                return self._done(PushRound(sent, False, str(exc)), True)
            if reply.get("Response") != "Success":
                why = f"Setvar {global_name(key)}: {reply.get('Message', reply.get('Response'))}"
                # Stop before the version: the dialplan must not trust a partial push.
                return self._done(PushRound(sent, False, why), True)
            if epoch == self._epoch:
                self._pushed[key] = value
            sent += 1
        if sent:
            log.info("pushed %d line value(s) to Asterisk as globals", sent)
        return self._done(PushRound(sent, True))

    def _done(self, result: PushRound, problem: bool = False) -> PushRound:
        """Count the round; say a problem once, not every round while it lasts (a round
        cut short by the link going down is not one: the link says so itself)."""
        self.rounds += 1
        reason = result.reason if problem else ""
        if reason and reason != self._last_problem:
            log.warning("line values not all pushed to Asterisk: %s", reason)
        elif result.reason and not problem:
            log.info("push of the line values cut short: %s", result.reason)
        self._last_problem = reason
        return result
