"""The Twilio command runner says it is alive: the console offers the Twilio actions,
and the status page says the Twilio line can take them, only while this beat is fresh
(a line without Asterisk has no listener to watch)."""

from __future__ import annotations

import time
from datetime import UTC
from pathlib import Path

from sqlalchemy.orm import Session

from store.heartbeats import get_heartbeat
from store.twilio_presence import RUNNER_HEARTBEAT
from tests.twilio_line.helpers import running_line
from twilio_line.console import TwilioConsole


def test_the_runner_beats_while_it_runs(tmp_path: Path) -> None:
    with running_line(tmp_path) as line:
        console = TwilioConsole(
            line.options, line.engine, lambda: line.settings["settings"], lambda: line.now[0]
        )
        with Session(line.engine) as session:
            assert get_heartbeat(session, RUNNER_HEARTBEAT) is None
        console.start(poll_s=0.01, heartbeat_s=60)
        try:
            deadline = time.monotonic() + 5
            found = None
            while found is None and time.monotonic() < deadline:
                with Session(line.engine) as session:
                    found = get_heartbeat(session, RUNNER_HEARTBEAT)
                time.sleep(0.02)
        finally:
            console.stop()
        assert found is not None
        assert found.heartbeat_at == line.now[0].astimezone(UTC)
        assert found.started_at == line.now[0].astimezone(UTC)
