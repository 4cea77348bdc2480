"""The audit page says who did what to which message in words, in French and English,
and shows the accesses refused (403) to a page or a message."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from werkzeug.test import TestResponse

from tests.dashboard.conftest import TestUser
from tests.dashboard.research_data import add_message, audit_rows

Login = Callable[[FlaskClient, str], TestUser]
Post = Callable[..., TestResponse]
SENTENCE = re.compile(r'<span class="audit-sentence">(.*?)</span>', re.S)


def sentences(client: FlaskClient) -> list[str]:
    page = client.get("/admin/audit/")
    assert page.status_code == 200
    return [html.unescape(s) for s in SENTENCE.findall(page.text)]


def test_the_audit_log_in_words_in_both_languages(
    app_engine: Engine, storage: Path, login: Login, post_form: Post, app: Flask
) -> None:
    message_id, _audio = add_message(app_engine, storage, callback_number="4185550177")
    research = app.test_client()
    login(research, "research")
    assert research.get("/research/").status_code == 200
    assert research.get("/research/?status=new").status_code == 200
    assert research.get(f"/research/messages/{message_id}").status_code == 200
    post_form(research, f"/research/messages/{message_id}/status", {"status": "called_back"})
    manager = app.test_client()
    login(manager, "manager")
    assert manager.get(f"/research/messages/{message_id}").status_code == 403
    assert manager.get("/admin/users").status_code == 403
    assert [r[2] for r in audit_rows(app_engine)][-2:] == ["refused", "refused"]

    admin = app.test_client()
    login(admin, "admin")
    french = sentences(admin)
    heard = "le message du 24 nov. 2026, 22 h 12 de 418 555-0177"
    assert french[:2] == [
        "Accès refusé : une page de l'administration.",
        f"Accès refusé : {heard}.",
    ]
    assert f"A fait passer {heard} de « Nouveau » à « Rappelé »." in french
    assert f"A ouvert {heard}." in french
    assert "A consulté la liste des messages de recherche à l'état « Nouveau »." in french
    assert "A consulté la liste des messages de recherche." in french
    assert not any("voice_message:" in s or "status=" in s for s in french)

    post_form(admin, "/language", {"language": "en"})
    english = sentences(admin)
    heard = "the message of Nov 24, 2026, 10:12\u202fp.m. from 418 555-0177"
    assert english[:2] == [
        "Access refused: an administration page.",
        f"Access refused: {heard}.",
    ]
    assert f"Opened {heard}." in english
    assert f"Moved {heard} from “New” to “Called back”." in english
    assert "Looked at the list of research messages with status “New”." in english
