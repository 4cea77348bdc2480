"""The managers' report pages and exports through the Flask test client, and the SVG charts.

Records are written the way the listener writes them (``record_facts``); the pages must
show what ``store.reports`` computes from them, the annual section character for
character, and no export may carry a caller's number.
"""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from dashboard import charts
from store import reports as r
from store.facts import Kind, Outcome, Source, TransferFact
from store.transfers import record_facts
from tests.dashboard.conftest import TestUser

ZONE = ZoneInfo("America/Toronto")
CALLER = "4185550199"
PAGES = ("/reports/", "/reports/navigators", "/reports/outcomes")
EXPORTS = (
    "/reports/counts.csv",
    "/reports/records.csv",
    "/reports/annual.txt",
    "/reports/outcomes.csv",
)
SVG = "{http://www.w3.org/2000/svg}"
Login = Callable[[FlaskClient, str], TestUser]


def fact(
    n: int,
    destination: str | None,
    kind: Kind,
    outcome: Outcome = Outcome.COMPLETED,
    *,
    at: datetime = datetime(2026, 9, 10, 11, 15, tzinfo=ZONE),
    delay: float | None = None,
) -> TransferFact:
    return TransferFact(
        key=f"dash:{n}",
        kind=kind,
        outcome=outcome,
        started_at=at,
        ended_at=at + timedelta(seconds=40),
        linkedid=f"1764351300.{n}",
        navigator_channel="PJSIP/nav-alice-0000001f",
        destination=destination,
        target_exten=destination or "5550000",
        target_context="transfer",
        answer_delay_s=delay,
        caller_uniqueid=f"1764351300.{n}",
        caller_number=CALLER,
        language="fr",
        path="main>navigator",
        source=Source.AMI,
    )


FACTS = [
    fact(1, "911", Kind.ATTENDED, delay=3.5),
    fact(2, "911", Kind.ATTENDED, Outcome.ABANDONED, delay=2.0),
    fact(3, "crise", Kind.BLIND, at=datetime(2026, 11, 2, 16, 40, tzinfo=ZONE)),
    fact(4, "988", Kind.THREEWAY, delay=6.0),
    fact(5, "811", Kind.REFERRAL),
    fact(6, "811", Kind.REFERRAL, at=datetime(2027, 1, 8, 9, 5, tzinfo=ZONE)),
    fact(7, "sosvc", Kind.REFERRAL),
    fact(8, "menus-travaux", Kind.ATTENDED),
    fact(9, "911", Kind.ATTENDED, at=datetime(2025, 12, 1, 10, 0, tzinfo=ZONE)),  # FY 2025
]
FY2026 = r.Period.fiscal(2026)  # the conftest clock is on 2026-11-25


@pytest.fixture
def seeded(app_engine: Engine) -> Engine:
    with Session(app_engine) as session:
        assert record_facts(session, FACTS) == len(FACTS)
        session.commit()
    return app_engine


@pytest.fixture
def manager(client: FlaskClient, login: Login, seeded: Engine) -> FlaskClient:
    login(client, "manager")
    return client


def expected(engine: Engine, period: r.Period) -> r.AnnualSection:
    with Session(engine) as session:
        return r.annual_section(session, period)


def pre(page: TestResponse, element_id: str) -> str:
    match = re.search(rf'<pre id="{element_id}"[^>]*>(.*?)</pre>', page.text, re.DOTALL)
    assert match is not None, f"no <pre id={element_id}> in the page"
    return html.unescape(match.group(1))


def input_value(page: TestResponse, name: str) -> str:
    match = re.search(rf'<input type="date" id="{name}" name="{name}" value="([^"]*)"', page.text)
    assert match is not None, f"no date input {name}"
    return match.group(1)


def test_every_report_page_and_export_is_for_managers_only(
    client: FlaskClient, login: Login, seeded: Engine
) -> None:
    for url in PAGES + EXPORTS:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]
    for role in ("navigator", "research", "admin"):
        login(client, role)
        for url in PAGES + EXPORTS:
            assert client.get(url).status_code == 403, (role, url)
        client.post("/logout", data={"csrf_token": _token(client)})
    login(client, "manager")
    for url in PAGES + EXPORTS:
        assert client.get(url).status_code == 200, url
    script = client.get("/reports/static/copy.js")
    try:
        assert script.status_code == 200
        assert b"navigator.clipboard.writeText" in script.get_data()
    finally:
        script.close()


