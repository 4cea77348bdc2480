"""The Twilio back end under test: its blueprint on a Flask app and a migrated SQLite
database, and requests signed as Twilio signs them (``RequestValidator.compute_signature``
of the twilio library, with the test's auth token)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from ivr.settings import LineSettings
from store.calls import CallFact, record_calls
from store.db import make_engine, upgrade
from tests.agi.agi_fakes import line_settings
from twilio_line.options import TwilioOptions
from twilio_line.recordings import RecordingTaker
from twilio_line.webhooks import create_blueprint

ZONE = ZoneInfo("America/Toronto")
OPEN_NOW = datetime(2025, 6, 11, 10, 0, tzinfo=ZONE)  # a Wednesday morning
CLOSED_NOW = datetime(2025, 6, 11, 22, 0, tzinfo=ZONE)  # the same Wednesday night
TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT = "AC" + "0" * 31 + "1"
PUBLIC = "https://ligne.example.org"
LINE_NUMBER = "+14185550211"


def sign(url: str, params: Mapping[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, dict(params)))


@dataclass
class Line:
    """The blueprint on its own app; ``post`` sends what Twilio sends."""

    client: FlaskClient
    options: TwilioOptions
    engine: Engine
    settings: dict[str, LineSettings]
    now: list[datetime]
    decisions: list[tuple[str, Any]] = field(default_factory=list)
    new_messages: list[int] = field(default_factory=list)

    def post(
        self,
        url: str | None,
        params: Mapping[str, str],
        *,
        signature: str | None = None,
        token: str = TOKEN,
        headers: Mapping[str, str] | None = None,
    ) -> TestResponse:
        """POST ``params`` to the absolute public ``url``, signed with ``token`` unless
        ``signature`` is given ("" sends no header)."""
        assert url is not None and url.startswith(PUBLIC), url
        path = url[len(PUBLIC) :]
        sent = {**(headers or {})}
        value = sign(url, params, token) if signature is None else signature
        if value:
            sent["X-Twilio-Signature"] = value
        return self.client.post(path, data=dict(params), headers=sent)

    def call_params(
        self, call_sid: str, caller: str = "+14185550100", **extra: str
    ) -> dict[str, str]:
        return {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": call_sid,
            "CallStatus": "in-progress",
            "Called": LINE_NUMBER,
            "Caller": caller,
            "Direction": "inbound",
            "From": caller,
            "To": LINE_NUMBER,
            **extra,
        }


def options(tmp_path: Path, **changes: Any) -> TwilioOptions:
    base = TwilioOptions(
        public_url=PUBLIC,
        account_sid=ACCOUNT,
        auth_token=lambda: TOKEN,
        sounds_dir=tmp_path / "sounds",
        voicemail_storage_dir=tmp_path / "voicemail",
    )
    return replace(base, **changes) if changes else base


@contextmanager
def running_line(
    tmp_path: Path,
    now: datetime = OPEN_NOW,
    settings: LineSettings | None = None,
    *,
    recordings: bool = False,
    url: str | None = None,
    **option_changes: Any,
) -> Iterator[Line]:
    """The blueprint on a fresh database; with ``recordings``, the research box's
    recordings are taken (``RecordingTaker``, from ``api_url``)."""
    engine = make_engine(url or f"sqlite:///{tmp_path / 'line.db'}")
    upgrade(engine)
    current = {"settings": settings or line_settings()}
    clock = [now]
    opts = options(tmp_path, **option_changes)
    decisions: list[tuple[str, Any]] = []
    new_messages: list[int] = []
    taker = RecordingTaker(opts, engine, lambda: clock[0], on_new=new_messages.append)
    app = Flask("twilio-test")
    app.config["TESTING"] = True
    app.register_blueprint(
        create_blueprint(
            opts,
            engine=engine,
            settings_source=lambda: current["settings"],
            clock=lambda: clock[0],
            on_decision=lambda sid, decision, _form: decisions.append((sid, decision)),
            on_recording=taker if recordings else None,
            record_calls=lambda facts: _write_calls(engine, facts),
        )
    )
    try:
        yield Line(app.test_client(), opts, engine, current, clock, decisions, new_messages)
    finally:
        engine.dispose()


def _write_calls(engine: Engine, facts: Sequence[CallFact]) -> None:
    with Session(engine) as session, session.begin():
        record_calls(session, facts)


def verbs(body: bytes | str) -> list[ET.Element]:
    """The TwiML document's verbs, in order."""
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return list(root)


def says(body: bytes | str) -> list[tuple[str, str]]:
    """(language, text) of every ``<Say>``, nested ones included."""
    root = ET.fromstring(body)
    return [(el.get("language", ""), el.text or "") for el in root.iter("Say")]


Poster = Callable[[str, Mapping[str, str]], TestResponse]


def walk(
    line: Line, keys: list[str], sid: str, caller: str = "+14185550100"
) -> tuple[str, TestResponse]:
    """A call as Twilio carries it: each Gather answered with the next key ("" =
    silence, "4185550199#" = a number ended by #), each Redirect followed; returns the
    verb the call is handed over on (Enqueue, Dial, Record, Hangup) and the last answer."""
    response = line.post(f"{PUBLIC}/twilio/voice", line.call_params(sid, caller))
    queue = list(keys)
    for _ in range(40):
        assert response.status_code == 200, response.data
        doc = verbs(response.data)
        last = doc[-1]
        gather = next((v for v in doc if v.tag == "Gather"), None)
        if gather is not None:
            key = queue.pop(0) if queue else ""
            digits, ended, _ = key.partition("#")
            params = line.call_params(
                sid, caller, Digits=digits, FinishedOnKey="#" if ended else ""
            )
            response = line.post(gather.get("action"), params)
        elif last.tag == "Redirect":
            response = line.post(last.text, line.call_params(sid, caller))
        else:
            return last.tag, response
    raise AssertionError("the call never ended")
