"""One call on Twilio: the flow rebuilt from the database at each webhook.

Why the database, keyed on ``CallSid`` (``store.twilio_calls``), and not a signed token
in the URLs: a token would have to carry the caller's number and, in the research box,
the callback number typed, into URLs that Twilio logs and keeps with the call (personal
data outside Québec, out of the retention job's reach), and a token cannot be revoked:
any URL of a call stays valid for every later step. The row lives in the line's own
database, survives a restart of the web process, serves a second web process as it
serves the first, and says where each call is; it is purged with the retention job.

What is kept is not the flow's private state but what the flow was given: when the
pass started, what it knew of the caller, and the events of the pass in order. Each
webhook builds ``ivr.flow.CallFlow`` again from the line settings and replays the
events: the flow is reused unchanged, exactly as the FastAGI adapter drives it. A
fingerprint of every action the pass has played so far is kept too (``digest``): when
the replay no longer leads through the same actions (an administrator changed the
menus, or forced the line closed, in between), the keys the caller pressed answered
menus that no longer exist; none is applied to another menu, and the pass starts again
from its first action on the settings of now.

Each answer's URL names the pass and the step it answers (``twiml.Urls.step``). A
request for the step just done, with the same event, is answered again the same way (a
retry); any other step is refused (``Replayed``): a request recorded and sent again, or
one for another pass of the call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from ivr.actions import (
    Decision,
    Finish,
    HungUp,
    PromptRef,
)
from ivr.callerid import caller_number
from ivr.dialplan import Route
from ivr.flow import ENTRY_QUEUE_EXIT, FlowError
from ivr.logsafe import printable
from ivr.settings import Language, LineSettings
from store.calls import CallFact
from store.twilio_calls import DISCARDED, KEPT, REVIEW, TwilioCall, add_call, call_by_sid
from twilio_line.calllog import decision_fact, end_fact, queue_fact, research_fact
from twilio_line.options import TwilioOptions
from twilio_line.replay import decision_from_data, decision_to_data, encode_event, replay
from twilio_line.review import AUDIO_TTL_S, KEEP, LISTEN, RERECORD, SILENT_ROUNDS, audio_token
from twilio_line.twiml import Renderer, Urls, event_for, keys
from twilio_line.waiting import longest_wait_s

__all__ = [
    "CallDesk",
    "Replayed",
    "UnknownCall",
]

log = logging.getLogger(__name__)

SettingsSource = Callable[[], LineSettings]
Clock = Callable[[], datetime]

#: Twilio's ``CallStatus`` values that end a call.
ENDED_STATUSES: Final = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
#: ``QueueResult`` values after which the caller is no longer on the line (or talked to
#: a navigator): the call is over.
_QUEUE_DONE: Final = frozenset({"bridged", "bridging-in-process", "hangup"})
_DIAL_DONE: Final = frozenset({"completed", "answered"})


class CallError(Exception):
    """A webhook that cannot be served as asked."""


class UnknownCall(CallError):
    """A step for a CallSid this line never saw (or already purged)."""


class Replayed(CallError):
    """A step other than the one the call is at: a replayed or stale request."""


@dataclass(frozen=True)
class Answer:
    """What one webhook answers, the decision when the flow has just made one, and the
    call facts the request brought (``twilio_line.calllog``)."""

    twiml: VoiceResponse
    decision: Decision | None = None
    facts: tuple[CallFact, ...] = ()


class CallDesk:
    """Serves the webhooks of every call: one short database transaction each."""

    def __init__(
        self,
        options: TwilioOptions,
        engine: Engine,
        settings_source: SettingsSource,
        clock: Clock,
    ) -> None:
        self.options = options
        self.engine = engine
        self.settings_source = settings_source
        self.clock = clock

    def _renderer(self, settings: LineSettings) -> Renderer:
        return Renderer(self.options, settings)

    # ---- the call comes in --------------------------------------------------------------

    def incoming(self, form: Mapping[str, str]) -> Answer:
        """``A call comes in``: the flow's first action. ``From`` is the caller
        (``ivr.callerid``'s rule decides whether it is withheld); ``To`` the line. The
        same request again is answered the same way until the caller's first event;
        after it, it is a replay."""
        call_sid = form.get("CallSid", "")
        if not call_sid:
            raise CallError("no CallSid")
        settings = self.settings_source()
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            row = call_by_sid(session, call_sid, lock=True)
            if row is None:
                try:
                    with session.begin_nested():
                        row = add_call(
                            session,
                            call_sid=call_sid,
                            at=now,
                            caller_number=caller_number(form.get("From")),
                            dialed_number=form.get("To") or None,
                        )
                except IntegrityError:
                    row = call_by_sid(session, call_sid, lock=True)
                    if row is None:
                        raise
            elif row.passes > 1 or row.event_list() or row.decision is not None:
                raise Replayed(f"call {call_sid}: already past its first step")
            return self._play_from(session, settings, row)

    def _play_from(self, session: Session, settings: LineSettings, row: TwilioCall) -> Answer:
        """Answer with the action the row's pass is at (no event applied)."""
        return self._answer(session, settings, row)

    def _answer(self, session: Session, settings: LineSettings, row: TwilioCall) -> Answer:
        """Answer with the action the row's pass is at once its events are replayed, and
        keep the fingerprint of the pass's actions so far."""
        _flow, action, fingerprint = replay(settings, row)
        row.action_digest = fingerprint
        row.updated_at = self.clock()
        step = len(row.event_list())
        decision = action.decision if isinstance(action, Finish) else None
        if decision is not None:
            row.decision = _json(decision_to_data(decision))
        session.flush()
        renderer = self._renderer(settings)
        facts: tuple[CallFact, ...] = ()
        if decision is not None:
            facts = (self._decision_fact(row, decision),)
        if decision is not None and decision.route is Route.QUEUE:
            given_up = self._give_up_if_done_waiting(renderer, row, decision)
            if given_up is not None:
                return Answer(given_up, decision, facts)
        return Answer(renderer.action(action, row.passes, step), decision, facts)

    def _decision_fact(self, row: TwilioCall, decision: Decision) -> CallFact:
        return decision_fact(
            row.call_sid,
            row.arrived_at,
            self.clock(),
            decision,
            row.caller_number,
            queue_exit=row.entry == ENTRY_QUEUE_EXIT,
        )

    # ---- one step of the flow -----------------------------------------------------------

    def step(self, pass_no: int, step: int, form: Mapping[str, str]) -> Answer:
        """The caller's answer to the action ``step`` of pass ``pass_no``."""
        call_sid = form.get("CallSid", "")
        settings = self.settings_source()
        with Session(self.engine) as session, session.begin():
            row = _locked_call(session, call_sid)
            events = row.event_list()
            if pass_no != row.passes or step not in (len(events), len(events) - 1):
                raise Replayed(
                    f"call {call_sid}: request for pass {pass_no} step {step}, the call is"
                    f" at pass {row.passes} step {len(events)}"
                )
            try:
                flow, action, fingerprint = replay(settings, row)
            except FlowError:
                fingerprint = ""
            if fingerprint != row.action_digest:
                # The line settings changed since the last answer (a menu, the line
                # forced closed...): the events no longer lead where they led, so none
                # is applied to another menu than the one the caller heard. The pass
                # starts again from its first action, on the settings of now.
                log.info(
                    "call %s: the line settings changed during the call; its pass starts again",
                    printable(call_sid),
                )
                row.set_events([])
                row.decision = None
                return self._answer(session, settings, row)
            if step == len(events) - 1:
                return self._retry(settings, row, pass_no, form)
            if isinstance(action, Finish):
                raise Replayed(f"call {call_sid}: the flow already decided")
            event = event_for(action, form)
            try:
                flow.send(event)
            except FlowError:
                log.exception("call %s: the flow refused %r", printable(call_sid), event)
                raise
            row.set_events([*events, encode_event(event)])
            return self._answer(session, settings, row)

    def _retry(
        self,
        settings: LineSettings,
        row: TwilioCall,
        pass_no: int,
        form: Mapping[str, str],
    ) -> Answer:
        """The step just done, asked again: the same answer when the event is the same."""
        events = row.event_list()
        _flow, previous, _fingerprint = replay(settings, row, events[:-1])
        if isinstance(previous, Finish) or encode_event(event_for(previous, form)) != events[-1]:
            raise Replayed(f"call {row.call_sid}: step {len(events) - 1} already answered")
        _flow, action, _fingerprint = replay(settings, row)
        return Answer(self._renderer(settings).action(action, pass_no, len(events)))

    # ---- after the decision -------------------------------------------------------------

    def after(self, pass_no: int, step: int, stage: str, form: Mapping[str, str]) -> Answer:
        """What follows a ``<Dial>``, ``<Record>`` or ``<Enqueue>`` (the dialplan's
        contexts after the flow: ``[ivr211-transfer]``, ``[ivr211-research]``,
        ``[ivr211-queue]``)."""
        call_sid = form.get("CallSid", "")
        settings = self.settings_source()
        renderer = self._renderer(settings)
        with Session(self.engine) as session, session.begin():
            row = _locked_call(session, call_sid)
            data = row.decision_data()
            if data is None or pass_no != row.passes or step != len(row.event_list()):
                raise Replayed(f"call {call_sid}: no decision at pass {pass_no} step {step}")
            decision = decision_from_data(data)
            language = decision.language
            if stage == "dial":
                if form.get("DialCallStatus", "") in _DIAL_DONE:
                    return Answer(renderer.goodbye(language))
                # [ivr211-dial-dest]: "transfer failed", then [ivr211-queue].
                response = VoiceResponse()
                renderer.prompt(response, _ref("transfer-failed", language))
                given_up = self._give_up_if_done_waiting(renderer, row, decision, response)
                if given_up is None:
                    renderer.enqueue(response, settings.queue_name, pass_no, step)
                return Answer(response)
            if stage == "record":
                return self._recorded(renderer, row, decision, pass_no, step, form)
            if stage == "queue":
                now = self.clock()
                waited = queue_fact(
                    row.call_sid,
                    row.arrived_at,
                    now,
                    decision.queue or settings.queue_name,
                    form.get("QueueResult", ""),
                    _int(form.get("QueueTime")),
                    cut_at_closing=longest_wait_s(self.options, decision, now)
                    < self.options.queue_max_wait_s,
                )
                wait_facts = () if waited is None else (waited,)
                if form.get("QueueResult", "") in _QUEUE_DONE:
                    return Answer(renderer.goodbye(language), facts=wait_facts)
                answer = self._queue_exit(session, settings, row, language)
                return Answer(answer.twiml, answer.decision, wait_facts + answer.facts)
            raise CallError(f"unknown stage {stage!r}")

    # ---- the research message's review (twilio_line.review) ----------------------------

    def _recorded(
        self,
        renderer: Renderer,
        row: TwilioCall,
        decision: Decision,
        pass_no: int,
        step: int,
        form: Mapping[str, str],
    ) -> Answer:
        """The ``<Record>``'s action: the review menu for what was just recorded."""
        language = decision.language
        recording_sid = form.get("RecordingSid", "")
        if not recording_sid or _int(form.get("RecordingDuration")) <= 0:
            return Answer(renderer.goodbye(language, "goodbye"))
        state = row.recordings().get(recording_sid)
        reviewing, rounds, _silent = row.review()
        if reviewing == recording_sid and state == REVIEW:
            # The same action again (a retry): the same menu.
            response = VoiceResponse()
            renderer.review_menu(response, language, pass_no, step, rounds)
            return Answer(response)
        if state not in (None, REVIEW):
            raise Replayed(f"call {row.call_sid}: recording {recording_sid} is {state}")
        row.updated_at = self.clock()
        if row.ended_at is not None:
            # The caller hung up while recording: the message is kept, as app_voicemail
            # keeps it.
            row.set_recording(recording_sid, KEPT)
            row.set_review(None, rounds, 0)
            return self._kept(renderer, row, language)
        row.set_recording(recording_sid, REVIEW)
        row.set_review(recording_sid, rounds + 1, 0)
        response = VoiceResponse()
        renderer.review_menu(response, language, pass_no, step, rounds + 1)
        return Answer(response)

    def _kept(self, renderer: Renderer, row: TwilioCall, language: Language) -> Answer:
        return Answer(
            renderer.goodbye(language, "research-thanks"),
            facts=(research_fact(row.call_sid, row.arrived_at),),
        )

    def review(self, pass_no: int, step: int, round_no: int, form: Mapping[str, str]) -> Answer:
        """The caller's key in the review menu ``round_no`` (``twilio_line.review``)."""
        call_sid = form.get("CallSid", "")
        settings = self.settings_source()
        renderer = self._renderer(settings)
        with Session(self.engine) as session, session.begin():
            row = _locked_call(session, call_sid)
            data = row.decision_data()
            reviewing, rounds, silent = row.review()
            if (
                data is None
                or data.get("route") != Route.RESEARCH.value
                or pass_no != row.passes
                or step != len(row.event_list())
                or reviewing is None
                or row.recordings().get(reviewing) != REVIEW
                or round_no != rounds
            ):
                raise Replayed(f"call {call_sid}: no review menu {round_no} at {pass_no}/{step}")
            language = decision_from_data(data).language
            key = keys(form.get("Digits"), 1)
            row.updated_at = self.clock()
            response = VoiceResponse()
            if key == KEEP or (not key and silent + 1 >= SILENT_ROUNDS):
                row.set_recording(reviewing, KEPT)
                row.set_review(None, rounds, 0)
                return self._kept(renderer, row, language)
            if key == RERECORD:
                row.set_recording(reviewing, DISCARDED)
                row.set_review(None, rounds, 0)
                renderer.prompt(response, _ref("research-record", language))
                renderer.record(response, pass_no, step)
                return Answer(response)
            if key == LISTEN:
                response.play(self._audio_url(call_sid, reviewing))
            row.set_review(reviewing, rounds + 1, silent if key else silent + 1)
            renderer.review_menu(response, language, pass_no, step, rounds + 1)
            return Answer(response)

    def _audio_url(self, call_sid: str, recording_sid: str) -> str:
        expires = int(self.clock().timestamp()) + AUDIO_TTL_S
        token = audio_token(self.options.auth_token(), call_sid, recording_sid, expires)
        return Urls(self.options).review_audio(call_sid, recording_sid, expires, token)

    def reviewing(self, call_sid: str, recording_sid: str) -> bool:
        """Whether the caller is reviewing that recording now (its playback may be served)."""
        with Session(self.engine) as session:
            row = call_by_sid(session, call_sid)
            if row is None or row.ended_at is not None:
                return False
            reviewing, _rounds, _silent = row.review()
            return reviewing == recording_sid and row.recordings().get(recording_sid) == REVIEW

    def _queue_exit(
        self, session: Session, settings: LineSettings, row: TwilioCall, language: str
    ) -> Answer:
        """The wait ended without a navigator: the flow's ``queue-exit`` pass."""
        row.passes += 1
        row.entry = ENTRY_QUEUE_EXIT
        row.entry_language = language
        row.pass_started_at = self.clock()
        row.set_events([])
        row.decision = None
        return self._play_from(session, settings, row)

    def _give_up_if_done_waiting(
        self,
        renderer: Renderer,
        row: TwilioCall,
        decision: Decision,
        response: VoiceResponse | None = None,
    ) -> VoiceResponse | None:
        """After ``queue_max_passes`` waits the line gives up, as ``[ivr211-queue]``'s
        ``give-up``: nobody is available, the emergency numbers, goodbye (added to
        ``response`` when given)."""
        if row.passes <= self.options.queue_max_passes:
            return None
        response = VoiceResponse() if response is None else response
        for name in ("queue-unavailable", "emergency-numbers", "goodbye"):
            renderer.prompt(response, _ref(name, decision.language))
        response.hangup()
        return response

    # ---- the call ends --------------------------------------------------------------------

    def status(self, form: Mapping[str, str]) -> Answer:
        """Twilio's call status callback. When the call ended before the flow decided,
        the flow hears ``HungUp`` (its path ends in ``hangup``, route ``hangup``) and the
        answer carries that decision; its facts say when the call ended."""
        call_sid = form.get("CallSid", "")
        call_status = form.get("CallStatus", "")
        if call_status not in ENDED_STATUSES:
            return Answer(VoiceResponse())
        settings = self.settings_source()
        with Session(self.engine) as session, session.begin():
            row = _locked_call(session, call_sid)
            ended_at = row.ended_at or self.clock()
            facts: tuple[CallFact, ...] = (end_fact(call_sid, row.arrived_at, ended_at),)
            if row.ended_at is not None:
                return Answer(VoiceResponse(), facts=facts)
            row.ended_at = ended_at
            row.end_status = call_status[:16]
            row.updated_at = ended_at
            reviewed = [sid for sid, state in row.recordings().items() if state == REVIEW]
            if reviewed:
                # A caller who hangs up during the review keeps the message.
                for sid in reviewed:
                    row.set_recording(sid, KEPT)
                _sid, rounds, _silent = row.review()
                row.set_review(None, rounds, 0)
                facts = (research_fact(call_sid, row.arrived_at), *facts)
            if row.decision is not None:
                return Answer(VoiceResponse(), facts=facts)
            try:
                flow, _action, _fingerprint = replay(settings, row)
                final = flow.send(HungUp())
            except FlowError:
                # The settings changed so much the events no longer fit: the hang-up
                # ends the pass where it started.
                flow, _action, _fingerprint = replay(settings, row, [])
                row.set_events([])
                final = flow.send(HungUp())
            if not isinstance(final, Finish):
                return Answer(VoiceResponse(), facts=facts)
            row.set_events([*row.event_list(), encode_event(HungUp())])
            row.decision = _json(decision_to_data(final.decision))
            facts = (self._decision_fact(row, final.decision), *facts)
            return Answer(VoiceResponse(), final.decision, facts)

    def requeue(self, call_sid: str) -> VoiceResponse:
        """Back in the queue, where the caller was: a navigator took the call but their
        phone did not answer (``twilio_line.conference``). The ``<Enqueue>`` of the
        call's pass and step, so its action is the one the wait would have had."""
        settings = self.settings_source()
        with Session(self.engine) as session:
            row = call_by_sid(session, call_sid)
            data = None if row is None else row.decision_data()
            if row is None or data is None:
                raise UnknownCall(f"no decided call {call_sid}")
            decision = decision_from_data(data)
            if decision.route is not Route.QUEUE or row.ended_at is not None:
                raise Replayed(f"call {call_sid} is not waiting for a navigator")
            response = VoiceResponse()
            self._renderer(settings).enqueue(
                response, decision.queue or settings.queue_name, row.passes, len(row.event_list())
            )
            return response

    def decision(self, call_sid: str) -> Decision | None:
        """The call's last decision (``None`` before the flow made one)."""
        with Session(self.engine) as session:
            row = call_by_sid(session, call_sid)
            data = None if row is None else row.decision_data()
            return None if data is None else decision_from_data(data)


def _locked_call(session: Session, call_sid: str) -> TwilioCall:
    """The call's row, locked for this transaction; ``UnknownCall`` when there is none."""
    row = call_by_sid(session, call_sid, lock=True)
    if row is None:
        raise UnknownCall(f"no call {call_sid}")
    return row


def _ref(name: str, language: str) -> PromptRef:
    return PromptRef(name, "en" if language == "en" else "fr")


def _int(value: str | None) -> int:
    try:
        return int(value or "0")
    except ValueError:
        return 0


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), separators=(",", ":"), sort_keys=True)