def _token(client: FlaskClient) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/status").text)
    assert match is not None
    return match.group(1)


def test_the_default_period_is_the_current_fiscal_year(manager: FlaskClient) -> None:
    page = manager.get("/reports/")
    assert page.status_code == 200
    assert input_value(page, "start") == "2026-04-01"
    assert input_value(page, "end") == "2027-03-31"
    assert '<option value="2026" selected>2026-2027</option>' in page.text
    assert '<option value="2025">2025-2026</option>' in page.text


def test_the_annual_section_on_the_page_is_the_report_text(
    manager: FlaskClient, seeded: Engine
) -> None:
    page = manager.get("/reports/")
    section = expected(seeded, FY2026)
    assert pre(page, "annual-text") == r.annual_text(section)
    assert pre(page, "annual-text").splitlines()[:6] == [
        "Services d'urgence (avec bascule)* : 3",
        "  1 911",
        "  1 Centre de crise",
        "  1 Centre de prévention du suicide",
        "Services d'urgence (sans bascule)* : 3",
        "  2 811",
    ]
    assert pre(page, "partners-text") == r.partners_text(section)
    assert 'data-copy="annual-text"' in page.text
    assert CALLER not in page.text


def test_the_counts_table_splits_avec_and_sans_bascule(manager: FlaskClient) -> None:
    page = manager.get("/reports/?start=2026-09-01&end=2026-09-30")
    assert page.status_code == 200
    rows = dict(
        re.findall(
            r'<tr data-destination="([^"]*)">.*?((?:<td class="num">[^<]*</td>\s*){3})',
            page.text,
            re.DOTALL,
        )
    )
    cells = {k: re.findall(r'<td class="num">([^<]*)</td>', v) for k, v in rows.items()}
    assert cells == {
        "911": ["1", "0", "2"],
        "811": ["0", "1", "0"],
        "sosvc": ["0", "1", "0"],
        "988": ["1", "0", "1"],
        "menus-travaux": ["1", "0", "1"],
    }
    assert input_value(page, "start") == "2026-09-01"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("start=2026-13-01&end=2026-12-31", "start", "Date invalide : « 2026-13-01 »"),
        ("start=2026-05-01&end=", "end", "Date requise (AAAA-MM-JJ)."),
        ("start=2026-06-01&end=2026-05-01", "end", "La date de fin précède la date de début."),
        ("start=1990-01-01&end=2026-05-01", "end", "La période est trop longue"),
        ("fy=deux-mille", "fy", "Exercice invalide : « deux-mille »."),
    ],
)
def test_an_invalid_period_says_what_is_wrong(
    manager: FlaskClient, query: str, field: str, message: str
) -> None:
    for url in PAGES:
        page = manager.get(f"{url}?{query}")
        assert page.status_code == 400, url
        error = re.search(
            rf'<p class="field-error" id="{field}-error" role="alert">(.*?)</p>', page.text
        )
        assert error is not None, (url, page.text[:2000])
        assert message in html.unescape(error.group(1))
        assert 'aria-invalid="true"' in page.text
        assert 'id="annual-text"' not in page.text
    for url in EXPORTS:
        response = manager.get(f"{url}?{query}")
        assert response.status_code == 400
        assert message in response.text


def test_a_fiscal_year_is_picked_by_its_number(manager: FlaskClient, seeded: Engine) -> None:
    page = manager.get("/reports/?fy=2025")
    assert page.status_code == 200
    assert input_value(page, "start") == "2025-04-01"
    assert pre(page, "annual-text") == r.annual_text(expected(seeded, r.Period.fiscal(2025)))
    assert pre(page, "annual-text").startswith("Services d'urgence (avec bascule)* : 1\n  1 911\n")


