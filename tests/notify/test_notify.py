"""Notification of a new research message: SMTP against a local aiosmtpd server, SMS through
Twilio's own library against a local HTTP server that records the request it really sends."""

from __future__ import annotations

import base64
import email
import email.policy
import getpass
import io
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr211.cli import main
from ivr211.config import Config, NotifyConfig, load_config
from ivr211.notify_options import notify_options
from research.notify import (
    BaseUrlHttpClient,
    Notifier,
    SettingError,
    notify_account_change,
    notify_new_message,
)
from store.db import make_engine
from store.research_access import AccountChange
from store.voicemail import AuditEntry

from .servers import SmtpRecorder, TwilioRecorder, self_signed, smtp_server, twilio_server

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-token-value"
ENV = {"IVR211_TWILIO_AUTH_TOKEN": TOKEN, "SMTP_PW": "relay-secret"}
PASSWORD = "a long enough password"


def notify_config(**values: Any) -> NotifyConfig:
    base: dict[str, Any] = {"attempts": 3, "retry_s": 2.0, "timeout_s": 5.0}
    base.update(values)
    return NotifyConfig.model_validate(base)


def sms_config(base_url: str, **values: Any) -> NotifyConfig:
    base: dict[str, Any] = {
        "sms_to": ["+14185550100"],
        "sms_from": "+14185550199",
        "twilio_account_sid": ACCOUNT,
        "twilio_api_url": base_url,
    }
    return notify_config(**{**base, **values})


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# ---- SMS through Twilio's library ----------------------------------------------------


def test_sms_is_the_request_twilio_documents() -> None:
    recorder = TwilioRecorder()
    with twilio_server(recorder) as url:
        config = sms_config(url, sms_to=["+14185550100", "+14185550101"])
        deliveries = Notifier(notify_options(config, environ=ENV)).notify("voice_message:7")

    assert [(d.channel, d.recipients, d.ok, d.attempts) for d in deliveries] == [
        ("sms", ("+14185550100",), True, 1),
        ("sms", ("+14185550101",), True, 1),
    ]
    assert [d.reference for d in deliveries] == [f"SM{1:032x}", f"SM{2:032x}"]
    assert len(recorder.requests) == 2
    for request, to in zip(recorder.requests, ("+14185550100", "+14185550101"), strict=True):
        assert request.method == "POST"
        assert request.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        expected_auth = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        assert request.headers["Authorization"] == f"Basic {expected_auth}"
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert request.headers["User-Agent"].startswith("twilio-python/")
        assert request.form == {
            "To": [to],
            "From": ["+14185550199"],
            "Body": [NotifyConfig().message],
        }


def test_sms_body_carries_no_caller_detail() -> None:
    recorder = TwilioRecorder()
    with twilio_server(recorder) as url:
        Notifier(notify_options(sms_config(url), environ=ENV)).notify("voice_message:5145550123")
    body = recorder.requests[0].form["Body"][0]
    assert body == NotifyConfig().message
    assert not any(ch.isdigit() and ch not in "211" for ch in body)


