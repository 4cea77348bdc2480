"""``ivr211 simulate --backend twilio``: one call through the Twilio webhooks, in this
process, on the line's database (``twilio_line.simulate`` plays Twilio's part).

The webhooks get a Flask app of their own; each request is signed as Twilio signs it,
with a key made up for the run (no auth token is needed), and checked by the same code
as in production. The TwiML exchanged is printed, then the flow's decision as the
FastAGI simulator prints the channel variables (``agi_scripts.runner.decision_variables``),
so the two back ends can be compared line for line.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TextIO

from flask import Flask
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator

from agi_scripts.runner import decision_variables
from ivr.actions import Decision
from ivr.dialplan import Route
from ivr.settings import LineSettings
from ivr211.cli.common import open_engine
from ivr211.config import Config
from ivr211.twilio_options import twilio_options
from store.db import require_current
from store.linesettings import CachedSettings, SettingsStore
from twilio_line import simulate as twilio_simulate
from twilio_line.calls import CallDesk
from twilio_line.options import TwilioOptions
from twilio_line.twiml import Urls
from twilio_line.webhooks import SIGNATURE_HEADER, create_blueprint

__all__ = ["SIMULATED_URL", "simulate_twilio", "twilio_call"]

#: The public URL of a simulated call when ``[twilio] public_url`` is not set.
SIMULATED_URL = "https://ivr211.invalid"


def simulate_twilio(parsed: argparse.Namespace, config: Config) -> int:
    """``ivr211 simulate --backend twilio`` with the parsed options."""
    for key in (parsed.keys or "").split(","):
        if key.strip() and not twilio_simulate.valid_key(key.strip()):
            print(f"invalid key {key.strip()!r} in --keys", file=sys.stderr)
            return 2
    if parsed.leave_message:
        print("--leave-message is for the FastAGI back end", file=sys.stderr)
        return 2
    token = secrets.token_hex(16)
    options = twilio_options(
        config,
        public_url=config.twilio.public_url or SIMULATED_URL,
        auth_token=lambda: token,
    )
    with open_engine(config) as engine:
        require_current(engine)
        source = CachedSettings(SettingsStore(engine), config.line.settings_cache_s)
        code, _decision = twilio_call(
            options, engine, source, lambda: datetime.now(UTC), parsed, sys.stdout
        )
    return code


def twilio_call(
    options: TwilioOptions,
    engine: Engine,
    settings_source: Callable[[], LineSettings],
    clock: Callable[[], datetime],
    parsed: argparse.Namespace,
    out: TextIO,
) -> tuple[int, Decision | None]:
    """One simulated call through the Twilio webhooks; the exit code (0: the flow
    decided, 1: the caller hung up first, 2: a webhook failed) and the decision."""
    app = Flask("ivr211-simulate")
    app.register_blueprint(
        create_blueprint(options, engine=engine, settings_source=settings_source, clock=clock)
    )
    client = app.test_client()
    validator = RequestValidator(options.auth_token())

    def post(url: str, params: Mapping[str, str]) -> tuple[int, str]:
        signature = validator.compute_signature(url, dict(params))
        response = client.post(
            url[len(options.base) :], data=dict(params), headers={SIGNATURE_HEADER: signature}
        )
        return response.status_code, response.get_data(as_text=True)

    withheld = getattr(parsed, "withheld", None)
    if parsed.keys is not None:
        next_key = twilio_simulate.scripted_keys(parsed.keys)
    else:
        next_key = twilio_simulate.interactive_keys(out)
    caller = twilio_simulate.TwilioCaller(
        Urls(options),
        post,
        next_key,
        out,
        from_=twilio_simulate.caller_from(parsed.caller, withheld),
    )
    queue_exit = (parsed.language or "fr") if parsed.entry == "queue-exit" else None
    call = caller.run(queue_exit_language=queue_exit)
    decision = CallDesk(options, engine, settings_source, clock).decision(call.call_sid)
    if call.error is not None:
        print(f"the call broke off: {call.error}", file=sys.stderr)
    route = "(none)" if decision is None else decision.route.value
    print(f"route: {route}", file=out)
    if decision is not None:
        for name, value in decision_variables(decision):
            print(f"  {name} = {value}", file=out)
    done = decision is not None and decision.route is not Route.HANGUP
    print("flow finished" if done else "flow did NOT finish", file=out)
    if call.error is not None:
        return 2, decision
    return (0 if done else 1), decision
