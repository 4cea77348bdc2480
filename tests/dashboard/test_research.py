"""The research inbox: only the research role lists, plays, downloads, annotates, changes
or deletes a message; every access by it leaves exactly one audit row; a play link is one
audited play however many range requests the browser makes, and refused once expired."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from dashboard.research import PLAY_LINK_TTL_S, make_play_link
from store.voicemail import VoiceMessage, VoiceNote
from tests.dashboard.conftest import FakeClock, TestUser
from tests.dashboard.research_data import add_message, audit_rows

Login = Callable[[FlaskClient, str], TestUser]
Post = Callable[..., TestResponse]
PLAY_SRC = re.compile(r'<audio id="message-audio"[^>]* src="([^"]+)"')
OTHER_ROLES = ("manager", "navigator", "admin")


@pytest.fixture
def message(app_engine: Engine, storage: Path) -> tuple[int, bytes]:
    return add_message(app_engine, storage, callback_number="5815550199")


@pytest.fixture
def research(client: FlaskClient, login: Login) -> FlaskClient:
    login(client, "research")
    return client


def play_url(client: FlaskClient, message_id: int) -> str:
    page = client.get(f"/research/messages/{message_id}")
    assert page.status_code == 200
    match = PLAY_SRC.search(page.text)
    assert match is not None, "no audio player on the message page"
    return match.group(1).replace("&amp;", "&")


def actions(engine: Engine) -> list[str]:
    return [row[2] for row in audit_rows(engine)]


def fetch(client: FlaskClient, url: str, **headers: str) -> TestResponse:
    response = client.get(url, headers=headers)
    response.close()
    return response


# ---- who may ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_other_roles_cannot_list_play_download_or_change(
    app: Flask,
    client: FlaskClient,
    login: Login,
    post_form: Post,
    app_engine: Engine,
    message: tuple[int, bytes],
    role: str,
) -> None:
    user = login(client, role)
    message_id = message[0]
    with app.test_request_context("/"):
        from dashboard import db

        forged = make_play_link(message_id, user.id, db.now())
    base = f"/research/messages/{message_id}"
    gets = ["/research/", base, f"{base}/play/{forged}", f"{base}/download"]
    statuses = {url: fetch(client, url).status_code for url in gets}
    posts = {
        f"{base}/status": {"status": "closed"},
        f"{base}/notes": {"text": "x"},
        f"{base}/delete": {"confirm": "y"},
    }
    for url, data in posts.items():
        statuses[url] = post_form(client, url, data).status_code
    assert statuses == dict.fromkeys([*gets, *posts], 403)
    # Each refusal is audited as one, under the user's roles: nothing was read or changed.
    assert audit_rows(app_engine) == [
        (user.username, role, "refused", f"page:{url.split('?')[0]}", method)
        for url, method in [*((u, "GET") for u in gets), *((u, "POST") for u in posts)]
    ]
    with Session(app_engine) as session:
        row = session.get(VoiceMessage, message_id)
        assert row is not None
        assert (row.status, row.deleted_at, row.audio_path) == ("new", None, f"{row.msg_id}.wav")


def test_anonymous_visitor_is_sent_to_login(
    client: FlaskClient, message: tuple[int, bytes]
) -> None:
    response = client.get(f"/research/messages/{message[0]}/download")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# ---- the list and the page -------------------------------------------------------------


def test_list_shows_messages_and_is_audited_once(
    research: FlaskClient, app_engine: Engine, storage: Path, message: tuple[int, bytes]
) -> None:
    closed_id, _ = add_message(app_engine, storage, "1795879200-00000001", status="closed")
    page = research.get("/research/")
    assert page.status_code == 200
    assert f'id="message-{message[0]}"' in page.text
    assert f'id="message-{closed_id}"' in page.text
    assert "581 555-0199" in page.text
    assert audit_rows(app_engine) == [
        ("research", "research", "list", "voice_messages", "status=all")
    ]

    only_new = research.get("/research/?status=new")
    assert f'id="message-{message[0]}"' in only_new.text
    assert f'id="message-{closed_id}"' not in only_new.text
    assert audit_rows(app_engine)[-1][2:] == ("list", "voice_messages", "status=new")
    assert len(audit_rows(app_engine)) == 2


def test_message_page_is_audited_once(
    research: FlaskClient, app_engine: Engine, message: tuple[int, bytes]
) -> None:
    page = research.get(f"/research/messages/{message[0]}")
    assert page.status_code == 200
    assert "581 555-0199" in page.text and "418 555-0142" in page.text
    assert audit_rows(app_engine) == [
        ("research", "research", "view", f"voice_message:{message[0]}", "")
    ]
    assert research.get("/research/messages/999").status_code == 404


# ---- playing ---------------------------------------------------------------------------


def test_play_link_serves_wav_with_ranges_and_one_audit_row(
    research: FlaskClient, app_engine: Engine, message: tuple[int, bytes]
) -> None:
    message_id, audio = message
    url = play_url(research, message_id)
    before = len(audit_rows(app_engine))

    whole = research.get(url)
    assert whole.status_code == 200
    assert whole.headers["Content-Type"] == "audio/wav"
    assert whole.headers["Cache-Control"] == "no-store"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.data == audio
    assert "attachment" not in whole.headers.get("Content-Disposition", "")
    whole.close()

    first = research.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206
    assert first.headers["Content-Range"] == f"bytes 0-99/{len(audio)}"
    assert first.mimetype == "audio/wav"
    assert first.headers["Cache-Control"] == "no-store"
    assert first.data == audio[:100]
    first.close()

    rest = research.get(url, headers={"Range": "bytes=100-"})
    assert rest.status_code == 206
    assert rest.data == audio[100:]
    rest.close()

    plays = [row for row in audit_rows(app_engine)[before:]]
    assert [(r[2], r[3]) for r in plays] == [("play", f"voice_message:{message_id}")]
    assert plays[0][4].startswith("link ")


def test_each_page_visit_makes_a_new_link_and_a_new_play(
    research: FlaskClient, app_engine: Engine, message: tuple[int, bytes]
) -> None:
    first, second = play_url(research, message[0]), play_url(research, message[0])
    assert first != second
    for url in (first, first, second, second):
        assert fetch(research, url, Range="bytes=0-").status_code == 206
    assert actions(app_engine) == ["view", "view", "play", "play"]


def test_an_expired_link_is_refused_and_not_audited(
    research: FlaskClient, app_engine: Engine, clock: FakeClock, message: tuple[int, bytes]
) -> None:
    url = play_url(research, message[0])
    clock.advance(PLAY_LINK_TTL_S - 1)
    assert fetch(research, url).status_code == 200
    clock.advance(2)
    late = research.get(url, headers={"Range": "bytes=0-"})
    assert late.status_code == 410
    assert late.mimetype == "text/html"
    assert actions(app_engine) == ["view", "play"]


def test_a_forged_or_borrowed_link_is_refused(
    app: Flask,
    research: FlaskClient,
    app_engine: Engine,
    storage: Path,
    message: tuple[int, bytes],
) -> None:
    other_id, _ = add_message(app_engine, storage, "1795879200-00000001")
    url = play_url(research, message[0])
    token = url.rsplit("/", 1)[1]
    assert fetch(research, f"/research/messages/{other_id}/play/{token}").status_code == 404
    assert fetch(research, url[:-2] + ("AA" if url[-2:] != "AA" else "BB")).status_code == 404
    with app.test_request_context("/"):
        from dashboard import db

        someone_else = make_play_link(message[0], 999, db.now())
    assert (
        fetch(research, f"/research/messages/{message[0]}/play/{someone_else}").status_code == 404
    )
    assert actions(app_engine) == ["view"]


# ---- download, status, notes, deletion ---------------------------------------------------


def test_download_is_an_attachment_audited_once(
    research: FlaskClient, app_engine: Engine, message: tuple[int, bytes]
) -> None:
    response = research.get(f"/research/messages/{message[0]}/download")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "1795879141-00000000" in response.headers["Content-Disposition"]
    assert response.data == message[1]
    response.close()
    assert audit_rows(app_engine) == [
        ("research", "research", "download", f"voice_message:{message[0]}", "")
    ]


def test_status_change_records_who_handled_it(
    research: FlaskClient, post_form: Post, app_engine: Engine, message: tuple[int, bytes]
) -> None:
    response = post_form(research, f"/research/messages/{message[0]}/status", {"status": "closed"})
    assert response.status_code == 302
    with Session(app_engine) as session:
        row = session.get(VoiceMessage, message[0])
        assert row is not None
        assert (row.status, row.handled_by) == ("closed", "research")
        assert row.handled_at is not None
    assert audit_rows(app_engine)[-1][2:] == (
        "status",
        f"voice_message:{message[0]}",
        "new -> closed",
    )
    assert actions(app_engine).count("status") == 1

    bad = post_form(research, f"/research/messages/{message[0]}/status", {"status": "lost"})
    assert bad.status_code == 400
    assert actions(app_engine).count("status") == 1


def test_notes_are_kept_and_audited_without_their_text(
    research: FlaskClient, post_form: Post, app_engine: Engine, message: tuple[int, bytes]
) -> None:
    text = "Rappelée le 26, demande un suivi à domicile."
    response = post_form(research, f"/research/messages/{message[0]}/notes", {"text": text})
    assert response.status_code == 302
    page = research.get(response.headers["Location"])
    assert text in page.text
    with Session(app_engine) as session:
        notes = list(session.scalars(select(VoiceNote)))
        assert [(n.author, n.text) for n in notes] == [("research", text)]
        row = session.get(VoiceMessage, message[0])
        assert row is not None and row.status == "in_progress"
    assert ("note", f"voice_message:{message[0]}", "") in [r[2:] for r in audit_rows(app_engine)]
    assert all(text not in r[4] for r in audit_rows(app_engine))

    empty = post_form(research, f"/research/messages/{message[0]}/notes", {"text": "  "})
    assert empty.status_code == 400
    assert actions(app_engine).count("note") == 1


def test_delete_needs_confirmation_then_erases_audio_and_data(
    research: FlaskClient,
    post_form: Post,
    app_engine: Engine,
    storage: Path,
    message: tuple[int, bytes],
) -> None:
    message_id = message[0]
    url = play_url(research, message_id)
    post_form(research, f"/research/messages/{message_id}/notes", {"text": "une note"})
    audio = storage / "1795879141-00000000.wav"

    unconfirmed = post_form(research, f"/research/messages/{message_id}/delete", {})
    assert unconfirmed.status_code == 400
    assert audio.exists()
    assert "delete" not in actions(app_engine)

    done = post_form(research, f"/research/messages/{message_id}/delete", {"confirm": "y"})
    assert done.status_code == 302
    assert not audio.exists()
    with Session(app_engine) as session:
        row = session.get(VoiceMessage, message_id)
        assert row is not None
        assert row.deleted_at is not None
        assert (row.caller_number, row.callback_number, row.audio_path) == (None, None, None)
        assert list(session.scalars(select(VoiceNote))) == []
    assert actions(app_engine).count("delete") == 1
    assert f'id="message-{message_id}"' not in research.get("/research/").text
    assert fetch(research, url).status_code == 404
    assert research.get(f"/research/messages/{message_id}").status_code == 404
    assert actions(app_engine).count("play") == 0


def test_missing_audio_is_a_404_without_a_play_row(
    research: FlaskClient, app_engine: Engine, storage: Path, message: tuple[int, bytes]
) -> None:
    url = play_url(research, message[0])
    (storage / "1795879141-00000000.wav").unlink()
    assert fetch(research, url).status_code == 404
    assert actions(app_engine) == ["view"]


@pytest.mark.parametrize("message_id", ["99999999999999999999", str(2**63), str(2**63 - 1)])
def test_an_id_no_message_can_have_is_a_404(
    research: FlaskClient, app_engine: Engine, message_id: str, post_form: Post
) -> None:
    for path in ("", "/download", "/play/x"):
        assert research.get(f"/research/messages/{message_id}{path}").status_code == 404
    for action, form in (("status", {"status": "closed"}), ("notes", {"text": "x"})):
        answer = post_form(research, f"/research/messages/{message_id}/{action}", form)
        assert answer.status_code == 404
    assert actions(app_engine) == []


# ---- the admin's audit log ---------------------------------------------------------------


def test_admin_reads_and_exports_the_audit_log_without_message_content(
    app: Flask, app_engine: Engine, login: Login, message: tuple[int, bytes]
) -> None:
    research = app.test_client()
    login(research, "research")
    fetch(research, f"/research/messages/{message[0]}/download")

    admin = app.test_client()
    login(admin, "admin")
    assert admin.get("/research/").status_code == 403
    page = admin.get("/admin/audit/?action=download")
    assert page.status_code == 200
    assert f"voice_message:{message[0]}" in page.text
    assert "5815550199" not in page.text

    export = admin.get("/admin/audit/export.csv?user=research")
    assert export.status_code == 200
    assert export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"].startswith("attachment")
    lines = export.data.decode("utf-8-sig").splitlines()
    assert lines[0] == "at,user,role,action,object,detail"
    assert [line.split(",")[3] for line in lines[1:]] == ["download"]
    assert audit_rows(app_engine)[-1] == ("admin", "admin", "export", "audit_log", "user=research")

    research_export = research.get("/admin/audit/export.csv")
    assert research_export.status_code == 403


def test_csv_export_neutralises_formulas() -> None:
    from datetime import UTC, datetime

    from dashboard.audit import csv_rows
    from store.voicemail import AuditEntry

    entry = AuditEntry(
        at=datetime(2026, 11, 25, tzinfo=UTC),
        user="=HYPERLINK(1)",
        role="research",
        action="list",
        object="voice_messages",
        detail="-2",
    )
    row = csv_rows([entry]).splitlines()[1]
    assert row == "2026-11-25T00:00:00+00:00,'=HYPERLINK(1),research,list,voice_messages,'-2"
