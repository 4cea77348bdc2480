"""Waiting in the Twilio queue (the ``waitUrl``: position, the 911 reminder, the maximum
wait, never past closing; the queue-exit menu; giving up after the last pass), and the
call records the webhooks and status callbacks write, once per ``CallSid``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.calls import CallRecord
from store.transfers import fiscal_year
from tests.twilio_line.helpers import (
    CLOSED_NOW,
    OPEN_NOW,
    PUBLIC,
    ZONE,
    Line,
    running_line,
    says,
    verbs,
    walk,
)

SID = "CA" + "f" * 32
QUEUE_SID = "QU" + "1" * 32


def enqueue(line: Line, keys: list[str] | None = None) -> dict[str, str]:
    verb, response = walk(line, keys or ["1", "1"], SID)
    assert verb == "Enqueue"
    element = verbs(response.data)[-1]
    return {
        "queue": element.text or "",
        "action": element.get("action", ""),
        "wait": element.get("waitUrl", ""),
    }


def wait(line: Line, url: str, waited: int, position: int = 1) -> list[str]:
    response = line.post(
        url,
        line.call_params(
            SID,
            QueueSid=QUEUE_SID,
            QueueTime=str(waited),
            QueuePosition=str(position),
            CurrentQueueSize=str(position),
            AvgQueueTime="30",
        ),
    )
    assert response.status_code == 200
    return [v.tag for v in verbs(response.data)]


def record(line: Line) -> CallRecord:
    with Session(line.engine) as session:
        rows = list(session.scalars(select(CallRecord)))
        assert len(rows) == 1
        session.expunge_all()
        return rows[0]


def test_the_waiting_caller_hears_position_and_reminder_and_leaves_at_the_maximum(
    tmp_path: Path,
) -> None:
    with running_line(tmp_path) as line:
        queue = enqueue(line)
        assert queue["queue"] == "navigateurs"
        assert queue["wait"] == f"{PUBLIC}/twilio/wait/1"
        assert wait(line, queue["wait"], 0) == ["Pause"]
        response = line.post(
            queue["wait"], line.call_params(SID, QueueTime="65", QueuePosition="3")
        )
        assert [v.tag for v in verbs(response.data)] == ["Say", "Say", "Pause"]
        assert says(response.data) == [
            ("fr-CA", "Vous êtes le numéro 3 dans la file d'attente."),
            (
                "fr-CA",
                "Merci de patienter, une personne vous répondra dès que possible. "
                "Si vous êtes en danger, raccrochez et composez le 9-1-1.",
            ),
        ]
        assert verbs(response.data)[-1].get("length") == "60"
        assert wait(line, queue["wait"], 600) == ["Leave"]


def test_the_wait_is_cut_at_closing_time_but_never_below_the_minimum(tmp_path: Path) -> None:
    near_closing = datetime(2025, 6, 11, 18, 57, tzinfo=ZONE)  # closes at 19:00
    with running_line(tmp_path, now=near_closing) as line:
        queue = enqueue(line)
        assert wait(line, queue["wait"], 100) == ["Say", "Say", "Pause"]  # 180 s left
        assert wait(line, queue["wait"], 180) == ["Leave"]
    just_before = datetime(2025, 6, 11, 18, 59, 30, tzinfo=ZONE)
    with running_line(tmp_path / "2", now=just_before) as line:
        queue = enqueue(line)
        assert wait(line, queue["wait"], 40) == ["Say", "Say", "Pause"]  # at least 60 s
        assert wait(line, queue["wait"], 60) == ["Leave"]


def test_a_wait_without_a_navigator_goes_to_the_queue_exit_menu(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        queue = enqueue(line, ["2", "1"])
        line.now[0] = OPEN_NOW + timedelta(minutes=10)
        left = line.post(
            queue["action"],
            line.call_params(SID, QueueResult="leave", QueueTime="600", QueueSid=QUEUE_SID),
        )
        doc = verbs(left.data)
        assert doc[0].tag == "Gather"
        assert doc[0].get("action") == f"{PUBLIC}/twilio/step/2/0"
        assert says(left.data)[0] == (
            "en-US",
            "Sorry, no one is available to answer you right now.",
        )
        chose = line.post(doc[0].get("action"), line.call_params(SID, Digits="2"))
        chose_doc = verbs(chose.data)
        final = line.post(chose_doc[-1].text, line.call_params(SID))
        assert verbs(final.data)[-1].tag == "Dial"
        (_sid, decision) = line.decisions[-1]
        assert decision.path_text == "queue-exit/menu:2/transfer:cps"
        # the first pass's URLs no longer serve
        stale = line.post(f"{PUBLIC}/twilio/step/1/2", line.call_params(SID, Digits="1"))
        assert stale.status_code == 403
        row = record(line)
        assert row.route == "queue"
        assert row.exit_route == "transfer"
        assert row.queue_outcome == "timeout"
        assert row.wait_s == 600.0


def test_after_the_last_pass_the_line_gives_up(tmp_path: Path) -> None:
    """queue_max_passes = 1: the wait ends, the queue-exit menu sends the caller to 811,
    the transfer fails: the caller would go back to the queue, but the line gives up
    instead, as [ivr211-queue]'s give-up does."""
    with running_line(tmp_path, queue_max_passes=1) as line:
        queue = enqueue(line)
        left = line.post(queue["action"], line.call_params(SID, QueueResult="queue-full"))
        menu = verbs(left.data)[0]
        chose = line.post(menu.get("action"), line.call_params(SID, Digits="1"))
        dial_doc = verbs(line.post(verbs(chose.data)[-1].text, line.call_params(SID)).data)
        assert dial_doc[-1].tag == "Dial" and dial_doc[-1].text == "811"
        failed = line.post(
            dial_doc[-1].get("action"), line.call_params(SID, DialCallStatus="failed")
        )
        doc = verbs(failed.data)
        assert [v.tag for v in doc] == ["Say", "Say", "Say", "Say", "Hangup"]
        spoken = [text for _lang, text in says(failed.data)]
        assert spoken[0] == "Désolé, le transfert n'a pas pu être fait."
        assert spoken[1] == "Désolé, personne n'est disponible pour vous répondre en ce moment."
        assert spoken[2].startswith("En cas d'urgence, composez le 9-1-1.")
        assert spoken[3] == "Merci d'avoir appelé le 2-1-1. Au revoir."
        row = record(line)
        assert row.queue_outcome == "full"
        assert row.exit_route == "transfer"


