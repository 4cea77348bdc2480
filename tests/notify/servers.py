"""Local stand-ins for the SMTP relay and Twilio's REST API, on 127.0.0.1 ephemeral ports.

Both only record what they receive; every check is made by the test on the recording.
The Twilio stand-in answers like api.twilio.com: ``201 Created`` with the message resource
as JSON for a create, or Twilio's error body (``{"code": ..., "message": ...,
"more_info": ..., "status": ...}``) for a scripted failure.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: str | None


@dataclass
class SmtpRecorder:
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    refuse_with: str | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_with is not None:
            return self.refuse_with
        content = envelope.original_content or b""
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.messages.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                content,
                session.ssl is not None,
                login,
            )
        )
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
            ok = data.password == b"relay-secret"
            return AuthResult(success=ok, handled=False, auth_data=data.login)
        return AuthResult(success=False, handled=False)


@contextmanager
def smtp_server(
    recorder: SmtpRecorder,
    *,
    tls: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
) -> Iterator[int]:
    """An aiosmtpd server in its own thread and event loop; yields its port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="smtp-server")
    thread.start()

    def factory() -> SMTP:
        return SMTP(
            recorder,
            hostname="relay.test",
            tls_context=None if implicit_tls else tls,
            require_starttls=tls is not None and not implicit_tls,
            authenticator=recorder.authenticate,
            auth_require_tls=True,
            loop=loop,
        )

    async def start() -> asyncio.Server:
        return await loop.create_server(factory, "127.0.0.1", 0, ssl=tls if implicit_tls else None)

    async def stop(server: asyncio.Server) -> None:
        server.close()
        await server.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    server = asyncio.run_coroutine_threadsafe(start(), loop).result()
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        asyncio.run_coroutine_threadsafe(stop(server), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the CA file a client must trust."""
    cert, key = tmp_path / "relay.pem", tmp_path / "relay.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=relay.test",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class TwilioRecorder:
    requests: list[HttpRequest] = field(default_factory=list)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _message_resource(account_sid: str, form: dict[str, list[str]], n: int) -> dict[str, Any]:
    sid = f"SM{n:032x}"
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": form["Body"][0],
        "date_created": "Thu, 26 Nov 2026 20:07:23 +0000",
        "date_sent": None,
        "date_updated": "Thu, 26 Nov 2026 20:07:23 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form["From"][0],
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
        },
        "to": form["To"][0],
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


@contextmanager
def twilio_server(recorder: TwilioRecorder) -> Iterator[str]:
    """A plain-HTTP stand-in for api.twilio.com; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            form = parse_qs(body, keep_blank_values=True)
            recorder.requests.append(
                HttpRequest("POST", self.path, dict(self.headers.items()), form)
            )
            if recorder.failures:
                status, payload = recorder.failures.pop(0)
            else:
                parts = self.path.split("/")
                account = parts[3] if len(parts) > 3 else ""
                try:
                    status = 201
                    payload = _message_resource(account, form, len(recorder.requests))
                except KeyError:
                    status, payload = 400, {"code": 21602, "message": "Body required"}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, name="twilio-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
