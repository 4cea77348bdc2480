"""AMI ingest from raw bytes: the listener's real path beside the interpreter alone.

Prints figures; asserts nothing. Run from the repository root::

    .venv/bin/python bench/ami_ingest.py              # 3 runs, ~300,000 messages each
    .venv/bin/python bench/ami_ingest.py --messages 50000 --runs 1

The corpus is every recording of a real Asterisk 22 the project has: the raw TCP bytes
of ``transcripts/raw/*.raw`` and ``transcripts/5-timestamped/*.raw`` (from
``/work/shared/asterisk/transcripts`` when present, else the copies under
``tests/fixtures/ami/``) and the project dialplan's ``6-project-dialplan/*/ami.txt``.
Each ``read()`` Asterisk answered is replayed as one ``data_received`` call, in the
recorded order and cut where the socket cut it; a recording holding several connections
(a restart) starts a new connection at each banner. The corpus is replayed until
``--messages`` messages have gone through.

Two figures, from the same process, one after the other, each the best and the median
of ``--runs`` runs:

* real path: the bytes go through what the listener runs on each read, and nothing
  else: ``listener.ami_wire.AmiProtocol`` (its decoder, its framing, panoramisk's
  ``handle_message`` for replies to actions) -> ``LinkManager`` ->
  ``AmiLink`` -> the subscribers ``ListenerService`` registers (live tracker, call
  tracker, interpreter, call follower, PBX values; not the research box's companion,
  made by ``ivr211``, which only compares one header). Each pass runs on a fresh
  ``ListenerService`` (an in-memory SQLite engine, never started), so every call of the
  corpus is new to it; its writers are replaced by lists, so the facts are counted and
  not written.
* interpreter alone: the same messages, parsed beforehand with
  ``listener.transcripts.messages``, fed to ``Interpreter.feed`` with the time of
  arrival the service gives it (``datetime.now``), on a fresh interpreter per pass.

Both count the facts they concluded: the two counts must match. Messages per second are
wall time on one thread; CPU seconds come from ``time.process_time``, and the last
column divides by them (one core's throughput even when other jobs take turns on it).
The machine may be shared: read the ratio of the two figures of one run, not the
absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

from ivr.settings import LineSettings  # noqa: E402
from listener.ami import LinkOptions  # noqa: E402
from listener.ami_wire import BANNER, AmiProtocol, LinkManager  # noqa: E402
from listener.interpreter import Interpreter  # noqa: E402
from listener.service import ListenerOptions, ListenerService  # noqa: E402
from listener.transcripts import Chunk, messages, read_log, read_raw  # noqa: E402
from store.facts import TransferFact  # noqa: E402
from tests.listener.null_transport import NullTransport  # noqa: E402

SHARED = Path("/work/shared/asterisk/transcripts")
FIXTURES = ROOT / "tests" / "fixtures" / "ami"
TRANSFER_CONTEXT = "emergency-services"
DESTINATIONS = {"911": "911", "811": "811", "988": "988", "18662773553": "cps"}


def recordings() -> list[Path]:
    base = SHARED if SHARED.is_dir() else FIXTURES
    found = sorted((base / "raw").glob("*.raw")) + sorted((base / "5-timestamped").glob("*.raw"))
    found += sorted((SHARED / "6-project-dialplan").glob("*/ami.txt"))
    return found


def connections(path: Path) -> list[list[bytes]]:
    """The RECV reads of one recording, one list per TCP connection (cut at a banner)."""
    chunks: list[Chunk] = read_log(path) if path.suffix == ".txt" else read_raw(path)
    out: list[list[bytes]] = []
    for chunk in chunks:
        if chunk.direction != "RECV":
            continue
        if not out or chunk.data.startswith(BANNER.encode()):
            out.append([])
        out[-1].append(chunk.data)
    return out


@dataclass
class Corpus:
    connections: list[list[bytes]]  # one pass: every connection of every recording
    parsed: list[dict[str, str]]  # the same pass as parsed messages
    files: int


def load() -> Corpus:
    conns: list[list[bytes]] = []
    parsed: list[dict[str, str]] = []
    paths = recordings()
    for path in paths:
        for reads in connections(path):
            conns.append(reads)
            chunks = [Chunk(0.0, "RECV", data) for data in reads]
            parsed.extend(message for _, message in messages(chunks))
    return Corpus(conns, parsed, len(paths))


class _Facts:
    """Stands for the writer: keeps what the service submits."""

    def __init__(self) -> None:
        self.facts: list[TransferFact] = []

    def submit(self, facts: list[TransferFact]) -> None:
        self.facts.extend(facts)


class _CallFacts:
    """Stands for the call writer: counts what the call follower concluded."""

    def __init__(self) -> None:
        self.count = 0

    def submit(self, facts: list[Any]) -> None:
        self.count += len(facts)


def _settings() -> LineSettings:
    raise RuntimeError("not read in this benchmark")


def new_service(engine: Any) -> tuple[ListenerService, _Facts]:
    options = ListenerOptions(spool_path=Path(os.devnull), live_resync=False)
    service = ListenerService(engine, LinkOptions(), _settings, options)
    service.directory.keys = dict(DESTINATIONS)
    service.directory.transfer_context = TRANSFER_CONTEXT
    service.interpreter = Interpreter(service.directory.resolve, {TRANSFER_CONTEXT})
    # what ListenerService._run subscribes, in its order
    service.link.subscribe(service._feed_live)
    service.link.subscribe(service.tracker.feed)
    service.link.subscribe(service._interpret)
    service.link.subscribe(service._follow_calls)
    service.link.subscribe(service.pbx.on_event)
    sink = _Facts()
    service.writer = sink  # type: ignore[assignment]
    service.call_writer = _CallFacts()  # type: ignore[assignment]
    return service, sink


def real_pass(corpus: Corpus, service: ListenerService, loop: asyncio.AbstractEventLoop) -> int:
    """One pass of the corpus through protocol -> manager -> link -> subscribers."""
    count = 0
    for reads in corpus.connections:
        manager = LinkManager(
            service.link, loop=loop, protocol_factory=AmiProtocol, ping_delay=10**6
        )
        protocol = AmiProtocol()
        protocol.connection_made(NullTransport())
        done: asyncio.Future[Any] = loop.create_future()
        done.set_result((None, protocol))
        manager.connection_made(done)
        for data in reads:
            protocol.data_received(data)
        count += 1
    return count


def interpreter_pass(corpus: Corpus, interpreter: Interpreter) -> list[TransferFact]:
    facts: list[TransferFact] = []
    feed = interpreter.feed
    for message in corpus.parsed:
        facts.extend(feed(message, datetime.now(UTC)))
    return facts


@dataclass
class Result:
    seconds: float
    cpu: float
    messages: int
    facts: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_rate(self) -> float:
        """Messages per second of this process's CPU time: what one core does, whatever
        else the machine runs meanwhile."""
        return self.messages / self.cpu


def measure(passes: int, run_pass: Callable[[], int]) -> Result:
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    facts = 0
    for _ in range(passes):
        facts += run_pass()
    return Result(time.perf_counter() - start, time.process_time() - cpu, 0, facts)


def run_real(corpus: Corpus, passes: int, count: int) -> Result:
    engine = create_engine("sqlite://")
    loop = asyncio.new_event_loop()
    made = [new_service(engine) for _ in range(passes)]
    it: Iterator[tuple[ListenerService, _Facts]] = iter(made)

    def one() -> int:
        service, sink = next(it)
        real_pass(corpus, service, loop)
        return len(sink.facts)

    try:
        result = measure(passes, one)
    finally:
        for service, _ in made:
            service._status_pool.shutdown()
            service._live_pool.shutdown()
        loop.close()
        engine.dispose()
    result.messages = count * passes
    return result


def run_interpreter(corpus: Corpus, passes: int, count: int) -> Result:
    made = iter([Interpreter(_resolve, {TRANSFER_CONTEXT}) for _ in range(passes)])
    result = measure(passes, lambda: len(interpreter_pass(corpus, next(made))))
    result.messages = count * passes
    return result


def _resolve(exten: str, context: str) -> str | None:
    return DESTINATIONS.get(exten) if context == TRANSFER_CONTEXT else None


def count_messages(corpus: Corpus) -> int:
    """Messages one pass of the real path delivers (events and replies alike)."""
    seen = 0
    engine = create_engine("sqlite://")
    service, _ = new_service(engine)

    def counting(event: Any) -> None:
        nonlocal seen
        seen += 1

    service.link.subscribe(counting)
    loop = asyncio.new_event_loop()
    real_pass(corpus, service, loop)
    loop.close()
    engine.dispose()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300_000, help="per run (about)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    corpus = load()
    per_pass = len(corpus.parsed)
    passes = max(1, round(args.messages / per_pass))
    delivered = count_messages(corpus)
    print(
        f"AMI ingest benchmark, {datetime.now():%Y-%m-%d %H:%M}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    print(
        f"corpus: {corpus.files} recordings, {len(corpus.connections)} connections, "
        f"{sum(map(len, corpus.connections))} reads, {per_pass} messages "
        f"({delivered} reach the subscribers on the real path); {passes} passes per run"
    )
    real: list[Result] = []
    alone: list[Result] = []
    for run in range(1, args.runs + 1):
        r = run_real(corpus, passes, per_pass)
        a = run_interpreter(corpus, passes, per_pass)
        real.append(r)
        alone.append(a)
        print(
            f"run {run}: real path {r.rate:>9,.0f} msg/s ({r.cpu:.2f} s CPU, {r.facts} facts)"
            f"   interpreter alone {a.rate:>9,.0f} msg/s ({a.cpu:.2f} s CPU, {a.facts} facts)"
            f"   ratio {a.rate / r.rate:.1f}x"
        )
    print()
    print(f"{'messages/s':<22}{'best':>12}{'median':>12}{'per CPU s, median':>20}")
    for name, results in (("real path", real), ("interpreter alone", alone)):
        rates = [x.rate for x in results]
        cpu = statistics.median(x.cpu_rate for x in results)
        print(f"{name:<22}{max(rates):>12,.0f}{statistics.median(rates):>12,.0f}{cpu:>20,.0f}")
    share = (
        1
        - statistics.median(a.rate for a in alone) ** -1
        / statistics.median(r.rate for r in real) ** -1
    )
    print(f"share of the real path's time outside the interpreter (medians): {share:.0%}")


if __name__ == "__main__":
    main()
