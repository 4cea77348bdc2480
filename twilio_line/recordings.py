"""The research box on Twilio: a message recorded by ``<Record>`` goes to the same inbox
as app_voicemail's (``store.voicemail``), then is deleted from Twilio.

Twilio posts the ``recordingStatusCallback`` (``RecordingSid``, ``CallSid``,
``RecordingStatus=completed``, ``RecordingDuration``) once the audio is ready, often
while the caller is still in the review menu (``twilio_line.review``). What became of
each recording is kept in the call's row (``store.twilio_calls``: review, kept,
discarded, taken, gone), so the callback, the end of the call and the retry all take the
same steps, each safe to fail after (Twilio keeps the recording until the last one):

1. the callback must name this account, a call of this line whose flow decided the
   research route, and a completed recording; anything else is left alone and logged;
2. a recording the caller is still reviewing waits (the end of the review or of the call
   takes it); one recorded again (discarded) is deleted from Twilio, never taken;
3. a ``RecordingSid`` already in the inbox (a callback repeated, or a crash before step
   7) is only deleted from Twilio;
4. the recording's resource and its audio are fetched with the account's credentials by
   the twilio library's REST client (``GET .../Recordings/<sid>.json`` and
   ``.../Recordings/<sid>.wav``, always built from the configured account, never from
   the URL in the callback);
5. checked: the recording belongs to that call and is completed, the audio is a WAV
   file; it is written to ``storage_dir/YYYY/MM/<RecordingSid>.wav`` through a temporary
   file, fsynced, and read back against its SHA-256;
6. the message is recorded (``RecordingSid`` as its ``msg_id``: unique, so never twice),
   with the caller's number, the callback number typed and the language from the call;
7. only then is the recording deleted from Twilio (``DELETE .../Recordings/<sid>.json``)
   and marked taken.

A step that fails (Twilio down, a bad checksum, the disk full) leaves the recording kept
and on Twilio: :meth:`RecordingTaker.settle` takes a call's recordings again when it
ends, and :meth:`RecordingTaker.retake` every recording still pending
(``ivr211 reconcile --twilio`` and ``ivr211 retention run`` call it). A recording Twilio
no longer has (404) cannot be taken any more: it is marked gone and logged as lost.

Transcription is never asked for (``<Record transcribe="false">``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from requests import RequestException
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ivr.dialplan import Route
from ivr.logsafe import printable
from store.files import fsync_dir
from store.twilio_calls import (
    DISCARDED,
    GONE,
    KEPT,
    PENDING,
    REVIEW,
    TAKEN,
    call_by_sid,
    calls_with_pending_recordings,
)
from store.voicemail import add_message, message_by_msg_id
from twilio_line.options import TwilioOptions
from twilio_line.review import STALE_REVIEW_S

__all__ = ["RecordingError", "RecordingTaker", "RestHttpClient", "Retaken", "Taken", "media_url"]

log = logging.getLogger(__name__)

API_BASE: Final = "https://api.twilio.com"
AUDIO_FORMAT: Final = "wav"
_RECORDING_SID: Final = re.compile(r"^RE[0-9a-fA-F]{32}$")
_CALL_SID: Final = re.compile(r"^CA[0-9a-fA-F]{32}$")


class RecordingError(Exception):
    """A recording that cannot be taken now; Twilio keeps it."""


class RestHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's own HTTP client, to ``base_url`` instead of api.twilio.com when given
    (a relay, or a test's stand-in), keeping the bytes of the last response: the
    library hands back text, and a recording is audio."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.request_hooks = {"response": [self._keep_body]}
        self.last_body = b""
        self._base = None if base_url is None else urlsplit(base_url)
        if self._base is not None and (
            self._base.scheme not in ("http", "https") or not self._base.netloc
        ):
            raise ValueError(f"twilio.api_url: not an http(s) URL: {base_url!r}")

    def _keep_body(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self.last_body = bytes(response.content or b"")
        return response

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self._base is not None:
            parts = urlsplit(url)
            url = urlunsplit(
                (self._base.scheme, self._base.netloc, parts.path, parts.query, parts.fragment)
            )
        return super().request(method, url, *args, **kwargs)


def media_url(account_sid: str, recording_sid: str) -> str:
    return f"{API_BASE}/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}.{AUDIO_FORMAT}"


@dataclass(frozen=True)
class Taken:
    """What became of one recording."""

    outcome: str  # "stored", "known", "ignored", "review", "discarded", "gone"
    message_id: int | None = None


@dataclass
class Retaken:
    """What one pass over the pending recordings did (:meth:`RecordingTaker.retake`)."""

    stored: int = 0
    discarded: int = 0
    waiting: int = 0
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"Twilio recordings: {self.stored} research messages taken into the inbox,"
            f" {self.discarded} recorded again deleted, {self.waiting} still in review,"
            f" {len(self.problems)} failed"
        )


class RecordingTaker:
    """Takes the research box's recordings from Twilio into the inbox."""

    def __init__(
        self,
        options: TwilioOptions,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        on_new: Callable[[int], object] | None = None,
    ) -> None:
        self.options = options
        self.engine = engine
        self.clock = clock
        self.on_new = on_new

    def __call__(self, form: Mapping[str, str]) -> Taken:
        return self.take(form)

    def take(self, form: Mapping[str, str]) -> Taken:
        """The recording status callback."""
        recording_sid = form.get("RecordingSid", "")
        call_sid = form.get("CallSid", "")
        account = self.options.account_sid
        if not account:
            raise RecordingError("no account configured ([twilio] account_sid)")
        if form.get("AccountSid") != account:
            return self._ignore(form, "another account")
        if not (_RECORDING_SID.match(recording_sid) and _CALL_SID.match(call_sid)):
            return self._ignore(form, "not a recording of a call")
        if form.get("RecordingStatus", "completed") != "completed":
            return self._ignore(form, f"recording {form.get('RecordingStatus')}")
        return self._settle_one(call_sid, recording_sid, form)

    def settle(self, call_sid: str) -> list[Taken]:
        """Every recording of the call not yet done with: the kept ones taken, the
        discarded ones deleted (the call's status callback, and :meth:`retake`). The
        first failure is raised, after the others were tried."""
        with Session(self.engine) as session:
            row = call_by_sid(session, call_sid)
            pending = (
                []
                if row is None
                else [sid for sid, state in row.recordings().items() if state in PENDING]
            )
        done: list[Taken] = []
        failure: RecordingError | None = None
        for recording_sid in pending:
            try:
                done.append(self._settle_one(call_sid, recording_sid, None))
            except RecordingError as exc:
                log.error(
                    "recording %s of call %s not taken (Twilio keeps it): %s",
                    printable(recording_sid),
                    printable(call_sid),
                    printable(exc),
                )
                failure = failure or exc
        if failure is not None:
            raise failure
        return done

    def retake(self) -> Retaken:
        """Every recording still pending, whatever call it is of: what a failed
        download, check or write left on Twilio is taken in now."""
        report = Retaken()
        with Session(self.engine) as session:
            calls = [row.call_sid for row in calls_with_pending_recordings(session)]
        for call_sid in calls:
            try:
                done = self.settle(call_sid)
            except RecordingError as exc:
                report.problems.append(f"call {call_sid}: {exc}")
                continue
            for taken in done:
                report.stored += taken.outcome == "stored"
                report.discarded += taken.outcome == "discarded"
                report.waiting += taken.outcome == "review"
        return report

    def audio(self, call_sid: str, recording_sid: str) -> bytes:
        """The recording's audio, for its caller's review (``twilio_line.review``)."""
        account = self.options.account_sid
        if not account or not _RECORDING_SID.match(recording_sid):
            raise RecordingError(f"{recording_sid}: not a recording of this account")
        http = RestHttpClient(self.options.api_url, self.options.timeout_s)
        try:
            client = Client(account, self.options.auth_token(), http_client=http, environment={})
            return self._audio(client, http, recording_sid)
        except (TwilioRestException, TwilioException, RequestException) as exc:
            raise RecordingError(f"Twilio: {exc}") from None
        finally:
            if http.session is not None:
                http.session.close()

    def _state(self, call_sid: str, recording_sid: str) -> tuple[str, dict[str, Any]] | None:
        """Decide under the call's lock what to do with the recording: its state (a
        recording first heard of is in review while the call goes on, kept once it
        ended; a review not heard of for long is over), and the message's fields; None
        when it is not a recording of the research box."""
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            row = call_by_sid(session, call_sid, lock=True)
            data = None if row is None else row.decision_data()
            if row is None or data is None or data.get("route") != Route.RESEARCH.value:
                return None
            state = row.recordings().get(recording_sid)
            ended = row.ended_at is not None or (
                now - row.updated_at > timedelta(seconds=STALE_REVIEW_S)
            )
            if state is None or (state == REVIEW and ended):
                state = KEPT if ended else REVIEW
                row.set_recording(recording_sid, state)
                if state == KEPT and row.review()[0] == recording_sid:
                    row.set_review(None, row.review()[1], 0)
            callback = data.get("callback")
            fields: dict[str, Any] = {
                "caller_number": row.caller_number,
                "callback_number": callback if isinstance(callback, str) else None,
                "language": "en" if data.get("language") == "en" else "fr",
            }
            return state, fields

    def _mark(self, call_sid: str, recording_sid: str, state: str) -> None:
        with Session(self.engine) as session, session.begin():
            row = call_by_sid(session, call_sid, lock=True)
            if row is not None:
                row.set_recording(recording_sid, state)

    def _settle_one(
        self, call_sid: str, recording_sid: str, form: Mapping[str, str] | None
    ) -> Taken:
        decided = self._state(call_sid, recording_sid)
        if decided is None:
            why = "not a call of the research box"
            return self._ignore(form or {"RecordingSid": recording_sid, "CallSid": call_sid}, why)
        state, fields = decided
        if state == REVIEW:
            log.info(
                "recording %s of call %s: its caller reviews it; taken after the review",
                printable(recording_sid),
                printable(call_sid),
            )
            return Taken("review")
        if state in (TAKEN, GONE):
            with Session(self.engine) as session:
                known = message_by_msg_id(session, recording_sid) is not None
            if state == GONE or not known:
                return Taken("known")
        account = self.options.account_sid or ""
        with Session(self.engine) as session:
            known = message_by_msg_id(session, recording_sid) is not None
        http = RestHttpClient(self.options.api_url, self.options.timeout_s)
        row_id: int | None = None
        try:
            client = Client(account, self.options.auth_token(), http_client=http, environment={})
            if state == DISCARDED:
                self._delete(client, recording_sid)
                self._mark(call_sid, recording_sid, GONE)
                log.info(
                    "recording %s of call %s recorded again: deleted from Twilio, not taken",
                    printable(recording_sid),
                    printable(call_sid),
                )
                return Taken("discarded")
            if known:
                self._delete(client, recording_sid)
                self._mark(call_sid, recording_sid, TAKEN)
                return Taken("known")
            try:
                received_at, duration_s, audio = self._download(
                    client, http, call_sid, recording_sid
                )
            except TwilioRestException as exc:
                if exc.status != 404:
                    raise
                self._mark(call_sid, recording_sid, GONE)
                log.error(
                    "research message %s of call %s lost: Twilio no longer has it",
                    printable(recording_sid),
                    printable(call_sid),
                )
                return Taken("gone")
            relative = Path(f"{received_at:%Y/%m}") / f"{recording_sid}.{AUDIO_FORMAT}"
            checksum = self._write(self.options.voicemail_storage_dir / relative, audio)
            row_id = self._record(
                msg_id=recording_sid,
                received_at=received_at,
                duration_s=duration_s,
                checksum=checksum,
                audio_path=relative.as_posix(),
                size=len(audio),
                **fields,
            )
            self._delete(client, recording_sid)
            self._mark(call_sid, recording_sid, TAKEN)
        except (TwilioRestException, TwilioException, RequestException, LookupError) as exc:
            raise RecordingError(f"Twilio: {exc}") from None
        except OSError as exc:
            raise RecordingError(f"{recording_sid}: not written: {exc}") from None
        finally:
            if http.session is not None:
                http.session.close()
        log.info(
            "research message %s of call %s stored and deleted from Twilio",
            printable(recording_sid),
            printable(call_sid),
        )
        if row_id is not None and self.on_new is not None:
            try:
                self.on_new(row_id)
            except Exception:
                log.exception("notification of message %s failed", printable(recording_sid))
        return Taken("stored" if row_id is not None else "known", row_id)

    def _ignore(self, form: Mapping[str, str], why: str) -> Taken:
        log.warning(
            "recording %s of call %s not taken: %s",
            printable(form.get("RecordingSid", "?")),
            printable(form.get("CallSid", "?")),
            printable(why),
        )
        return Taken("ignored")

    def _download(
        self, client: Client, http: RestHttpClient, call_sid: str, recording_sid: str
    ) -> tuple[datetime, int, bytes]:
        recording = client.recordings(recording_sid).fetch()
        if recording.call_sid != call_sid:
            raise RecordingError(f"{recording_sid} belongs to call {recording.call_sid}")
        if recording.status != "completed":
            raise RecordingError(f"{recording_sid} is {recording.status}, not completed")
        audio = self._audio(client, http, recording_sid)
        received_at = recording.date_created or self.clock()
        try:
            duration_s = max(0, int(recording.duration or "0"))
        except ValueError:
            duration_s = 0
        return received_at, duration_s, audio

    def _audio(self, client: Client, http: RestHttpClient, recording_sid: str) -> bytes:
        account = self.options.account_sid or ""
        response = client.request("GET", media_url(account, recording_sid), allow_redirects=True)
        if response.status_code != 200:
            raise RecordingError(f"{recording_sid}: the audio answered {response.status_code}")
        audio = http.last_body
        if len(audio) < 44 or audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
            raise RecordingError(f"{recording_sid}: the audio is not a WAV file")
        return audio

    def _write(self, target: Path, audio: bytes) -> str:
        """Through a temporary file, fsync, rename, fsync the folder; read back. The
        temporary file is this writer's own: the call's end and Twilio's callback may take
        the same recording at once (the second one then finds it in the inbox)."""
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        partial = Path(name)
        checksum = hashlib.sha256(audio).hexdigest()
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o640)
                out.write(audio)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        fsync_dir(target.parent)
        if hashlib.sha256(target.read_bytes()).hexdigest() != checksum:
            raise RecordingError(f"{target}: the copy does not match what Twilio sent")
        return checksum

    def _record(self, **fields: Any) -> int | None:
        """The inbox row; None when a concurrent callback recorded it first."""
        try:
            with Session(self.engine) as session, session.begin():
                return add_message(
                    session,
                    mailbox=self.options.mailbox,
                    caller_name=None,
                    ingested_at=self.clock(),
                    **fields,
                ).id
        except IntegrityError:
            with Session(self.engine) as session:
                if message_by_msg_id(session, str(fields["msg_id"])) is None:
                    raise
            return None

    def _delete(self, client: Client, recording_sid: str) -> None:
        """Delete from Twilio; one already gone (404) is as good."""
        try:
            deleted = client.recordings(recording_sid).delete()
        except TwilioRestException as exc:
            if exc.status == 404:
                return
            raise
        if not deleted:
            raise RecordingError(f"{recording_sid}: Twilio did not delete it")
