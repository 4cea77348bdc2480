"""The demonstration's database: created (or reused) under the project's data folder,
never the configured one, and marked so that no other database is ever filled by mistake.

The mark is SQLite's own header field ``application_id`` (``PRAGMA application_id``),
which no migration touches: a database without it that holds any record (an account, a
navigator, a call, a transfer, a message) is refused with :class:`DemoRefused`. The
demonstration is SQLite only: a PostgreSQL URL is refused the same way.
"""

from __future__ import annotations

import logging
import random
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session

from ivr.dialplan import vm_category
from ivr.settings import LineSettings
from ivr211.cli.research_box import message_text, tone_wav
from ivr211.demo.year import DemoNavigator, YearFigures, generate_year, period_for
from research.ingest import Ingester, IngestOptions
from store import linesettings as ls
from store.accounts import create_user, set_password, user_by_username
from store.calls import CallRecord
from store.db import make_engine, sqlite_path, upgrade
from store.navigators import add_navigator, navigator_by_username
from store.voicemail import VoiceMessage, set_message_status

__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_APPLICATION_ID",
    "DEMO_FOLDER",
    "DEMO_NAVIGATORS",
    "DemoDatabase",
    "DemoRefused",
    "check_target",
    "demo_url",
    "is_demo",
    "prepare",
]

log = logging.getLogger(__name__)

#: The project's data folder for the demonstration (relative to the working directory,
#: like every ``var/`` default of the configuration).
DEMO_FOLDER = Path("var/demo")
#: ``PRAGMA application_id`` of a demonstration database: "211d".
DEMO_APPLICATION_ID = 0x32313164
#: Tables whose rows make a database "in use": never filled by the demonstration.
_RECORD_TABLES = ("users", "navigators", "calls", "transfer_records", "voice_messages")

#: The navigators, each on a queue member the lab's recordings use (the live line
#: replays them), with its shift.
DEMO_NAVIGATORS = (
    DemoNavigator("gtremblay", "Geneviève Tremblay", "Local/nav@queue-agents",
                  "Local/nav@queue-agents/n", early=True),
    DemoNavigator("mgagnon", "Marc Gagnon", "Local/nav2@queue-agents",
                  "Local/nav2@queue-agents/n", early=False),
    DemoNavigator("sroy", "Sophie Roy", "Local/nav5@queue-agents",
                  "Local/nav5@queue-agents/n", early=True),
    DemoNavigator("lcote", "Louis Côté", "Local/navlong@queue-agents",
                  "Local/navlong@queue-agents/n", early=False),
    DemoNavigator("jbouchard", "Julie Bouchard", "Local/noanswer@queue-agents",
                  "Local/noanswer@queue-agents/n", early=True),
    DemoNavigator("mgauthier", "Mathieu Gauthier", "Local/nav-dtmf-atxfer@navigators",
                  "Local/nav-dtmf-atxfer@navigators/n", early=False),
)  # fmt: skip
#: (user name, role, display name): one account per role; the navigator's is tied to
#: the first navigator.
DEMO_ACCOUNTS = (
    ("demo-admin", "admin", "Administration (démo)"),
    ("demo-gestion", "manager", "Gestion (démo)"),
    ("demo-navigation", "navigator", DEMO_NAVIGATORS[0].name),
    ("demo-recherche", "research", "Équipe de recherche (démo)"),
)
_CALLER_NAMES = ("Marie Gagnon", "Jean Lavoie", "Lise Bergeron", "Paul Morin", "Anne Fortin")
_MESSAGE_TEXT = {
    "fr": "Bonjour, ceci est un message de démonstration. J'attends un médecin de famille"
    " et j'aurais besoin d'un suivi à domicile. Merci de me rappeler.",
    "en": "Hello, this is a demonstration message. I am waiting for a family doctor and"
    " would need follow-up at home. Please call me back.",
}


class DemoRefused(Exception):
    """The demonstration will not write into this database."""


