"""A plain-HTTP stand-in for Twilio's REST API (api.twilio.com), on 127.0.0.1, for the
recordings: it answers as the API does and records every request; every check is the
test's, on the recording.

- ``GET /2010-04-01/Accounts/<AC>/Recordings/<RE>.json``: the Recording resource (the
  fields and forms of Twilio's API reference: RFC 2822 dates, ``duration`` as a string);
- ``GET /2010-04-01/Accounts/<AC>/Recordings/<RE>.wav``: the audio, ``audio/x-wav``;
- ``DELETE /2010-04-01/Accounts/<AC>/Recordings/<RE>.json``: ``204 No Content``;
- ``GET /2010-04-01/Accounts/<AC>/Calls.json`` and ``.../Recordings.json``: the list
  resources, two to a page (``calls`` / ``recordings`` beside ``next_page_uri``,
  ``page``, ``page_size``...), filtered on ``EndTime<`` / ``DateCreated<`` as the API
  does; ``DELETE .../Calls/<CA>.json``: ``204 No Content``;
- an unknown recording: ``404`` with Twilio's error body (code 20404).
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A mono 16-bit PCM WAV file of silence (what Twilio's ``.wav`` media is)."""
    frames = b"\x00\x00" * int(seconds * rate)
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", len(frames)) + frames


@dataclass
class Recording:
    sid: str
    call_sid: str
    audio: bytes
    duration: str = "12"
    status: str = "completed"


@dataclass
class CallLog:
    sid: str
    ended: str  # RFC 2822, as Twilio writes end_time
    status: str = "completed"
    from_: str = "+14185550100"
    started: str | None = None  # RFC 2822; default: 60 s before ``ended``
    parent: str | None = None  # a <Dial> leg names its parent call


@dataclass
class RestRecorder:
    recordings: dict[str, Recording] = field(default_factory=dict)
    calls: dict[str, CallLog] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth
    #: ``created`` of each recording in the list resource (RFC 2822), by sid.
    created: dict[str, str] = field(default_factory=dict)


def _call_resource(account: str, call: CallLog) -> dict[str, Any]:
    from email.utils import format_datetime, parsedate_to_datetime

    started = call.started or format_datetime(
        parsedate_to_datetime(call.ended) - timedelta(seconds=60)
    )
    return {
        "account_sid": account,
        "annotation": None,
        "answered_by": None,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": call.ended,
        "date_updated": call.ended,
        "direction": "outbound-dial" if call.parent else "inbound",
        "duration": "60",
        "end_time": call.ended,
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": call.parent,
        "phone_number_sid": "PN" + "0" * 32,
        "price": "-0.0085",
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": started,
        "status": call.status,
        "subresource_uris": {},
        "to": "+14185550211",
        "to_formatted": "(418) 555-0211",
        "trunk_sid": None,
        "uri": f"/2010-04-01/Accounts/{account}/Calls/{call.sid}.json",
    }


def _resource(account: str, rec: Recording) -> dict[str, Any]:
    uri = f"/2010-04-01/Accounts/{account}/Recordings/{rec.sid}.json"
    return {
        "account_sid": account,
        "api_version": "2010-04-01",
        "call_sid": rec.call_sid,
        "conference_sid": None,
        "channels": 1,
        "date_created": "Wed, 11 Jun 2025 14:02:10 +0000",
        "date_updated": "Wed, 11 Jun 2025 14:02:23 +0000",
        "start_time": "Wed, 11 Jun 2025 14:02:10 +0000",
        "duration": rec.duration,
        "encryption_details": None,
        "error_code": None,
        "media_url": f"https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{rec.sid}",
        "price": None,
        "price_unit": "USD",
        "sid": rec.sid,
        "source": "RecordVerb",
        "status": rec.status,
        "subresource_uris": {
            "add_on_results": f"{uri[:-5]}/AddOnResults.json",
            "transcriptions": f"{uri[:-5]}/Transcriptions.json",
        },
        "uri": uri,
    }


