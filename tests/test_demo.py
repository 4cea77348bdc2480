"""``ivr211 demo``: its database is never another one, its year is what the reports say,
its live line moves the live state through the real listener, and it sends nothing."""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from agi_scripts.server import ServerOptions
from dashboard import create_app
from dashboard.i18n import SESSION_KEY
from ivr211.cli.demo import demo_dashboard_options, without_notifications
from ivr211.config import DEFAULT_SEED, load_config
from ivr211.demo.database import (
    DEMO_ACCOUNTS,
    DEMO_APPLICATION_ID,
    DEMO_NAVIGATORS,
    DemoRefused,
    demo_url,
    prepare,
)
from ivr211.demo.live import NAVIGATOR_SCENES, LiveLine
from store import linesettings as ls
from store import models as m
from store import reports as r
from store import rollups
from store.accounts import create_user, user_by_username
from store.calls import CallRecord
from store.db import make_engine, upgrade
from store.heartbeats import ServiceHeartbeat
from store.live import LiveView, read_live
from store.navigators import add_navigator
from store.voicemail import VoiceMessage

TODAY = date(2026, 11, 16)  # a Monday: the demonstration's days end on Sunday the 15th


def _engine_of(folder: Path) -> Engine:
    return make_engine(demo_url(folder))


def test_a_database_that_is_not_a_demonstration_and_holds_records_is_refused(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    engine = make_engine(demo_url(folder))
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            create_user(session, "directrice", "a long password here", "admin")
        with pytest.raises(DemoRefused, match="not a demonstration database and holds records"):
            prepare(folder, seed_file=DEFAULT_SEED, today=TODAY, days=2)
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA application_id")).scalar() == 0
            assert connection.execute(select(func.count()).select_from(CallRecord)).scalar() == 0
            users = connection.execute(
                select(func.count()).select_from(m.Base.metadata.tables["users"])
            )
            assert users.scalar() == 1
    finally:
        engine.dispose()


def test_the_configured_database_is_refused_even_empty(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    with pytest.raises(DemoRefused, match="is the configured database"):
        prepare(
            folder,
            seed_file=DEFAULT_SEED,
            today=TODAY,
            days=2,
            production_url=f"sqlite:///{folder / 'demo.db'}",
        )
    assert not (folder / "demo.db").exists()


def test_a_postgresql_database_is_refused(tmp_path: Path) -> None:
    from ivr211.demo.database import check_target

    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(DemoRefused, match="SQLite"):
            check_target(engine)
    finally:
        engine.dispose()


def test_the_demonstrations_figures_are_the_reports(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    demo = prepare(folder, seed_file=DEFAULT_SEED, today=TODAY, days=28)
    figures = demo.figures
    assert figures is not None
    assert (figures.first_day, figures.last_day) == (date(2026, 10, 19), date(2026, 11, 15))
    engine = _engine_of(folder)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA application_id")).scalar() == (
                DEMO_APPLICATION_ID
            )
        period = r.Period(figures.first_day, figures.last_day)
        with Session(engine) as session:
            summary = r.call_summary(session, period)
            assert summary.received == figures.calls > 1000
            assert summary.offered == figures.queued
            assert summary.answered == figures.answered
            assert summary.abandoned == figures.abandoned  # short ones included
            languages = {c.key: c.received for c in r.calls_by_language(session, period)}
            assert languages == {k: v for k, v in figures.by_language.items() if v}

            avec: Counter[str] = Counter()
            sans: Counter[str] = Counter()
            for (kind, outcome, dest), n in figures.transfers.items():
                if outcome != "completed":
                    continue
                (sans if kind == "referral" else avec)[dest] += n
            rows = r.counts(session, period)
            assert {row.destination: row.sans for row in rows if row.sans} == dict(sans)
            assert {row.destination: row.avec for row in rows if row.avec} == dict(avec)
            assert sans["811"] == max(sans.values())  # "mostly 811" (DOMAIN.md)

            # the roll-ups the pages read were summed from the rows
            before = {
                t.__tablename__: session.execute(select(t.__table__)).all()
                for t in rollups.EVERY_ROLLUP
            }
            rollups.rebuild(session)
            after = {
                t.__tablename__: session.execute(select(t.__table__)).all()
                for t in rollups.EVERY_ROLLUP
            }
            session.rollback()
            assert {k: sorted(map(repr, v)) for k, v in before.items()} == {
                k: sorted(map(repr, v)) for k, v in after.items()
            }

            calls = session.scalars(select(CallRecord)).all()
            answered = [c for c in calls if c.queue_outcome == "answered"]
            # a navigator answers during opening hours (08:00-19:00), on a call they are on
            assert {c.local_hour for c in answered} <= set(range(8, 20))
            assert all(c.line_state == "hours" for c in answered)
            weekday = Counter(c.local_weekday for c in calls)
            assert weekday[6] < weekday[0] * 0.75  # Sundays are quieter than Mondays

            messages = session.scalars(select(VoiceMessage)).all()
            assert len(messages) == figures.research_messages > 0
            for message in messages:
                audio = folder / "voicemail" / str(message.audio_path)
                assert audio.read_bytes()[:4] == b"RIFF"
            for username, role, _name in DEMO_ACCOUNTS:
                user = user_by_username(session, username)
                assert user is not None and user.has_role(role)
    finally:
        engine.dispose()

    again = prepare(folder, seed_file=DEFAULT_SEED, today=TODAY, days=28)
    assert again.figures is None  # reused, not filled twice
    assert [p for _, _, p in again.passwords] != [p for _, _, p in demo.passwords]
    engine = _engine_of(folder)
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(CallRecord)) == len(calls)
    finally:
        engine.dispose()

    # two days later: the days in between are made up, the others left as they were
    later = prepare(folder, seed_file=DEFAULT_SEED, today=date(2026, 11, 18), days=28)
    assert later.figures is not None
    assert (later.figures.first_day, later.figures.last_day) == (
        date(2026, 11, 16),
        date(2026, 11, 17),
    )
    engine = _engine_of(folder)
    try:
        with Session(engine) as session:
            total = session.scalar(select(func.count()).select_from(CallRecord))
            assert total == len(calls) + later.figures.calls
            messages_now = session.scalar(select(func.count()).select_from(VoiceMessage))
            assert messages_now == figures.research_messages + later.figures.research_messages
    finally:
        engine.dispose()


def _until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the live state did not move in time")
        time.sleep(0.1)


def test_the_live_line_moves_the_live_state_through_the_listener_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("IVR211_"):
            monkeypatch.delenv(name)
    connections: list[object] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        connections.append(address)
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    # A configuration that would notify by email and SMS: the demonstration does not.
    config = load_config(
        None,
        environ={
            "IVR211_NOTIFY__EMAIL_TO": "recherche@example.org",
            "IVR211_NOTIFY__SMTP_HOST": "smtp.example.org",
            "IVR211_NOTIFY__SMS_TO": "+14185550100",
            "IVR211_NOTIFY__SMS_FROM": "+14185550199",
            "IVR211_NOTIFY__TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "IVR211_TWILIO_AUTH_TOKEN": "x",
        },
    )
    folder = tmp_path / "demo"
    demo = prepare(folder, seed_file=DEFAULT_SEED, today=TODAY, days=3)
    assert demo.figures is not None and demo.figures.research_messages >= 0
    assert config.notify.email_to and config.notify.sms_to
    quiet = without_notifications(config).notify
    assert (quiet.email_to, quiet.sms_to) == ((), ())
    options = demo_dashboard_options(config, folder)
    assert options.on_research_account_change is None and options.demo

    engine = _engine_of(folder)
    with ls.SettingsStore(engine).change() as session:  # whatever the time of the test
        ls.set_override(session, "open", None, "test", "test")
    line = LiveLine(
        engine,
        ls.SettingsStore(engine).load,
        folder,
        stretch=0.3,
        pause_s=(0.1, 0.3),
        seed=3,
        agi=ServerOptions(port=0),
    )
    seen: list[LiveView] = []

    def view() -> LiveView:
        with Session(engine) as session:
            current = read_live(session, stale_after_s=None)
        if not seen or current != seen[-1]:
            seen.append(current)
        return current

    def calls_today() -> int:
        with Session(engine) as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(CallRecord)
                    .where(CallRecord.arrived_at >= datetime.now(UTC).replace(hour=0, minute=0))
                )
                or 0
            )

    try:
        before = calls_today()
        line.start()
        _until(lambda: view().synced)
        # a second demonstration on the same folder is refused before it changes anything
        from ivr211.cli import main

        capsys.readouterr()
        assert main(["demo", "--folder", str(folder), "--port", "1"]) == 2
        assert f"another demonstration is running on {folder}" in capsys.readouterr().err
        # QueueStatus (2f): Navigator One free, Navigator Two on a break
        first = view()
        assert {(mb.interface, mb.paused) for mb in first.members} >= {
            ("Local/nav@queue-agents/n", False),
            ("Local/nav2@queue-agents/n", True),
        }
        assert {mb.navigator_id for mb in first.members} <= {
            i + 1 for i in range(len(DEMO_NAVIGATORS))
        }
        _until(lambda: bool(view().waiting))  # a caller waits in line
        _until(lambda: any(mb.on_call for mb in view().members))  # a navigator answers
        _until(lambda: calls_today() > before)  # the listener wrote the call records
        fake = line.fake
        assert fake is not None
        assert fake.actions("QueueStatus")  # the listener asked, as it asks Asterisk
        with Session(engine) as session:  # the voice menu runs too: the status page says so
            assert session.get(ServiceHeartbeat, "fastagi") is not None
    finally:
        line.stop()
        engine.dispose()
    states = {
        (tuple((mb.interface, mb.paused, mb.on_call) for mb in v.members), len(v.waiting))
        for v in seen
    }
    assert len(states) >= 4
    assert connections and all(a == ("127.0.0.1", fake.port) for a in connections), connections