@dataclass(frozen=True)
class DemoDatabase:
    """A ready demonstration database: where, the figures of the days made up now (None
    when none were: reused the day it was made), and the accounts with the passwords
    just set."""

    url: str
    folder: Path
    figures: YearFigures | None
    passwords: tuple[tuple[str, str, str], ...]  # (user name, role, password)


def demo_url(folder: Path = DEMO_FOLDER) -> str:
    return f"sqlite:///{folder / 'demo.db'}"


def is_demo(engine: Engine) -> bool:
    with engine.connect() as connection:
        return connection.execute(text("PRAGMA application_id")).scalar() == DEMO_APPLICATION_ID


def _has_records(engine: Engine) -> bool:
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        for table in _RECORD_TABLES:
            if (
                table in tables
                and connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first()
            ):
                return True
    return False


def check_target(engine: Engine) -> bool:
    """Whether ``engine`` is a demonstration database (True) or an empty one (False);
    raises :class:`DemoRefused` for anything else."""
    if engine.dialect.name != "sqlite":
        raise DemoRefused("the demonstration runs on its own SQLite file only")
    if is_demo(engine):
        return True
    if _has_records(engine):
        path = sqlite_path(engine.url)
        raise DemoRefused(
            f"{path} is not a demonstration database and holds records: the demonstration"
            " never writes into it (choose another folder with --folder)"
        )
    return False


def _mark(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"PRAGMA application_id = {DEMO_APPLICATION_ID}"))


def prepare(
    folder: Path = DEMO_FOLDER,
    *,
    seed_file: Path,
    today: date | None = None,
    production_url: str | None = None,
    days: int = 365,
) -> DemoDatabase:
    """Create the demonstration database in ``folder`` with the ``days`` that ended
    yesterday (or reuse the one there, made up to yesterday), and set new random
    passwords on its accounts. ``figures`` is what was made up now (None: nothing)."""
    folder.mkdir(parents=True, exist_ok=True)
    url = demo_url(folder)
    if production_url is not None and _same_file(url, production_url):
        raise DemoRefused(
            f"{sqlite_path(url)} is the configured database: the demonstration uses its own"
        )
    engine = make_engine(url)
    try:
        reused = check_target(engine)
        upgrade(engine)
        store = ls.SettingsStore(engine)
        today = today or date.today()
        first, last = period_for(today, days)
        if reused:
            # The days since the last start are made up too, so the reports reach yesterday.
            first = _last_made_up_day(engine) + timedelta(days=1)
        else:
            _mark(engine)
            with store.change() as session:
                ls.seed_if_empty(session, seed_file, by="ivr211 demo")
            with Session(engine) as session, session.begin():
                for nav in DEMO_NAVIGATORS:
                    add_navigator(
                        session, nav.username, nav.name, nav.phone_endpoint, nav.queue_interface
                    )
        figures = None
        if first <= last:
            figures = _fill(engine, store.load(), folder, first, last)
        passwords = _accounts(engine)
    finally:
        engine.dispose()
    return DemoDatabase(url, folder, figures, passwords)


def _same_file(first: str, second: str) -> bool:
    a, b = sqlite_path(first), sqlite_path(second)
    return a is not None and b is not None and a.resolve() == b.resolve()


def _last_made_up_day(engine: Engine) -> date:
    """The last day of made-up calls (the flow's facts: the live line writes only the
    listener's)."""
    with Session(engine) as session:
        last = session.scalar(
            select(func.max(CallRecord.local_date)).where(CallRecord.seen_flow.is_(True))
        )
    return last if last is not None else date.today() - timedelta(days=1)


def _fill(
    engine: Engine, settings: LineSettings, folder: Path, first: date, last: date
) -> YearFigures:
    figures, messages = generate_year(
        engine, settings, DEMO_NAVIGATORS, first, last, seed=first.toordinal()
    )
    keep_from = datetime.now(UTC) - timedelta(days=settings.research_consent.retention_days)
    kept = [m for m in messages if m[0] >= keep_from]
    _leave_messages(engine, settings, folder, kept)
    return figures


