"""A plain-HTTP stand-in for the parts of Twilio's REST API the navigators' console uses,
on 127.0.0.1: it answers with the resources' fields as Twilio's API reference gives
them and records every request (method, path, form); every check is the test's.

- ``GET .../Queues.json`` (``queues``) and ``GET .../Queues/<QU>/Members.json``
  (``queue_members``: ``call_sid``, ``position``, ``wait_time``...), one page;
- ``POST .../Queues/<QU>/Members/<CA>.json`` (``Url``, ``Method``): the member dequeued;
- ``POST .../Conferences/<name or CF>/Participants.json``: a participant created, a new
  ``call_sid`` each time (the ``CA...`` of ``participant_sids``, in order), in the
  conference ``conference_sid``;
- ``POST .../Conferences/<CF>/Participants/<CA>.json`` (``Hold``) and ``DELETE`` of it;
- ``POST .../Calls/<CA>.json`` (``Status=completed``): the call hung up.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DATE = "Wed, 11 Jun 2025 14:00:00 +0000"


@dataclass
class Member:
    call_sid: str
    position: int = 1
    wait_time: int = 42


@dataclass
class FakeTwilio:
    account: str
    queue_name: str
    queue_sid: str = "QU" + "1" * 32
    conference_sid: str = "CF" + "2" * 32
    members: list[Member] = field(default_factory=list)
    participant_sids: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)

    def sent(self, method: str, tail: str) -> list[dict[str, list[str]]]:
        """The forms of the requests ``method`` whose path ends with ``tail``."""
        return [form for m, path, form in self.requests if m == method and path.endswith(tail)]

    @property
    def base(self) -> str:
        return f"/2010-04-01/Accounts/{self.account}"


def _page(key: str, items: list[dict[str, Any]], uri: str) -> dict[str, Any]:
    return {
        key: items,
        "end": max(0, len(items) - 1),
        "first_page_uri": uri,
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": uri,
    }


@contextmanager
def fake_twilio(fake: FakeTwilio) -> Iterator[str]:
    """The stand-in in a thread; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _json(self, status: int, body: dict[str, Any] | None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> tuple[list[str], dict[str, list[str]]]:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = parse_qs(body, keep_blank_values=True)
            path = urlsplit(self.path).path
            fake.requests.append((self.command, path, form))
            return path.removeprefix(fake.base).strip("/").split("/"), form

        def _participant(self, call_sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
            conference = f"{fake.base}/Conferences/{fake.conference_sid}"
            return {
                "account_sid": fake.account,
                "call_sid": call_sid,
                "label": form.get("Label", [None])[0],
                "call_sid_to_coach": None,
                "coaching": False,
                "conference_sid": fake.conference_sid,
                "date_created": DATE,
                "date_updated": DATE,
                "end_conference_on_exit": False,
                "muted": False,
                "hold": form.get("Hold", ["false"])[0] == "true",
                "start_conference_on_enter": True,
                "status": "queued",
                "queue_time": "0",
                "uri": f"{conference}/Participants/{call_sid}.json",
            }

        def _member(self, member: Member) -> dict[str, Any]:
            return {
                "call_sid": member.call_sid,
                "date_enqueued": DATE,
                "position": member.position,
                "queue_sid": fake.queue_sid,
                "uri": f"{fake.base}/Queues/{fake.queue_sid}/Members/{member.call_sid}.json",
                "wait_time": member.wait_time,
            }

        def do_GET(self) -> None:
            parts, _form = self._record()
            if parts == ["Queues.json"]:
                queue = {
                    "account_sid": fake.account,
                    "average_wait_time": 0,
                    "current_size": len(fake.members),
                    "date_created": DATE,
                    "date_updated": DATE,
                    "friendly_name": fake.queue_name,
                    "max_size": 100,
                    "sid": fake.queue_sid,
                    "uri": f"{fake.base}/Queues/{fake.queue_sid}.json",
                }
                self._json(200, _page("queues", [queue], self.path))
            elif parts == ["Queues", fake.queue_sid, "Members.json"]:
                items = [self._member(m) for m in fake.members]
                self._json(200, _page("queue_members", items, self.path))
            else:
                self._json(404, {"code": 20404, "message": "not found", "status": 404})

        def do_POST(self) -> None:
            parts, form = self._record()
            if parts[:2] == ["Queues", fake.queue_sid] and len(parts) == 4:
                sid = parts[3].removesuffix(".json")
                member = next((m for m in fake.members if m.call_sid == sid), None)
                if member is None:
                    self._json(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                fake.members.remove(member)
                self._json(200, self._member(member))
            elif parts[0] == "Conferences" and parts[2:] == ["Participants.json"]:
                self._json(201, self._participant(fake.participant_sids.pop(0), form))
            elif parts[0] == "Conferences" and len(parts) == 4:
                self._json(200, self._participant(parts[3].removesuffix(".json"), form))
            elif parts[0] == "Calls" and len(parts) == 2:
                sid = parts[1].removesuffix(".json")
                self._json(
                    200,
                    {"sid": sid, "account_sid": fake.account, "status": "completed"},
                )
            else:
                self._json(404, {"code": 20404, "message": "not found", "status": 404})

        def do_DELETE(self) -> None:
            parts, _form = self._record()
            if parts[0] == "Conferences" and len(parts) == 4:
                self._json(204, None)
            else:
                self._json(404, {"code": 20404, "message": "not found", "status": 404})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
