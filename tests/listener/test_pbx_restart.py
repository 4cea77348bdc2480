"""Asterisk restarts between calls while the listener runs: every transfer heard before
and after is recorded once (SQLite and PostgreSQL).

The listener is the real service (link, interpreter, writer, database); the fake
Asterisk replays the lab's AMI recordings. Two scenarios are heard, then Asterisk
restarts as the lab recorded it (``2h-ami-restart``: ``Event: Shutdown`` with
``Restart: True``, then EOF, then the port refuses connections for a while), comes
back, and one more scenario is heard on the new connection. The restart comes right
after the last event of the second scenario, before anything says it was written.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.orm import Session

from store.linesettings import SettingsStore
from store.navigators import get_status
from tests.listener.fake_ami import FakeAmi, raw
from tests.listener.test_replay import expected_facts
from tests.listener.test_service import records, run, service_for, until

BEFORE = ["2a1-attended-transfer-ami", "2b3-attended-transfer-cancel"]
AFTER = ["2c1-blind-transfer-ami"]


def test_transfers_around_a_pbx_restart_are_recorded_once(
    store: SettingsStore, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                for name in BEFORE:
                    await fake.replay(raw(name))
                await fake.stop_listening()
                await fake.shutdown(restart=True)  # 2h: Shutdown (Restart: True), EOF
                await until(lambda: not service.link.connected)
                await fake.start()
                await fake.wait_logins(2, timeout_s=10)
                await service.link.wait_connected(10)
                for name in AFTER:
                    await fake.replay(raw(name))
                await until(lambda: len(records(store)) >= len(BEFORE) + len(AFTER))
                assert service.writer is not None
                assert await asyncio.to_thread(service.writer.flush, 10.0)
            finally:
                service.stop()
                await task

    run(scenario())
    expected = {
        fact.key: (fact.kind.value, fact.outcome.value, fact.destination)
        for name in BEFORE + AFTER
        for fact in expected_facts(name)
    }
    got = [(r.key, (r.kind, r.outcome, r.destination)) for r in records(store)]
    assert len(expected) == 3
    assert sorted(got) == sorted(expected.items()), "each transfer once, none missing"
    with Session(store.engine) as session:
        status = get_status(session)
    assert status is not None and status.state == "stopped"
