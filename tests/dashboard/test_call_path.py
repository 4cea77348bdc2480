"""The call's path in the console in words ("Ouvert · français · navigateur"), in French
and English, every step the flow writes known, an unknown one shown as written."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from flask import Flask, session
from flask.testing import FlaskClient
from flask_babel import refresh
from sqlalchemy import Engine

from dashboard.callpath import path_in_words
from ivr.actions import PATH_SEPARATOR
from ivr.flow import CallFlow
from tests.dashboard.conftest import FakeClock, TestUser
from tests.dashboard.test_console import listener_up, on_call
from tests.ivr.helpers import DISTINCT_KEYS, explore, flow_scenarios

Login = Callable[[FlaskClient, str], TestUser]
Post = Callable[..., object]


def shown_path(client: FlaskClient) -> str:
    page = client.get("/console/")
    assert page.status_code == 200
    return html.unescape(page.text.split('<dd id="call-path">')[1].split("</dd>")[0])


@pytest.mark.parametrize(
    ("path", "french", "english"),
    [
        ("open/lang:fr/main:1", "Ouvert · français · navigateur", "Open · French · navigator"),
        (
            "open/lang:en/main:timeout/main:2/callback:withheld/callback:entered"
            "/callback:confirmed",
            "Ouvert · anglais · menu : aucune touche · recherche · numéro masqué"
            " · numéro de rappel tapé · numéro de rappel confirmé",
            "Open · English · menu: no key · research · number withheld"
            " · callback number typed · callback number confirmed",
        ),
        (
            "closed:after_hours/menu:2/transfer:cps",
            "Fermé (en dehors des heures d'ouverture) · touche 2 · transfert : "
            "Centre de prévention du suicide (1 866 APPELLE)",
            "Closed (outside opening hours) · key 2 · transfer: Suicide prevention centre "
            "(1 866 APPELLE)",
        ),
        (
            "open/lang:fr/zzz:1/main:1",
            "Ouvert · français · zzz:1 · navigateur",
            "Open · French · zzz:1 · navigator",
        ),
        ("main>navigator", "main>navigator", "main>navigator"),
    ],
)
def test_the_console_reads_the_path_in_words(
    client: FlaskClient,
    login: Login,
    app_engine: Engine,
    clock: FakeClock,
    post_form: Post,
    path: str,
    french: str,
    english: str,
) -> None:
    login(client, "navigator")
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now, path=path)
    assert shown_path(client) == french
    post_form(client, "/language", {"language": "en"})
    assert shown_path(client) == english


def test_every_step_the_flow_writes_has_words_in_both_languages(app: Flask) -> None:
    steps: set[str] = set()
    for scenario in flow_scenarios():
        for _answers, transcript in explore(
            lambda s=scenario: CallFlow(*flow_scenarios()[s]), DISTINCT_KEYS, 4
        ):
            assert transcript.decision is not None
            steps.update(transcript.decision.path)
    assert {"open", "lang:fr", "main:1", "closed:holiday", "callback:none"} <= steps
    with app.test_request_context("/"):
        for language in ("fr", "en"):
            session["lang"] = language
            refresh()
            # a step in words starts with a capital; one shown as written does not
            raw = {step for step in steps if path_in_words(step, {}) == step}
            assert raw == set(), language
            assert all(PATH_SEPARATOR not in path_in_words(step, {}) for step in steps)
