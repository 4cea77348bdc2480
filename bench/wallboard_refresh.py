"""How long the wallboard takes to show a change of the live tables, in Chromium.

Prints figures; asserts nothing. Run from the repository root::

    .venv/bin/python bench/wallboard_refresh.py              # 20 changes
    .venv/bin/python bench/wallboard_refresh.py --changes 5

What is measured. The dashboard (``create_app``, waitress with the configured default
of 8 threads) runs on a fresh SQLite database in a temporary folder, with a day of
call records (``--calls``, 1,000 today) and 10 navigators logged in. Headless Chromium
(Debian's) opens ``/wallboard/`` as a manager. Then, ``--changes`` times, this process
writes the live tables as the listener does (``store.live.write_snapshot``: one more or
one fewer caller waiting) at a random moment of the page's poll cycle, and measures the
time until the page's "callers waiting" figure shows the new count (Playwright's
``wait_for_function``, checked on every animation frame). That is what a person in the
room waits: the rest of the poll period, the request, the queries, the rendering.

Baseline, measured in the same run: the round trip of one ``fetch`` of
``/wallboard/state.json`` from the page (what one poll costs), and the poll period the
page uses (``data-poll-ms``). The goal is a change shown within 2 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from sqlalchemy.orm import Session
from waitress import wasyncore
from waitress.server import create_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard import create_app  # noqa: E402
from ivr211.config import DEFAULT_SEED, Config  # noqa: E402
from ivr211.dashboard_options import dashboard_options  # noqa: E402
from store import accounts  # noqa: E402
from store.calls import CallFact, CallSource, QueueOutcome, record_calls  # noqa: E402
from store.db import make_engine, upgrade  # noqa: E402
from store.linesettings import SettingsStore, seed_if_empty  # noqa: E402
from store.live import LiveSnapshot, MemberPresence, WaitingCaller, write_snapshot  # noqa: E402

PASSWORD = "un mot de passe de banc assez long"
CHROMIUM = "/usr/bin/chromium"


def _serve(app: Any) -> tuple[int, threading.Event]:
    server = create_server(app, host="127.0.0.1", port=0, threads=8, ident="bench")
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)

    threading.Thread(target=run, daemon=True).start()
    return server.effective_port, stop


def _snapshot(version: int, waiting: int, at: datetime) -> LiveSnapshot:
    members = tuple(
        MemberPresence(
            f"Local/nav{i}@queue-agents/n", f"Navigateur {i}", ("navigateurs",),
            i % 4 == 3, "dîner" if i % 4 == 3 else "", False, None,
            at - timedelta(minutes=i),
        )
        for i in range(10)
    )  # fmt: skip
    callers = tuple(
        WaitingCaller(
            f"1795{i:06d}.1", f"1795{i:06d}.1", f"PJSIP/trunk-{i:08x}", "navigateurs", i + 1,
            at - timedelta(seconds=10 * i), "fr", "main>navigator",
        )
        for i in range(waiting)
    )  # fmt: skip
    return LiveSnapshot(version, True, at, members, callers)


def _calls(n: int, now: datetime) -> list[CallFact]:
    outcomes = [QueueOutcome.ANSWERED] * 8 + [QueueOutcome.ABANDONED, QueueOutcome.TIMEOUT]
    start = now - timedelta(hours=8)
    return [
        CallFact(
            linkedid=f"1795000000.{i}",
            at=start + timedelta(seconds=i * 28800 / n),
            source=CallSource.AMI,
            queue="navigateurs",
            queue_outcome=outcomes[i % len(outcomes)],
            wait_s=float(i % 90),
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = Config.model_validate(
            {
                "database": {"url": f"sqlite:///{folder / 'store.db'}"},
                "dashboard": {
                    "allow_plain_http": True,
                    "instance_path": str(folder / "instance"),
                    "generated_secret_path": str(folder / "secret"),
                },
            }
        )
        engine = make_engine(config.database.url)
        upgrade(engine)
        with SettingsStore(engine).change() as session:
            seed_if_empty(session, DEFAULT_SEED)
        now = datetime.now(UTC)
        with Session(engine) as session, session.begin():
            accounts.create_user(session, "manager", PASSWORD, "manager", display_name="M")
            record_calls(session, _calls(args.calls, now), now=now)
            write_snapshot(session, _snapshot(1, 0, now), connected=True, at=now)

        port, stop = _serve(create_app(dashboard_options(config), engine=engine))
        url = f"http://127.0.0.1:{port}"
        shown: list[float] = []
        fetches: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"]
            )
            page = browser.new_page(base_url=url)
            page.goto("/login")
            page.locator("#username").fill("manager")
            page.locator("#password").fill(PASSWORD)
            page.locator("form.stacked button[type=submit]").click()
            page.wait_for_load_state()
            page.goto("/wallboard/")
            page.wait_for_function("document.querySelector('#wb-status.is-live') !== null")
            poll_ms = int(page.locator("#wallboard").get_attribute("data-poll-ms") or 0)
            rng = random.Random(211)
            waiting = 0
            for version in range(2, args.changes + 2):
                time.sleep(rng.uniform(0, poll_ms / 1000))
                waiting = 2 if waiting == 1 else 1  # never the count already shown
                started = time.perf_counter()
                at = datetime.now(UTC)
                with Session(engine) as session, session.begin():
                    write_snapshot(session, _snapshot(version, waiting, at), connected=True, at=at)
                page.wait_for_function(
                    "n => document.querySelector('[data-field=waiting]').textContent === n",
                    arg=str(waiting),
                    polling="raf",
                    timeout=10_000,
                )
                shown.append((time.perf_counter() - started) * 1000)
                fetches.append(
                    page.evaluate(
                        """async () => { const t = performance.now();
                        const r = await fetch('/wallboard/state.json', {cache: 'no-store'});
                        await r.json(); return performance.now() - t; }"""
                    )
                )
            browser.close()
        stop.set()
        engine.dispose()

    def line(name: str, values: list[float]) -> str:
        return (
            f"{name:38} min {min(values):7.1f}  median {statistics.median(values):7.1f}"
            f"  max {max(values):7.1f} ms"
        )

    print(f"wallboard refresh: {args.changes} changes, {args.calls} calls today, 10 navigators")
    print(line("change in the tables -> shown", shown))
    print(line("baseline: one state.json fetch", fetches))
    print(f"{'baseline: the page poll period':38} {poll_ms} ms; goal: shown within 2000 ms")


if __name__ == "__main__":
    main()