def test_sms_server_error_is_retried_with_backoff() -> None:
    recorder = TwilioRecorder(
        failures=[
            (503, {"code": 20503, "message": "Service unavailable", "status": 503}),
            (429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
        ]
    )
    sleeps = Sleeps()
    with twilio_server(recorder) as url:
        [delivery] = Notifier(notify_options(sms_config(url), environ=ENV), sleep=sleeps).notify(
            "m"
        )
    assert (delivery.ok, delivery.attempts) == (True, 3)
    assert len(recorder.requests) == 3
    assert sleeps == [2.0, 4.0]


def test_sms_refused_number_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    refusal = {
        "code": 21211,
        "message": "The 'To' number +1418555 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    recorder = TwilioRecorder(failures=[(400, refusal)])
    sleeps = Sleeps()
    with caplog.at_level(logging.ERROR, "research.notify"), twilio_server(recorder) as url:
        [delivery] = Notifier(notify_options(sms_config(url), environ=ENV), sleep=sleeps).notify(
            "m"
        )
    assert (delivery.ok, delivery.attempts) == (False, 1)
    assert delivery.error is not None and "21211" in delivery.error
    assert len(recorder.requests) == 1 and sleeps == []
    assert "not retried" in caplog.text


def test_sms_unreachable_api_gives_up_after_the_attempts() -> None:
    with twilio_server(TwilioRecorder()) as url:
        pass  # the port is closed again: nothing listens there now
    sleeps = Sleeps()
    [delivery] = Notifier(notify_options(sms_config(url), environ=ENV), sleep=sleeps).notify("m")
    assert (delivery.ok, delivery.attempts) == (False, 3)
    assert sleeps == [2.0, 4.0]


def test_sms_without_token_is_a_permanent_failure() -> None:
    recorder = TwilioRecorder()
    with twilio_server(recorder) as url:
        [delivery] = Notifier(notify_options(sms_config(url), environ={})).notify("m")
    assert not delivery.ok and delivery.attempts == 1
    assert (
        delivery.error
        == "Twilio auth token: environment variable IVR211_TWILIO_AUTH_TOKEN is not set"
    )
    assert recorder.requests == []


def test_base_url_must_be_http() -> None:
    with pytest.raises(SettingError, match="twilio_api_url"):
        BaseUrlHttpClient("ftp://relay")


# ---- email ---------------------------------------------------------------------------


def test_email_plain_relay() -> None:
    recorder = SmtpRecorder()
    with smtp_server(recorder) as port:
        config = notify_config(
            email_to=["recherche@chu.test", "coord@chu.test"],
            email_from="ivr211@211.test",
            smtp_port=port,
            smtp_security="none",
        )
        [delivery] = Notifier(notify_options(config, environ=ENV)).notify("voice_message:1")
    assert (delivery.channel, delivery.ok, delivery.attempts) == ("email", True, 1)
    [received] = recorder.messages
    assert received.mail_from == "ivr211@211.test"
    assert received.rcpt_tos == ["recherche@chu.test", "coord@chu.test"]
    msg = email.message_from_bytes(received.content, policy=email.policy.default)
    assert msg["Subject"] == NotifyConfig().email_subject
    assert msg["To"] == "recherche@chu.test, coord@chu.test"
    assert msg["Message-ID"] == delivery.reference
    body = msg.get_body()
    assert body is not None
    assert body.get_content().strip() == NotifyConfig().message


def test_email_starttls_and_login(tmp_path: Path) -> None:
    context, ca = self_signed(tmp_path)
    recorder = SmtpRecorder()
    with smtp_server(recorder, tls=context) as port:
        config = notify_config(
            email_to=["recherche@chu.test"],
            smtp_port=port,
            smtp_security="starttls",
            smtp_ca_file=ca,
            smtp_username="ivr211",
            smtp_password_env="SMTP_PW",
        )
        [delivery] = Notifier(notify_options(config, environ=ENV)).notify("m")
    assert delivery.ok
    assert recorder.logins == [("ivr211", "relay-secret")]
    [received] = recorder.messages
    assert received.tls and received.login == "ivr211"


def test_email_implicit_tls(tmp_path: Path) -> None:
    context, ca = self_signed(tmp_path)
    recorder = SmtpRecorder()
    with smtp_server(recorder, tls=context, implicit_tls=True) as port:
        config = notify_config(
            email_to=["recherche@chu.test"], smtp_port=port, smtp_security="ssl", smtp_ca_file=ca
        )
        [delivery] = Notifier(notify_options(config, environ=ENV)).notify("m")
    assert delivery.ok
    assert [m.rcpt_tos for m in recorder.messages] == [["recherche@chu.test"]]


def test_email_untrusted_certificate_is_not_sent(tmp_path: Path) -> None:
    context, _ = self_signed(tmp_path)
    recorder = SmtpRecorder()
    sleeps = Sleeps()
    with smtp_server(recorder, tls=context) as port:
        config = notify_config(email_to=["r@chu.test"], smtp_port=port, attempts=2)
        [delivery] = Notifier(notify_options(config, environ=ENV), sleep=sleeps).notify("m")
    assert not delivery.ok and delivery.attempts == 2
    assert delivery.error is not None and "CERTIFICATE_VERIFY_FAILED" in delivery.error
    assert recorder.messages == []


def test_email_wrong_password_is_not_retried(tmp_path: Path) -> None:
    context, ca = self_signed(tmp_path)
    recorder = SmtpRecorder()
    sleeps = Sleeps()
    with smtp_server(recorder, tls=context) as port:
        config = notify_config(
            email_to=["r@chu.test"],
            smtp_port=port,
            smtp_ca_file=ca,
            smtp_username="ivr211",
            smtp_password_env="SMTP_PW",
        )
        [delivery] = Notifier(
            notify_options(config, environ={"SMTP_PW": "wrong"}), sleep=sleeps
        ).notify("m")
    assert (delivery.ok, delivery.attempts, sleeps) == (False, 1, [])
    assert delivery.error is not None and delivery.error.startswith("SMTP 535")
    assert recorder.messages == []


def test_email_temporary_refusal_is_retried() -> None:
    recorder = SmtpRecorder(refuse_with="451 4.3.0 try again later")
    sleeps = Sleeps()
    with smtp_server(recorder) as port:
        config = notify_config(email_to=["r@chu.test"], smtp_port=port, smtp_security="none")
        notifier = Notifier(notify_options(config, environ=ENV), sleep=sleeps)
        [first] = notifier.notify("m")
        recorder.refuse_with = None
        [second] = notifier.notify("m")
    assert (first.ok, first.attempts, first.error) == (False, 3, "SMTP 451 4.3.0 try again later")
    assert sleeps == [2.0, 4.0]
    assert (second.ok, len(recorder.messages)) == (True, 1)


# ---- the ingest hook -------------------------------------------------------------------


def test_hook_without_channels_sends_nothing() -> None:
    assert notify_new_message(notify_options(Config().notify, environ=ENV), 1) is None


def test_hook_sends_both_in_the_background(tmp_path: Path) -> None:
    smtp = SmtpRecorder()
    twilio = TwilioRecorder()
    with smtp_server(smtp) as port, twilio_server(twilio) as url:
        path = tmp_path / "ivr211.toml"
        path.write_text(
            "[notify]\n"
            'email_to = ["recherche@chu.test"]\n'
            f"smtp_port = {port}\n"
            'smtp_security = "none"\n'
            'sms_to = ["+14185550100"]\n'
            'sms_from = "+14185550199"\n'
            f'twilio_account_sid = "{ACCOUNT}"\n'
            f'twilio_api_url = "{url}"\n',
            encoding="utf-8",
        )
        config = load_config(path, environ={})
        thread = notify_new_message(notify_options(config.notify, environ=ENV), 42)
        assert thread is not None
        thread.join()
    assert [m.rcpt_tos for m in smtp.messages] == [["recherche@chu.test"]]
    assert [r.form["To"] for r in twilio.requests] == [["+14185550100"]]


def test_hook_never_raises_into_the_ingester(caplog: pytest.LogCaptureFixture) -> None:
    config = Config(
        notify=notify_config(email_to=["r@chu.test"], smtp_port=1, smtp_security="none", attempts=1)
    )
    with caplog.at_level(logging.ERROR, "research.notify"):
        thread = notify_new_message(notify_options(config.notify, environ=ENV), 9)
        assert thread is not None
        thread.join()
    assert "voice_message:9" in caplog.text and "given up after 1 tries" in caplog.text


def test_sms_needs_an_account() -> None:
    with pytest.raises(ValueError, match="sms_to needs sms_from and twilio_account_sid"):
        NotifyConfig.model_validate({"sms_to": ["+14185550100"]})


# ---- a research account's password reset or creation ------------------------------------


def test_cli_reset_of_a_research_password_is_audited_and_mailed_to_the_team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp = SmtpRecorder()
    with smtp_server(smtp) as port:
        path = tmp_path / "ivr211.toml"
        path.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "line.db"}"\n'
            "[notify]\n"
            'email_to = ["recherche@chu.test"]\n'
            f"smtp_port = {port}\n"
            'smtp_security = "none"\n',
            encoding="utf-8",
        )
        cfg = ["--config", str(path)]
        assert main(["db", "upgrade", *cfg]) == 0
        for name, role in (("lea", "research"), ("marc", "manager")):
            monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
            assert main(["user", "add", name, "--role", role, "--password-stdin", *cfg]) == 0
        for name in ("lea", "marc"):
            monkeypatch.setattr(sys, "stdin", io.StringIO("un tout nouveau mot de passe\n"))
            assert main(["user", "passwd", name, "--password-stdin", *cfg]) == 0
        out = capsys.readouterr().out
    assert out.count("research team told ([notify])") == 2  # lea created, lea reset
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    try:
        with Session(engine) as session:
            rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "account"))
            audited = [(r.user, r.role, r.object, r.detail) for r in rows]
    finally:
        engine.dispose()
    me = getpass.getuser()
    assert audited == [
        (me, "cli", "user:lea", "created"),
        (me, "cli", "user:lea", "password reset"),
    ]
    subjects = [
        email.message_from_bytes(m.content, policy=email.policy.default)["Subject"]
        for m in smtp.messages
    ]
    assert subjects == [
        "Compte de recherche lea : compte créé / Research account: account created",
        "Compte de recherche lea : mot de passe réinitialisé / Research account: password reset",
    ]
    body = email.message_from_bytes(smtp.messages[1].content, policy=email.policy.default)
    text = body.get_body()
    assert text is not None
    assert f"par {me} (cli)" in text.get_content() and f"by {me} (cli)" in text.get_content()


def test_no_notice_for_another_account_or_without_a_channel() -> None:
    at = datetime(2026, 12, 5, 3, 10, tzinfo=UTC)
    options = notify_options(notify_config(email_to=["r@chu.test"], smtp_port=1), environ=ENV)
    manager = AccountChange("marc", "manager", "password reset", "admin", "admin", at)
    research = AccountChange("lea", "research", "password reset", "admin", "admin", at)
    assert notify_account_change(options, manager) is None
    assert notify_account_change(notify_options(Config().notify, environ=ENV), research) is None