def test_the_default_of_the_queue_exit_menu_says_goodbye(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        queue = enqueue(line)
        again = line.post(queue["action"], line.call_params(SID, QueueResult="leave"))
        for _ in range(5):
            gather = next((v for v in verbs(again.data) if v.tag == "Gather"), None)
            if gather is None:
                break
            again = line.post(gather.get("action"), line.call_params(SID, Digits=""))
        assert verbs(again.data)[-1].tag == "Hangup"
        assert says(again.data) == [("fr-CA", "Merci d'avoir appelé le 2-1-1. Au revoir.")]
        assert record(line).exit_route == "closed"


def test_the_call_record_of_an_answered_call_is_written_once(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        queue = enqueue(line)
        line.now[0] = OPEN_NOW + timedelta(seconds=80)
        params = line.call_params(SID, QueueResult="bridged", QueueTime="42")
        for _ in range(2):  # a callback Twilio repeats changes nothing
            assert line.post(queue["action"], params).status_code == 200
        line.now[0] = OPEN_NOW + timedelta(minutes=9)
        ended = line.call_params(SID, CallStatus="completed", CallDuration="540")
        for _ in range(2):
            assert line.post(f"{PUBLIC}/twilio/status", ended).status_code == 204
        row = record(line)
        assert row.linkedid == SID
        assert row.caller_number == "+14185550100"
        assert (row.route, row.language, row.path) == ("queue", "fr", "open/lang:fr/main:1")
        assert row.line_state == "hours"
        assert row.queue == "navigateurs"
        assert row.queue_outcome == "answered"
        assert row.wait_s == 42.0
        assert row.arrived_at == OPEN_NOW.astimezone(UTC)
        assert row.ended_at == (OPEN_NOW + timedelta(minutes=9)).astimezone(UTC)
        assert (row.local_date, row.local_hour) == (OPEN_NOW.date(), 10)
        assert row.fiscal_year == fiscal_year(OPEN_NOW.date()) == 2025
        assert row.seen_flow


def test_a_hang_up_in_the_menu_is_a_call_record_with_no_language(tmp_path: Path) -> None:
    with running_line(tmp_path, now=CLOSED_NOW) as line:
        line.post(f"{PUBLIC}/twilio/voice", line.call_params(SID))
        line.post(f"{PUBLIC}/twilio/status", line.call_params(SID, CallStatus="completed"))
        row = record(line)
        assert (row.route, row.language, row.path) == (
            "hangup",
            "none",
            "closed:after_hours/hangup",
        )
        assert row.line_state == "after_hours"
        assert row.ended_at == CLOSED_NOW.astimezone(UTC)


def test_a_research_message_marks_the_call_record(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        verb, response = walk(line, ["2", "2"], SID)
        assert verb == "Record"
        action = verbs(response.data)[-1].get("action")
        review = line.post(
            action, line.call_params(SID, RecordingSid="RE" + "2" * 32, RecordingDuration="9")
        )
        # Not yet: the caller reviews the message and may record it again.
        assert not record(line).research_message
        menu = verbs(review.data)[0]
        line.post(menu.get("action"), line.call_params(SID, Digits="1"))
        row = record(line)
        assert (row.route, row.language) == ("research", "en")
        assert row.research_message
