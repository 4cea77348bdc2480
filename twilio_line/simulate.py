"""``ivr211 simulate --backend twilio``: play Twilio's part against the webhooks.

The simulated caller does what Twilio does with the TwiML it is given: it posts the
number's "A call comes in" request, follows each ``<Redirect>``, answers each
``<Gather>`` with the next key of the script (or nothing: Twilio then posts the action
with no ``Digits``), and stops at the verb that hands the call over (``<Enqueue>``,
``<Dial>``, ``<Record>``) or ends it (``<Hangup>``). A hang-up ("h") is the call status
callback Twilio posts when the caller hangs up (``CallStatus=completed``). Every
request and every TwiML document is printed.

The key script is the FastAGI simulator's: a digit, ``t`` for no key, ``h`` to hang up,
and where a number is asked for, the whole entry (``4185550199#``). A ``<Gather>``
takes one entry of the script, as one ``STREAM FILE``/``WAIT FOR DIGIT`` turn does.

``--entry queue-exit`` leads the call to the queue first (language, then the
navigator's key) and ends the wait as Twilio does when nobody answered
(``QueueResult=leave``): the script then answers the flow's queue-exit menu.

Which caller: ``--caller 4185550100`` is sent as ``+14185550100``; a withheld one in
one of Twilio's forms: ``unknown`` (``+8656696``), ``anonymous`` (``Anonymous``, the
network's word) or ``hidden`` (``+266696687``, the keypad form).
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, TextIO

from twilio_line.twiml import Urls

__all__ = ["SimulatedCall", "TwilioCaller", "caller_from", "interactive_keys", "scripted_keys"]

#: What ``post(url, params)`` returns: the status code and the body.
Post = Callable[[str, Mapping[str, str]], tuple[int, str]]
HAND_OVER: Final = ("Enqueue", "Dial", "Record")
WITHHELD_FROM: Final = {"unknown": "+8656696", "anonymous": "Anonymous", "hidden": "+266696687"}
_MAX_REQUESTS: Final = 200
_KEYS: Final = frozenset("0123456789*#")


def caller_from(caller: str | None, withheld: str | None) -> str:
    """``From`` for a shown or withheld caller."""
    if withheld is not None:
        return WITHHELD_FROM[withheld]
    if not caller:
        return WITHHELD_FROM["unknown"]
    digits = "".join(ch for ch in caller if ch.isdigit())
    if caller.startswith("+"):
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return caller


def scripted_keys(keys: str) -> Callable[[str], str]:
    """The FastAGI simulator's ``--keys``: comma-separated, ``t`` no key, ``h`` hang up;
    past the end of the script, no key."""
    queue: Iterator[str] = iter(k.strip() for k in keys.split(",") if k.strip())

    def next_key(_prompt: str) -> str:
        key = next(queue, "t")
        return "" if key == "t" else key

    return next_key


def interactive_keys(out: TextIO) -> Callable[[str], str]:
    """Keys typed on the terminal: one key, a whole entry where a number is asked for,
    Enter for none, ``h`` to hang up."""

    def next_key(prompt: str) -> str:
        while True:
            print(f"  {prompt}, Enter = none, h = hang up: ", end="", file=out, flush=True)
            try:
                answer = input().strip()
            except EOFError:
                return ""
            if answer in ("", "h"):
                return answer
            if valid_key(answer) and (prompt.startswith("number") or len(answer) == 1):
                return answer
            print("  keys please (0-9, *, #), Enter or h", file=out)

    return next_key


def valid_key(entry: str) -> bool:
    return entry in ("t", "h") or (bool(entry) and all(ch in _KEYS for ch in entry))


@dataclass
class SimulatedCall:
    call_sid: str
    requests: int = 0
    hung_up: bool = False
    ended_on: str = ""
    error: str | None = None
    documents: list[str] = field(default_factory=list)


class TwilioCaller:
    """One simulated call through ``post``, answering keys with ``next_key``."""

    def __init__(
        self,
        urls: Urls,
        post: Post,
        next_key: Callable[[str], str],
        out: TextIO,
        *,
        from_: str,
        to: str = "+14185550211",
        account_sid: str = "AC" + "0" * 32,
        call_sid: str | None = None,
    ) -> None:
        self.urls = urls
        self._post = post
        self.next_key = next_key
        self.out = out
        self.call = SimulatedCall(call_sid or "CA" + secrets.token_hex(16))
        self.base = {
            "AccountSid": account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call.call_sid,
            "Called": to,
            "Caller": from_,
            "Direction": "inbound",
            "From": from_,
            "To": to,
        }

    def _send(self, url: str, status: str = "in-progress", **extra: str) -> str | None:
        params = {**self.base, "CallStatus": status, **extra}
        shown = " ".join(f"{k}={v}" for k, v in extra.items())
        print(f"→ POST {url} {shown}".rstrip(), file=self.out)
        self.call.requests += 1
        code, body = self._post(url, params)
        if code >= 300 or (code == 200 and not body):
            print(f"← {code}", file=self.out)
            if code >= 300:
                self.call.error = f"{url} answered {code}"
                return None
        if body:
            print(f"← {body}", file=self.out)
            self.call.documents.append(body)
        return body or ""

    def _show(self, element: ET.Element, indent: str = "  ") -> None:
        if element.tag == "Say":
            print(f"{indent}▶ say [{element.get('language', '')}] {element.text}", file=self.out)
        elif element.tag == "Play":
            print(f"{indent}▶ play {element.text}", file=self.out)
        for child in element:
            self._show(child, indent)

    def hang_up(self) -> None:
        print("  (caller hangs up)", file=self.out)
        self.call.hung_up = True
        self._send(self.urls.status(), status="completed", CallDuration="30")

    def run(self, *, queue_exit_language: str | None = None) -> SimulatedCall:
        """The call, up to its hand-over, its end or a hang-up."""
        print(f"call {self.call.call_sid} from {self.base['From']}", file=self.out)
        body = self._send(self.urls.voice(), status="ringing")
        lead_in: list[str] = []
        if queue_exit_language is not None:
            lead_in = ["2" if queue_exit_language == "en" else "1", "1"]
        while body is not None and self.call.requests < _MAX_REQUESTS:
            root = ET.fromstring(body)
            verbs = list(root)
            for verb in verbs:
                self._show(verb)
            gather = next((v for v in verbs if v.tag == "Gather"), None)
            last = verbs[-1] if verbs else None
            if gather is not None:
                key = lead_in.pop(0) if lead_in else self.next_key(_prompt(gather))
                if key == "h":
                    self.hang_up()
                    return self.call
                digits, ended, _ = key.partition("#")
                limit = int(gather.get("numDigits", "1") or 1)
                finished = "#" if ended and gather.get("finishOnKey") == "#" else ""
                if limit == 1:
                    digits, finished = key[:1], ""
                body = self._send(
                    gather.get("action", ""), Digits=digits[:limit], FinishedOnKey=finished
                )
                continue
            if last is None:
                self.call.ended_on = "Response"
                return self.call
            if last.tag == "Redirect":
                body = self._send(last.text or "")
                continue
            if last.tag == "Enqueue" and queue_exit_language is not None:
                queue_exit_language = None
                print("  (nobody answers: the wait ends)", file=self.out)
                body = self._send(
                    last.get("action", ""),
                    QueueResult="leave",
                    QueueTime="600",
                    QueueSid="QU" + "0" * 32,
                )
                continue
            self.call.ended_on = last.tag
            return self.call
        if body is not None:
            self.call.error = "the call did not end"
        return self.call


def _prompt(gather: ET.Element) -> str:
    if gather.get("numDigits", "1") != "1":
        return f"number then # (at most {gather.get('numDigits')} keys)"
    return "key"