def _iso(value: str) -> datetime:
    """``2026-12-04T12:00:00Z``, as the twilio library writes a filter's time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@contextmanager
def twilio_rest(recorder: RestRecorder) -> Iterator[str]:
    """The stand-in in a thread; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            if body:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _find(self) -> tuple[str, Recording | None, str]:
            parts = self.path.split("?")[0].split("/")
            # ['', '2010-04-01', 'Accounts', AC, 'Recordings', 'RE....json']
            account = parts[3] if len(parts) > 3 else ""
            name = parts[5] if len(parts) == 6 and parts[4] == "Recordings" else ""
            sid, _, ext = name.partition(".")
            return account, self_recorder.recordings.get(sid), ext

        def _not_found(self) -> None:
            body = json.dumps(
                {
                    "code": 20404,
                    "message": f"The requested resource {self.path} was not found",
                    "more_info": "https://www.twilio.com/docs/errors/20404",
                    "status": 404,
                }
            ).encode()
            self._answer(404, body, "application/json")

        def _log(self) -> None:
            self_recorder.requests.append(
                (self.command, self.path, self.headers.get("Authorization", ""))
            )

        def _list(self) -> bool:
            from email.utils import parsedate_to_datetime
            from urllib.parse import parse_qs, quote, urlsplit

            parts = urlsplit(self.path)
            segments = parts.path.split("/")
            if len(segments) != 5 or segments[4] not in ("Calls.json", "Recordings.json"):
                return False
            account = segments[3]
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            page = int(query.get("Page", "0"))
            if segments[4] == "Calls.json":
                key = "calls"
                before = query.get("EndTime<")
                after = query.get("StartTime>")
                items = [
                    resource
                    for c in self_recorder.calls.values()
                    if before is None or parsedate_to_datetime(c.ended) < _iso(before)
                    for resource in [_call_resource(account, c)]
                    if after is None or parsedate_to_datetime(resource["start_time"]) >= _iso(after)
                ]
            else:
                key = "recordings"
                before = query.get("DateCreated<")
                items = [
                    {**_resource(account, r), "date_created": self_recorder.created[r.sid]}
                    for r in self_recorder.recordings.values()
                    if before is None
                    or parsedate_to_datetime(self_recorder.created[r.sid]) < _iso(before)
                ]
            size = 2
            chunk = items[page * size : (page + 1) * size]
            more = (page + 1) * size < len(items)
            kept = "".join(
                f"&{quote(k)}={quote(v)}" for k, v in query.items() if k not in ("Page", "PageSize")
            )
            base = parts.path
            body = {
                key: chunk,
                "end": page * size + len(chunk) - 1,
                # As the API does, the filters stay in the pages' URIs.
                "first_page_uri": f"{base}?PageSize={size}&Page=0{kept}",
                "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}{kept}" if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": None,
                "start": page * size,
                "uri": self.path,
            }
            self._answer(200, json.dumps(body).encode(), "application/json")
            return True

        def do_GET(self) -> None:
            self._log()
            if self._list():
                return
            account, rec, ext = self._find()
            if rec is None:
                self._not_found()
            elif ext == "json":
                body = json.dumps(_resource(account, rec)).encode()
                self._answer(200, body, "application/json")
            elif ext == "wav":
                self._answer(200, rec.audio, "audio/x-wav")
            else:
                self._not_found()

        def do_DELETE(self) -> None:
            self._log()
            segments = self.path.split("?")[0].split("/")
            if len(segments) == 6 and segments[4] == "Calls":
                sid = segments[5].removesuffix(".json")
                if self_recorder.calls.pop(sid, None) is None:
                    self._not_found()
                else:
                    self._answer(204, b"", "")
                return
            _account, rec, ext = self._find()
            if rec is None or ext != "json":
                self._not_found()
                return
            del self_recorder.recordings[rec.sid]
            self._answer(204, b"", "")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    self_recorder = recorder
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, name="twilio-rest")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