def _accounts(engine: Engine) -> tuple[tuple[str, str, str], ...]:
    out = []
    with Session(engine) as session, session.begin():
        navigator = navigator_by_username(session, DEMO_NAVIGATORS[0].username)
        for username, role, name in DEMO_ACCOUNTS:
            password = secrets.token_urlsafe(12)
            if user_by_username(session, username) is None:
                create_user(
                    session,
                    username,
                    password,
                    role,
                    display_name=name,
                    navigator_id=navigator.id if role == "navigator" and navigator else None,
                )
            else:
                set_password(session, username, password)
            out.append((username, role, password))
    return tuple(out)


# ---- research messages ---------------------------------------------------------------------


def _speech(language: str) -> bytes:
    """A short spoken message (espeak-ng piped into sox, as the prompts are made), or a
    tone when they are not installed."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        return tone_wav(4.0)
    voice = "fr-fr" if language == "fr" else "en-us"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "message.wav"
        espeak = ["espeak-ng", "-v", voice, "-s", "150", "--stdout", _MESSAGE_TEXT[language]]
        sox = ["sox", "-V1", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16"]
        sox += ["-e", "signed-integer", "-t", "wav", str(out)]
        try:
            spoken = subprocess.run(espeak, capture_output=True, check=True, timeout=30).stdout
            subprocess.run(sox, input=spoken, capture_output=True, check=True, timeout=30)
            return out.read_bytes()
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("spoken demonstration message not made (%s): a tone instead", exc)
            return tone_wav(4.0)


def _leave_messages(
    engine: Engine,
    settings: LineSettings,
    folder: Path,
    messages: Sequence[tuple[datetime, str | None, str, str | None]],
) -> None:
    """Spool the messages as app_voicemail leaves them, then let the research box's own
    ingester take them in (no notification); older ones get a follow-up status."""
    if not messages:
        return
    box, _, context = settings.research_mailbox.partition("@")
    options = IngestOptions(
        spool_dir=folder / "spool",
        storage_dir=folder / "voicemail",
        mailbox=settings.research_mailbox,
        settle_s=0,
    )
    inbox = options.mailbox_dir / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    audio = {lang: _speech(lang) for lang in ("fr", "en")}
    rng = random.Random(int(messages[0][0].timestamp()))
    ingester = Ingester(engine, options, on_new=None)
    for start in range(0, len(messages), 500):
        for n, (at, number, language, callback) in enumerate(messages[start : start + 500]):
            lang = "en" if language == "en" else "fr"
            name = rng.choice(_CALLER_NAMES) if number and rng.random() < 0.3 else None
            callerid = f'"{name}" <{number}>' if name else (number or "")
            wav = audio[lang]
            stem = inbox / f"msg{n:04d}"
            stem.with_suffix(".wav").write_bytes(wav)
            origtime = int(at.timestamp())
            stem.with_suffix(".txt").write_text(
                message_text(
                    mailbox=box,
                    context=context,
                    origtime=origtime,
                    msg_id=f"{origtime}-{rng.getrandbits(32):08x}",
                    duration_s=max(1, (len(wav) - 44) // 16000),
                    callerid=callerid,
                    category=vm_category(lang, callback),
                ),
                encoding="utf-8",
            )
        ingester.sweep()
    _follow_up(engine, rng)


def _follow_up(engine: Engine, rng: random.Random) -> None:
    """What the research team did with the messages older than two weeks."""
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        old = session.scalars(
            select(VoiceMessage).where(VoiceMessage.received_at < now - timedelta(days=14))
        ).all()
        for message in old:
            status = rng.choices(("closed", "called_back", "in_progress"), (60, 25, 15))[0]
            at = message.received_at + timedelta(days=rng.randint(1, 10))
            set_message_status(session, message, status, DEMO_ACCOUNTS[3][0], at)
