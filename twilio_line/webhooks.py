"""The Flask blueprint Twilio's voice webhooks reach, built by :func:`create_blueprint`.

Routes (under ``TwilioOptions.url_prefix``, ``/twilio`` by default):

- ``POST /voice``: the number's "A call comes in" webhook;
- ``POST /step/<pass>/<step>``: the caller's answer to one action of the flow;
- ``POST /after/<pass>/<step>/<dial|record|queue>``: what follows a decision;
- ``POST /wait/<pass>``: the queue's ``waitUrl``, while the caller waits;
- ``POST /status``: the number's "Call status changes" callback;
- ``POST /recording``: a research message's recording is ready (set by ``<Record>``);
- ``POST /review/<pass>/<step>/<round>``: the caller's key in the review of their
  research message (``twilio_line.review``);
- ``GET /review-audio/<CallSid>/<RecordingSid>/<expires>/<token>.wav``: that message
  played back to its caller during the review (not signed by Twilio: an HMAC in the URL);
- ``POST /join/<CallSid>``: a caller a navigator took, into the conference of the call;
- ``POST /conference``: the conferences' status callback (``twilio_line.conference``);
- ``POST /service``: the call progress of a leg dialled into a conference (a service,
  or the navigator who took the call);
- ``POST /requeue/<CallSid>``: the caller back in the queue (the navigator's phone did
  not answer);
- ``GET /prompts/<language>/<name>.wav``: the prompts' audio, what every caller hears.

Every ``POST`` is checked with the library's ``RequestValidator`` against the URL Twilio
called: ``public_url`` + the path (+ the query), never the URL the web process sees behind
its proxy. A request whose ``X-Twilio-Signature`` does not match is answered ``403`` and
logged with the escaped URL and the client's address; so is a validly signed request for
a step the call is not at (a replay, ``calls.Replayed``). The audio route is not signed:
Twilio fetches ``<Play>`` URLs as any client would, and a prompt is public (every caller
hears it).

A failure (the database down) answers 500: Twilio then plays the number's fallback URL,
a static TwiML document hosted apart (README, "Twilio back end").
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from flask import Blueprint, Response, abort, request, send_file
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from ivr.actions import Decision
from ivr.logsafe import printable
from ivr.settings import LineSettings
from store.calls import CallFact
from twilio_line.calls import ENDED_STATUSES, Answer, CallDesk, CallError, Replayed, UnknownCall
from twilio_line.conference import ConferenceDesk, join_twiml, taken
from twilio_line.options import TwilioOptions
from twilio_line.recordings import RecordingError
from twilio_line.review import valid_audio_token
from twilio_line.twiml import prompt_file
from twilio_line.waiting import wait_twiml

__all__ = ["BLUEPRINT_NAME", "SIGNATURE_HEADER", "create_blueprint", "signed_url"]

log = logging.getLogger(__name__)

BLUEPRINT_NAME = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
F = TypeVar("F", bound=Callable[..., Any])
DecisionHook = Callable[[str, Decision, Mapping[str, str]], object]


class RecordingHook(Protocol):
    """The research box's recordings (``twilio_line.recordings.RecordingTaker``)."""

    def __call__(self, form: Mapping[str, str]) -> object: ...

    def settle(self, call_sid: str) -> object: ...

    def audio(self, call_sid: str, recording_sid: str) -> bytes: ...


CallWriter = Callable[[Sequence[CallFact]], object]


def signed_url(options: TwilioOptions, path: str, query: bytes | str = b"") -> str:
    """The URL Twilio called and signed: the public URL, the path as the web process
    sees it under its root, and the query string as sent."""
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    return options.base + path + (f"?{text}" if text else "")


def twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def create_blueprint(
    options: TwilioOptions,
    *,
    engine: Engine,
    settings_source: Callable[[], LineSettings],
    clock: Callable[[], datetime],
    on_decision: DecisionHook | None = None,
    on_recording: RecordingHook | None = None,
    record_calls: CallWriter | None = None,
) -> Blueprint:
    """The blueprint, its routes registered here and nowhere else.

    ``on_decision(call_sid, decision, form)`` runs once the flow decided (and when a call
    ends before it did); ``on_recording(form)`` takes a research message's recording
    callback; ``record_calls(facts)`` writes the call facts a request brought
    (``twilio_line.calllog``). The first and the last may not fail the webhook: what
    they raise is logged (the call goes on; its state is already saved)."""
    desk = CallDesk(options, engine, settings_source, clock)
    conferences = ConferenceDesk(options, engine, clock)
    bp = Blueprint(BLUEPRINT_NAME, __name__, url_prefix=options.url_prefix)

    def refuse(why: str) -> Response:
        log.warning(
            "Twilio webhook refused (%s): %s %s from %s",
            printable(why),
            printable(request.method),
            printable(signed_url(options, request.path, request.query_string)),
            printable(request.remote_addr or "?"),
        )
        return Response("", status=403, mimetype="text/plain")

    def signed(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                token = options.auth_token()
            except (LookupError, OSError, ValueError) as exc:
                log.error("Twilio webhooks cannot be checked: %s", printable(exc))
                return refuse("no auth token to check the signature with")
            url = signed_url(options, request.path, request.query_string)
            signature = request.headers.get(SIGNATURE_HEADER, "")
            if not signature or not RequestValidator(token).validate(url, request.form, signature):
                return refuse("bad signature")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def hook(call_sid: str, answer: Answer, form: Mapping[str, str]) -> None:
        if answer.facts and record_calls is not None:
            try:
                record_calls(answer.facts)
            except Exception:
                log.exception("call %s: its call record was not written", printable(call_sid))
        if answer.decision is None or on_decision is None:
            return
        try:
            on_decision(call_sid, answer.decision, form)
        except Exception:
            log.exception("call %s: the decision hook failed", printable(call_sid))

    def form() -> dict[str, str]:
        return {key: request.form.get(key, "") for key in request.form}

    @bp.post("/voice")
    @signed
    def voice() -> Response:
        data = form()
        try:
            answer = desk.incoming(data)
        except CallError as exc:
            return refuse(str(exc))
        hook(data.get("CallSid", ""), answer, data)
        return twiml(answer.twiml)

    @bp.post("/step/<int:pass_no>/<int:step>")
    @signed
    def step(pass_no: int, step: int) -> Response:
        data = form()
        try:
            answer = desk.step(pass_no, step, data)
        except (Replayed, UnknownCall) as exc:
            return refuse(str(exc))
        hook(data.get("CallSid", ""), answer, data)
        return twiml(answer.twiml)

    @bp.post("/after/<int:pass_no>/<int:step>/<stage>")
    @signed
    def after(pass_no: int, step: int, stage: str) -> Response:
        data = form()
        call_sid = data.get("CallSid", "")
        if stage == "queue" and data.get("QueueResult") == "redirected" and taken(engine, call_sid):
            # A navigator took the caller out of the queue (``twilio_line.console``).
            return twiml(join_twiml(options, call_sid))
        try:
            answer = desk.after(pass_no, step, stage, data)
        except CallError as exc:
            return refuse(str(exc))
        hook(data.get("CallSid", ""), answer, data)
        return twiml(answer.twiml)

    @bp.post("/wait/<int:pass_no>")
    @signed
    def wait(pass_no: int) -> Response:
        data = form()
        try:
            decision = desk.decision(data.get("CallSid", ""))
            settings = settings_source()
        except CallError as exc:
            return refuse(str(exc))
        return twiml(wait_twiml(options, settings, decision, data, clock()))

    @bp.post("/status")
    @signed
    def status() -> Response:
        data = form()
        try:
            answer = desk.status(data)
        except UnknownCall as exc:
            log.info("status of a call this line does not know: %s", printable(exc))
            return Response("", status=204)
        hook(data.get("CallSid", ""), answer, data)
        if data.get("CallStatus", "") in ENDED_STATUSES:
            conferences.caller_gone(data.get("CallSid", ""))
            if on_recording is not None:
                # The research messages the caller kept (or left in review by hanging up)
                # are taken now; one that fails stays for the retry (RecordingTaker.retake).
                try:
                    on_recording.settle(data.get("CallSid", ""))
                except Exception:
                    log.exception(
                        "call %s: a research recording was not taken (Twilio keeps it)",
                        printable(data.get("CallSid", "")),
                    )
        return Response("", status=204)

    @bp.post("/review/<int:pass_no>/<int:step>/<int:round_no>")
    @signed
    def review(pass_no: int, step: int, round_no: int) -> Response:
        data = form()
        try:
            answer = desk.review(pass_no, step, round_no, data)
        except CallError as exc:
            return refuse(str(exc))
        hook(data.get("CallSid", ""), answer, data)
        return twiml(answer.twiml)

    @bp.get("/review-audio/<call_sid>/<recording_sid>/<int:expires>/<token>.wav")
    def review_audio(call_sid: str, recording_sid: str, expires: int, token: str) -> Response:
        try:
            key = options.auth_token()
        except (LookupError, OSError, ValueError):
            abort(404)
        now_s = clock().timestamp()
        if not valid_audio_token(key, call_sid, recording_sid, expires, token, now_s):
            return refuse("bad or expired playback token")
        if on_recording is None or not desk.reviewing(call_sid, recording_sid):
            abort(404)
        try:
            audio = on_recording.audio(call_sid, recording_sid)
        except RecordingError as exc:
            log.error(
                "recording %s of call %s could not be played back: %s",
                printable(recording_sid),
                printable(call_sid),
                printable(exc),
            )
            abort(503)
        return Response(audio, mimetype="audio/wav", headers={"Cache-Control": "no-store"})

    @bp.post("/join/<call_sid>")
    @signed
    def join(call_sid: str) -> Response:
        if request.form.get("CallSid", "") != call_sid or not taken(engine, call_sid):
            return refuse(f"call {call_sid} was not taken by a navigator")
        return twiml(join_twiml(options, call_sid))

    @bp.post("/requeue/<call_sid>")
    @signed
    def requeue(call_sid: str) -> Response:
        if request.form.get("CallSid", "") != call_sid:
            return refuse(f"requeue of {call_sid} for another call")
        try:
            return twiml(desk.requeue(call_sid))
        except CallError as exc:
            return refuse(str(exc))

    @bp.post("/conference")
    @signed
    def conference() -> Response:
        conferences.conference_event(form())
        return Response("", status=204)

    @bp.post("/service")
    @signed
    def service() -> Response:
        conferences.service_event(form())
        return Response("", status=204)

    @bp.post("/recording")
    @signed
    def recording() -> Response:
        data = form()
        if on_recording is not None:
            try:
                on_recording(data)
            except RecordingError as exc:
                log.error(
                    "recording %s of call %s not taken (Twilio keeps it): %s",
                    printable(data.get("RecordingSid", "?")),
                    printable(data.get("CallSid", "?")),
                    printable(exc),
                )
                return Response("", status=500)
            except Exception:
                log.exception(
                    "recording %s of call %s not taken (Twilio keeps it)",
                    printable(data.get("RecordingSid", "?")),
                    printable(data.get("CallSid", "?")),
                )
                return Response("", status=500)
        return Response("", status=204)

    @bp.get("/prompts/<language>/<name>.wav")
    def prompt(language: str, name: str) -> Response:
        path = prompt_file(options.sounds_dir, language, name)
        if path is None:
            abort(404)
        return send_file(path, mimetype="audio/wav", max_age=3600)

    return bp
