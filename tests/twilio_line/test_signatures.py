"""Every webhook checks ``X-Twilio-Signature`` (the twilio library's ``RequestValidator``)
against the public URL the proxy presents; and the composition root puts the webhooks
on the dashboard's app, past its CSRF check and role guard, only when enabled."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine

from dashboard import create_app
from ivr211.config import DEFAULT_SEED, Config, ConfigError
from ivr211.dashboard_options import dashboard_options
from ivr211.twilio_options import register_twilio, twilio_options
from store.db import make_engine, upgrade
from store.linesettings import SettingsStore, seed_if_empty
from tests.twilio_line.helpers import ACCOUNT, PUBLIC, TOKEN, running_line, sign, verbs

SID = "CA" + "b" * 32
ENV = {"IVR211_TWILIO_AUTH_TOKEN": TOKEN}


@pytest.mark.parametrize(
    "path",
    [
        "/twilio/voice",
        "/twilio/step/1/0",
        "/twilio/after/1/0/queue",
        "/twilio/wait/1",
        "/twilio/status",
        "/twilio/recording",
    ],
)
def test_an_unsigned_or_badly_signed_request_is_refused_and_logged(
    tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with running_line(tmp_path) as line:
        params = line.call_params(SID, CallStatus="completed")
        url = PUBLIC + path
        for signature in ("", "AAAA", sign(url, params, token="not-the-token")):
            with caplog.at_level(logging.WARNING, logger="twilio_line.webhooks"):
                refused = line.post(url, params, signature=signature)
            assert refused.status_code == 403
            assert refused.data == b""
        assert caplog.text.count("Twilio webhook refused (bad signature)") == 3
        assert line.decisions == []


def test_a_tampered_parameter_breaks_the_signature(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        params = line.call_params(SID)
        url = f"{PUBLIC}/twilio/voice"
        signature = sign(url, params)
        tampered = {**params, "From": "+15145550000"}
        assert line.post(url, tampered, signature=signature).status_code == 403
        assert line.post(url, params, signature=signature).status_code == 200


def test_the_signature_is_checked_on_the_public_url_not_the_one_behind_the_proxy(
    tmp_path: Path,
) -> None:
    """Twilio signs https://ligne.example.org/...; the app sees http://localhost/..."""
    with running_line(tmp_path) as line:
        params = line.call_params(SID)
        behind = sign("http://localhost/twilio/voice", params)
        assert line.post(f"{PUBLIC}/twilio/voice", params, signature=behind).status_code == 403
        assert line.post(f"{PUBLIC}/twilio/voice", params).status_code == 200


def test_a_replayed_step_is_refused_and_logged_with_control_characters_escaped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_line(tmp_path) as line:
        first = line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID))
        retried = line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID))
        assert retried.status_code == 200 and retried.data == first.data
        doc = verbs(first.data)
        notice_done = doc[-1].text
        menu = verbs(line.post(notice_done, line.call_params(SID)).data)
        line.post(menu[0].get("action"), line.call_params(SID, Digits="1"))
        # The same request again (a retry) gets the same answer...
        again = line.post(menu[0].get("action"), line.call_params(SID, Digits="1"))
        assert again.status_code == 200
        # ...but an older one, or the same step with another key, is a replay.
        with caplog.at_level(logging.WARNING, logger="twilio_line.webhooks"):
            assert line.post(notice_done, line.call_params(SID)).status_code == 403
            other = line.post(menu[0].get("action"), line.call_params(SID, Digits="2"))
            assert other.status_code == 403
            replayed_start = line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID))
            assert replayed_start.status_code == 403
            forged = line.post(
                f"{PUBLIC}/twilio/step/1/0", line.call_params("CA\r\nCRITICAL forged")
            )
            assert forged.status_code == 403
        assert "Twilio webhook refused (call " in caplog.text
        assert "CA\\r\\nCRITICAL forged" in caplog.text
        assert "\nCRITICAL forged" not in caplog.text


def test_no_auth_token_refuses_every_webhook(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def missing() -> str:
        raise LookupError("Twilio auth token: environment variable X is not set")

    with running_line(tmp_path, auth_token=missing) as line:
        with caplog.at_level(logging.ERROR, logger="twilio_line.webhooks"):
            response = line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID))
        assert response.status_code == 403
        assert "cannot be checked" in caplog.text


# ---- the composition root ----------------------------------------------------------------


def config(tmp_path: Path, **twilio: object) -> Config:
    return Config.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'line.db'}"},
            "dashboard": {
                "instance_path": str(tmp_path / "instance"),
                "generated_secret_path": str(tmp_path / "secret"),
            },
            "voicemail": {"storage_dir": str(tmp_path / "voicemail")},
            "twilio": twilio,
        }
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    upgrade(eng)
    with SettingsStore(eng).change() as session:
        seed_if_empty(session, DEFAULT_SEED)
    try:
        yield eng
    finally:
        eng.dispose()


def dashboard(tmp_path: Path, cfg: Config, engine: Engine) -> Flask:
    return create_app(
        dashboard_options(cfg), engine=engine, testing=True, clock=lambda: datetime.now(UTC)
    )


def test_the_dashboard_serves_the_webhooks_when_enabled(tmp_path: Path, engine: Engine) -> None:
    cfg = config(tmp_path, enabled=True, public_url=PUBLIC, account_sid=ACCOUNT)
    app = dashboard(tmp_path, cfg, engine)
    assert register_twilio(app, cfg, engine, environ=ENV)
    client = app.test_client()
    params = {"CallSid": SID, "From": "+14185550100", "To": "+14185550211"}
    url = f"{PUBLIC}/twilio/voice"
    answered = client.post(
        "/twilio/voice", data=params, headers={"X-Twilio-Signature": sign(url, params)}
    )
    assert answered.status_code == 200, answered.data
    assert verbs(answered.data)[-1].tag == "Redirect"
    refused = client.post("/twilio/voice", data=params)
    assert refused.status_code == 403
    # The rest of the dashboard still wants a login.
    assert client.get("/reports/").status_code in (302, 303)


def test_the_webhooks_are_absent_unless_enabled(tmp_path: Path, engine: Engine) -> None:
    cfg = config(tmp_path)
    app = dashboard(tmp_path, cfg, engine)
    assert not register_twilio(app, cfg, engine, environ=ENV)
    assert app.test_client().post("/twilio/voice", data={"CallSid": SID}).status_code in (
        400,
        403,
        404,
    )
    assert "twilio.voice" not in app.view_functions


def test_enabled_needs_a_public_https_url_and_an_account(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="public_url and account_sid"):
        config(tmp_path, enabled=True)
    with pytest.raises(ValueError, match="https://"):
        config(tmp_path, enabled=True, public_url="http://x.example", account_sid=ACCOUNT)
    cfg = config(tmp_path, enabled=True, public_url=PUBLIC, account_sid=ACCOUNT)
    options = twilio_options(cfg, environ={})
    with pytest.raises(LookupError, match="IVR211_TWILIO_AUTH_TOKEN"):
        options.auth_token()
    assert twilio_options(cfg, environ=ENV).auth_token() == TOKEN
    with pytest.raises(ConfigError, match="public_url"):
        twilio_options(config(tmp_path), environ=ENV)