def test_counts_csv_opens_in_a_french_excel(manager: FlaskClient, seeded: Engine) -> None:
    response = manager.get("/reports/counts.csv?start=2026-04-01&end=2027-03-31")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="comptes-2026-04-01-2027-03-31.csv"'
    )
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:]), delimiter=";"))
    assert tuple(rows[0]) == r.COUNT_COLUMNS
    by_key = {row[0]: row[3:] for row in rows[1:]}
    assert by_key["911"] == ["1", "0", "2"]
    assert by_key["811"] == ["0", "2", "0"]
    comma = manager.get("/reports/counts.csv?sep=comma").get_data(as_text=True)
    assert comma.splitlines()[0] == "\ufeff" + ",".join(r.COUNT_COLUMNS)


def test_records_csv_has_every_record_and_no_caller_number(manager: FlaskClient) -> None:
    response = manager.get("/reports/records.csv")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert CALLER not in body
    rows = list(csv.DictReader(io.StringIO(body[1:]), delimiter=";"))
    assert len(rows) == len(FACTS) - 1
    columns = list(rows[0])
    assert columns == list(r.RECORD_COLUMNS)
    assert not [c for c in columns if "caller" in c or "appelant" in c or "numero" in c]
    first = rows[0]
    assert (first["date_locale"], first["destination"], first["delai_reponse_s"]) == (
        "2026-09-10",
        "911",
        "3,500",
    )
    assert first["navigateur"] == "nav-alice"


def test_annual_txt_is_the_section_then_the_partners(manager: FlaskClient, seeded: Engine) -> None:
    response = manager.get("/reports/annual.txt?fy=2026")
    section = expected(seeded, FY2026)
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == r.annual_text(section) + "\n" + r.partners_text(
        section
    )


def test_navigators_and_outcomes_pages(manager: FlaskClient) -> None:
    page = manager.get("/reports/navigators?fy=2026")
    row = re.search(r'<tr data-navigator="nav-alice">(.*?)</tr>', page.text, re.DOTALL)
    assert row is not None
    assert "Alice Tremblay" in row.group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', row.group(1)) == ["4", "3", "5"]
    page = manager.get("/reports/outcomes?fy=2026")
    row = re.search(r'<tr data-destination="911">(.*?)</tr>', page.text, re.DOTALL)
    assert row is not None
    outcome_cells = dict(re.findall(r'data-outcome="([a-z_]+)">([^<]*)<', row.group(1)))
    assert outcome_cells == {
        "completed": "1",
        "abandoned": "1",
        "busy": "0",
        "not_answered": "0",
        "failed": "0",
        "caller_hung_up": "0",
    }
    times = re.search(
        r'<table id="answer-times">.*?<tr data-destination="911">(.*?)</tr>', page.text, re.DOTALL
    )
    assert times is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', times.group(1)) == ["2", "2 s", "4 s", "4 s"]


def test_the_page_follows_the_users_language_but_the_annual_text_stays_french(
    manager: FlaskClient, seeded: Engine
) -> None:
    manager.post("/language", data={"language": "en", "csrf_token": _token(manager)})
    page = manager.get("/reports/")
    assert "Emergency 911 (police, fire, ambulance)" in page.text
    assert pre(page, "annual-text") == r.annual_text(expected(seeded, FY2026))
    english = manager.get("/reports/counts.csv").get_data(as_text=True)
    assert english.splitlines()[0] == "\ufeff" + ",".join(r.COUNT_COLUMNS)


def test_the_page_draws_both_charts_as_accessible_svg(manager: FlaskClient) -> None:
    page = manager.get("/reports/")
    for chart_id, bars in (("chart-monthly", 4), ("chart-hourly", 4)):
        match = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', page.text, re.DOTALL)
        assert match is not None, chart_id
        svg = ET.fromstring(match.group(0))
        assert svg.get("role") == "img"
        assert svg.get("aria-labelledby") == f"{chart_id}-title {chart_id}-desc"
        assert svg.find(f"{SVG}title") is not None
        assert svg.find(f"{SVG}desc") is not None
        assert len(svg.findall(f"{SVG}g[@class='bars']/{SVG}rect")) == bars