def test_every_page_says_it_is_a_demonstration_in_both_languages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the plain app's instance folder is var/dashboard
    folder = tmp_path / "demo"
    engine = make_engine(demo_url(folder))
    try:
        upgrade(engine)
        with ls.SettingsStore(engine).change() as session:
            ls.seed_if_empty(session, DEFAULT_SEED)
            add_navigator(session, "n", "N", "Local/n@x")
        config = load_config(None, environ={})
        app = create_app(demo_dashboard_options(config, folder), engine=engine, testing=True)
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        assert 'id="demo-banner"' in page and "Démonstration" in page
        with client.session_transaction() as sess:
            sess[SESSION_KEY] = "en"
        page = client.get("/login").get_data(as_text=True)
        assert "Demonstration: the calls, the people and the messages are made up" in page

        from ivr211.dashboard_options import dashboard_options

        plain = create_app(dashboard_options(config), engine=engine, testing=True)
        assert "demo-banner" not in plain.test_client().get("/login").get_data(as_text=True)
    finally:
        engine.dispose()


def test_the_command_refuses_a_database_in_use_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ivr211.cli import main

    for name in list(os.environ):
        if name.startswith("IVR211_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "elsewhere"
    engine = make_engine(demo_url(folder))
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            add_navigator(session, "alice", "Alice", "PJSIP/nav-alice")
    finally:
        engine.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["demo", "--folder", str(folder), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ivr211: error: ") and err.count("\n") == 1
    assert "is not a demonstration database and holds records" in err
    assert "Traceback" not in err


def test_while_the_line_is_closed_only_the_navigators_move(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    prepare(folder, seed_file=DEFAULT_SEED, today=TODAY, days=1)
    engine = _engine_of(folder)
    with ls.SettingsStore(engine).change() as session:
        ls.set_override(session, "closed", None, "test", "test")
    line = LiveLine(
        engine, ls.SettingsStore(engine).load, folder, stretch=0.2, pause_s=(0.05, 0.1), seed=5
    )
    waiting = 0
    try:
        line.start()
        deadline = time.monotonic() + 30
        while line.scenes_played < 2 and time.monotonic() < deadline:
            with Session(engine) as session:
                waiting += len(read_live(session, stale_after_s=None).waiting)
            time.sleep(0.05)
    finally:
        line.stop()
        engine.dispose()
    assert len(line.played) >= 2
    assert set(line.played) <= NAVIGATOR_SCENES
    assert waiting == 0