# ---- the chart module on its own ---------------------------------------------------------


def test_bar_segments_carry_their_values_and_escape_labels() -> None:
    markup = charts.bar_chart(
        charts.Chart(
            "c1",
            "Titre <b>",
            "Description & détails",
            ["janv.", "févr.", "<mars>"],
            [charts.Series("Avec", [3, 0, 1]), charts.Series("Sans", [2, 5, 0])],
        )
    )
    svg = ET.fromstring(str(markup))
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert titles[0] == "Titre <b>"
    assert titles[1:] == [
        "janv. — Avec : 3",
        "janv. — Sans : 2",
        "févr. — Sans : 5",
        "<mars> — Avec : 1",
    ]
    assert svg.find(f"{SVG}desc").text == "Description & détails"  # type: ignore[union-attr]
    heights = [
        float(rect.get("height", "0")) for rect in svg.findall(f"{SVG}g[@class='bars']/{SVG}rect")
    ]
    assert heights[1] == pytest.approx(heights[0] * 2 / 3)
    assert heights[2] == pytest.approx(heights[0] * 5 / 3)


def test_line_chart_has_a_point_per_category() -> None:
    svg = ET.fromstring(
        str(
            charts.line_chart(
                charts.Chart("c2", "T", "D", ["a", "b", "c"], [charts.Series("S", [1, 4, 2])])
            )
        )
    )
    points = svg.findall(f"{SVG}g[@class='series']/{SVG}circle")
    assert [p.find(f"{SVG}title").text for p in points] == ["a — S : 1", "b — S : 4", "c — S : 2"]  # type: ignore[union-attr]
    ys = [float(p.get("cy", "0")) for p in points]
    assert ys[1] < ys[2] < ys[0]


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [(0, [0, 1]), (3, [0, 1, 2, 3]), (7, [0, 2, 4, 6, 8]), (1234, [0, 500, 1000, 1500])],
)
def test_ticks_are_round_numbers(maximum: float, ticks: list[float]) -> None:
    assert charts.nice_ticks(maximum) == ticks


def test_a_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(charts.ChartError, match="2 values for 3 categories"):
        charts.Chart("c3", "T", "D", ["a", "b", "c"], [charts.Series("S", [1, 2])])


@pytest.fixture
def hung_up(seeded: Engine) -> None:
    """The caller hung up during a consultation with the crisis centre (2l1)."""
    with Session(seeded) as session:
        assert record_facts(session, [fact(10, "crise", Kind.ATTENDED, Outcome.CALLER_HUNG_UP)])
        session.commit()


@pytest.mark.usefixtures("hung_up")
def test_the_outcomes_have_a_column_for_a_caller_who_hung_up(manager: FlaskClient) -> None:
    page = manager.get("/reports/outcomes?fy=2026")
    head = re.search(r'<table id="outcomes">\s*<thead>(.*?)</thead>', page.text, re.DOTALL)
    assert head is not None
    assert "L'appelant a raccroché" in html.unescape(head.group(1))
    row = re.search(r'<tr data-destination="crise">(.*?)</tr>', page.text, re.DOTALL)
    assert row is not None
    cells = dict(re.findall(r'data-outcome="([a-z_]+)">([^<]*)<', row.group(1)))
    assert cells["caller_hung_up"] == "1"
    manager.post("/language", data={"language": "en", "csrf_token": _token(manager)})
    english = manager.get("/reports/outcomes?fy=2026")
    assert '<th scope="col" class="num">Caller hung up</th>' in english.text
    link = re.search(r'id="export-outcomes"', english.text)
    assert link is not None


@pytest.mark.usefixtures("hung_up")
def test_outcomes_csv_has_one_column_per_outcome(manager: FlaskClient) -> None:
    response = manager.get("/reports/outcomes.csv?fy=2026")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))
    crise = next(row for row in rows if row["destination"] == "crise")
    assert (crise["appelant_a_raccroche"], crise["completee"], crise["total"]) == ("1", "1", "2")
    assert CALLER not in text
