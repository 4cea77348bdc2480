"""Load benchmark of the FastAGI server: N concurrent calls, against a bare-protocol baseline.

Prints figures; asserts nothing. Run from the repository root::

    .venv/bin/python bench/agi_load.py                 # levels 50,200,500,1000
    .venv/bin/python bench/agi_load.py --quick         # levels 50,200, shorter RTT run
    .venv/bin/python bench/agi_load.py --levels 100,300

Each level starts, in a process of its own, first the real server
(``agi_scripts.server.serve`` with a fixed in-memory ``LineSettings`` -- the domain
brief's default line from tests/agi/agi_fakes.py -- a clock fixed on a Wednesday at
10:00, America/Toronto, and INFO logging to a file, as ``ivr211 serve`` logs), then the
baseline: a minimal asyncio server that reads the same header block and sends the same
number of command lines (``ANSWER``), one at a time, with no flow, settings or logging.

The client plays Asterisk with the reply engine of tests/agi/agi_fakes.py
(``FakeAsterisk.default_reply``), whose every line is recorded from Asterisk 22.10.1:
1a's header block, then for instance::

    S->A b'ANSWER\\n'                         A->S b'200 result=0\\n'
    S->A b'SET VARIABLE IVR_FLOW_DONE ""\\n'  A->S b'200 result=1\\n'
    S->A b'STREAM FILE 211/greeting ""\\n'    A->S b'200 result=0 endpos=3404\\n'
    S->A b'STREAM FILE 211/language-menu "123"\\n'
                                              A->S b'200 result=49 endpos=17760\\n'

Every caller presses 1 at the language menu and 1 at the main menu (French, navigator
queue) and the server closes the socket after ``SET VARIABLE IVR_FLOW_DONE 1``. A call
counts as completed when the server set ``IVR_FLOW_DONE 1`` (real server) or sent all
its commands (baseline), then closed.

Figures per level: calls completed/failed, wall time, calls/s, latency per call
(header sent -> socket closed by the server) p50/p95/p99, server CPU (utime+stime from
/proc/<pid>/stat, after a warm-up of a few calls), CPU per call, server peak RSS
(VmHWM from /proc/<pid>/status; a fresh process per level). Also the server-side round
trip of one command (write ``ANSWER`` -> ``200 result=0`` read), median over sequential
commands on one connection: for the real server through ``agi_scripts.channel.Channel``
on an ``AgiServer`` route of its own, for the baseline on a bare stream.

Only 127.0.0.1; every wait is bounded (per-call timeout, process start and stop timeouts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import platform
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agi_scripts.channel import Channel  # noqa: E402
from agi_scripts.protocol import AgiHeader  # noqa: E402
from agi_scripts.runner import CallOutcome  # noqa: E402
from agi_scripts.server import AgiServer, ServerOptions, serve  # noqa: E402
from ivr.dialplan import ROUTE_INCOMING, VAR_FLOW_DONE  # noqa: E402
from tests.agi.agi_fakes import OPEN_NOW, FakeAsterisk, header_for, line_settings  # noqa: E402

HOST: Final = "127.0.0.1"
DEFAULT_LEVELS: Final = (50, 200, 500, 1000)
QUICK_LEVELS: Final = (50, 200)
BACKLOG: Final = 1024  # what agi_scripts/server.py passes to asyncio.start_server
RTT_ROUTE: Final = "bench-rtt"
KEYS: Final = ("1", "1")  # language menu: 1 (French); main menu: 1 (navigator)
START_TIMEOUT_S: Final = 20.0
STOP_TIMEOUT_S: Final = 10.0
CALL_TIMEOUT_S: Final = 20.0
RTT_TIMEOUT_S: Final = 30.0
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# ---- server processes --------------------------------------------------------------


async def _until_stopped(conn: Connection, start: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run a server until SIGTERM/SIGINT; ``start`` listens and returns the port,
    which is sent to the parent."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    conn.send(await start())
    await stop.wait()


async def _real_server(conn: Connection) -> None:
    settings = line_settings()
    options = ServerOptions(host=HOST, port=0)
    task: asyncio.Task[None] | None = None

    async def start() -> int:
        nonlocal task
        started = asyncio.Event()
        task = asyncio.create_task(
            serve(options, lambda: settings, clock=lambda: OPEN_NOW, started=started)
        )
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiter}, timeout=START_TIMEOUT_S, return_when="FIRST_COMPLETED")
        if not started.is_set():
            waiter.cancel()
            task.cancel()
            raise RuntimeError("the FastAGI server did not start")
        return options.port

    try:
        await _until_stopped(conn, start)
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _real_rtt_server(conn: Connection, rtt_commands: int) -> None:
    """The server's own classes with one extra route that sends ``ANSWER`` in a loop."""

    async def rtt(channel: Channel, header: AgiHeader) -> CallOutcome:
        samples: list[int] = []
        for _ in range(rtt_commands):
            began = time.perf_counter_ns()
            await channel.answer()
            samples.append(time.perf_counter_ns() - began)
        conn.send(samples)
        return CallOutcome(finished=True, hung_up=False, decision=None)

    server = AgiServer(ServerOptions(host=HOST, port=0), {RTT_ROUTE: rtt})
    try:
        await _until_stopped(conn, server.start)
    finally:
        await server.close()


async def _baseline_server(conn: Connection, commands: int, rtt_commands: int) -> None:
    """The bare protocol: read the header block, then ``ANSWER`` and one reply line,
    ``commands`` times (``rtt_commands`` timed ones on the RTT route), then close."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            route = ""
            async with asyncio.timeout(CALL_TIMEOUT_S):
                while (line := await reader.readline()) not in (b"\n", b""):
                    if line.startswith(b"agi_network_script:"):
                        route = line.split(b":", 1)[1].strip().decode()
                timed = route == RTT_ROUTE
                samples: list[int] = []
                for _ in range(rtt_commands if timed else commands):
                    began = time.perf_counter_ns()
                    writer.write(b"ANSWER\n")
                    await writer.drain()
                    if not await reader.readline():
                        break
                    samples.append(time.perf_counter_ns() - began)
                if timed:
                    conn.send(samples)
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(on_connect, HOST, 0, backlog=BACKLOG)
    async with server:

        async def start() -> int:
            port: int = server.sockets[0].getsockname()[1]
            return port

        await _until_stopped(conn, start)


def _real_main(conn: Connection, log_path: str) -> None:
    logging.basicConfig(filename=log_path, level=logging.INFO, format=LOG_FORMAT)
    asyncio.run(_real_server(conn))


def _real_rtt_main(conn: Connection, log_path: str, rtt_commands: int) -> None:
    logging.basicConfig(filename=log_path, level=logging.INFO, format=LOG_FORMAT)
    asyncio.run(_real_rtt_server(conn, rtt_commands))


def _baseline_main(conn: Connection, commands: int, rtt_commands: int) -> None:
    asyncio.run(_baseline_server(conn, commands, rtt_commands))


class ServerProcess:
    """A server in a spawned process: its port, CPU time and peak RSS from /proc."""

    def __init__(self, target: Callable[..., None], *args: object) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child, *args), daemon=True)
        self.port = 0

    def __enter__(self) -> ServerProcess:
        self.process.start()
        if not self.conn.poll(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"server process {self.process.pid} did not report its port")
        self.port = self.conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def cpu_s(self) -> float:
        """utime + stime of the whole process (all threads)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        return 0

    def receive(self, timeout_s: float) -> Any:
        if not self.conn.poll(timeout_s):
            raise TimeoutError(f"nothing from server process {self.pid} in {timeout_s:g} s")
        return self.conn.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            os.kill(self.pid, signal.SIGTERM)
            self.process.join(STOP_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_TIMEOUT_S)
        self.conn.close()


# ---- the calling side ------------------------------------------------------------


@dataclass
class CallResult:
    ok: bool
    commands: int
    latency_s: float = 0.0
    connect_s: float = 0.0
    error: str = ""


@dataclass
class Gauge:
    in_flight: int = 0
    peak: int = 0

    def up(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def down(self) -> None:
        self.in_flight -= 1


async def place_call(
    port: int, *, route: str, expected_commands: int | None, gauge: Gauge
) -> CallResult:
    """One call as Asterisk places it: connect, 1a's header block, then each command
    answered with ``FakeAsterisk.default_reply`` until the server closes.

    ``expected_commands`` None: the real flow, completed when ``IVR_FLOW_DONE`` is 1.
    """
    fake = FakeAsterisk(port, header=header_for(route), keys=list(KEYS))
    began = time.perf_counter()
    writer: asyncio.StreamWriter | None = None
    sent = began
    try:
        async with asyncio.timeout(CALL_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(HOST, port)
            connected = time.perf_counter()
            gauge.up()
            try:
                writer.writelines(fake.header)
                await writer.drain()
                sent = time.perf_counter()
                while line := await reader.readline():
                    command = line.decode().rstrip("\n")
                    fake.commands.append(command)
                    writer.writelines(fake.default_reply(command))
                    await writer.drain()
                closed = time.perf_counter()
            finally:
                gauge.down()
    except (OSError, TimeoutError, AssertionError) as exc:
        return CallResult(False, len(fake.commands), error=type(exc).__name__)
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    if expected_commands is None:
        ok = fake.variables.get(VAR_FLOW_DONE) == "1"
        error = "" if ok else "flow not finished"
    else:
        ok = len(fake.commands) == expected_commands
        error = "" if ok else f"{len(fake.commands)} commands"
    return CallResult(ok, len(fake.commands), closed - sent, connected - began, error)


@dataclass
class LevelResult:
    results: list[CallResult]
    wall_s: float
    cpu_s: float
    peak_rss_kib: int
    idle_rss_kib: int
    client_cpu_s: float
    peak_in_flight: int
    listen_drops: int
    log_levels: Counter[str] = field(default_factory=Counter)

    @property
    def completed(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.completed

    def latency_ms(self, q: int) -> float:
        return percentile([r.latency_s for r in self.results if r.ok], q) * 1000

    def connect_ms(self, q: int) -> float:
        return percentile([r.connect_s for r in self.results if r.ok], q) * 1000


def percentile(values: Sequence[float], q: int) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def client_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_level(
    server: ServerProcess, calls: int, expected_commands: int | None, warmup: int
) -> LevelResult:
    gauge = Gauge()
    for _ in range(warmup):
        await place_call(
            server.port, route=ROUTE_INCOMING, expected_commands=expected_commands, gauge=gauge
        )
    idle_rss = server.status_kib("VmRSS")
    gauge = Gauge()
    cpu_before, client_before, drops_before = server.cpu_s(), client_cpu_s(), listen_drops()
    began = time.perf_counter()
    results = await asyncio.gather(
        *(
            place_call(
                server.port,
                route=ROUTE_INCOMING,
                expected_commands=expected_commands,
                gauge=gauge,
            )
            for _ in range(calls)
        )
    )
    wall = time.perf_counter() - began
    return LevelResult(
        list(results),
        wall,
        server.cpu_s() - cpu_before,
        server.status_kib("VmHWM"),
        idle_rss,
        client_cpu_s() - client_before,
        gauge.peak,
        listen_drops() - drops_before,
    )


async def commands_per_call(server: ServerProcess) -> int:
    """Commands of a steady-state call (the first call of a process also writes the
    AstDB mirror, eight ``DATABASE PUT``)."""
    result = CallResult(False, 0)
    for _ in range(2):
        result = await place_call(
            server.port, route=ROUTE_INCOMING, expected_commands=None, gauge=Gauge()
        )
    if not result.ok:
        raise RuntimeError(f"a single call through the real server failed: {result.error}")
    return result.commands


async def rtt_call(server: ServerProcess, commands: int) -> list[int]:
    result = await place_call(
        server.port, route=RTT_ROUTE, expected_commands=commands, gauge=Gauge()
    )
    if not result.ok:
        raise RuntimeError(f"RTT call failed: {result.error}")
    samples: list[int] = await asyncio.to_thread(server.receive, RTT_TIMEOUT_S)
    return samples


def listen_drops() -> int:
    """TcpExt ListenOverflows + ListenDrops of this network namespace: SYNs dropped
    because an accept queue was full (what 1h shows Asterisk turning into
    AGISTATUS=FAILURE after 2 s)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(table.get("ListenOverflows", 0)) + int(table.get("ListenDrops", 0))
    return 0


def log_levels(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(" ", 3)
            if len(parts) > 2 and parts[2].isupper():
                counts[parts[2]] += 1
    return counts


# ---- report ----------------------------------------------------------------------


def _ratio(real: float, base: float) -> str:
    return f"{real / base:.1f}x" if base > 0 else "-"


def print_level(calls: int, commands: int, real: LevelResult, base: LevelResult) -> None:
    print(f"\n== {calls} concurrent calls ({commands} commands each) ==")
    print(f"{'':28}{'real server':>14}{'baseline':>14}{'ratio':>9}")
    rows: list[tuple[str, float, float, str]] = [
        ("wall time s", real.wall_s, base.wall_s, "{:.2f}"),
        ("calls/s", real.completed / real.wall_s, base.completed / base.wall_s, "{:.0f}"),
        ("latency p50 ms", real.latency_ms(50), base.latency_ms(50), "{:.1f}"),
        ("latency p95 ms", real.latency_ms(95), base.latency_ms(95), "{:.1f}"),
        ("latency p99 ms", real.latency_ms(99), base.latency_ms(99), "{:.1f}"),
        ("connect p99 ms", real.connect_ms(99), base.connect_ms(99), "{:.1f}"),
        ("server CPU s", real.cpu_s, base.cpu_s, "{:.2f}"),
        ("server CPU per call ms", 1000 * real.cpu_s / calls, 1000 * base.cpu_s / calls, "{:.2f}"),
        ("server RSS idle MiB", real.idle_rss_kib / 1024, base.idle_rss_kib / 1024, "{:.1f}"),
        ("server peak RSS MiB", real.peak_rss_kib / 1024, base.peak_rss_kib / 1024, "{:.1f}"),
        ("client CPU s", real.client_cpu_s, base.client_cpu_s, "{:.2f}"),
    ]
    done = f"{real.completed}/{real.failed}"
    print(f"{'completed/failed':28}{done:>14}{f'{base.completed}/{base.failed}':>14}")
    for label, ri, bi in (
        ("peak calls in flight", real.peak_in_flight, base.peak_in_flight),
        ("SYNs dropped (listen queue)", real.listen_drops, base.listen_drops),
    ):
        print(f"{label:28}{ri:>14}{bi:>14}")
    for label, r, b, fmt in rows:
        print(f"{label:28}{fmt.format(r):>14}{fmt.format(b):>14}{_ratio(r, b):>9}")
    for name, level in (("real", real), ("baseline", base)):
        errors = Counter(r.error for r in level.results if not r.ok)
        if errors:
            print(f"  {name} failures: {dict(errors)}")
    logged = {k: v for k, v in real.log_levels.items() if k != "INFO"}
    print(f"  real server log: {real.log_levels['INFO']} INFO lines, others {logged or 'none'}")


def print_rtt(real: list[int], base: list[int]) -> None:
    print(f"\n== one command round trip, server side (ANSWER -> 200 result=0), n={len(real)} ==")
    print(f"{'':28}{'real server':>14}{'baseline':>14}{'ratio':>9}")
    for label, q in (("median us", 50), ("p99 us", 99)):
        r, b = percentile(real, q) / 1000, percentile(base, q) / 1000
        print(f"{label:28}{r:>14.1f}{b:>14.1f}{_ratio(r, b):>9}")


# ---- main ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--levels", default=None, help="comma-separated concurrent calls (default 50,200,500,1000)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="levels 50,200 unless --levels; 200 RTT commands"
    )
    args = parser.parse_args(argv)
    if args.levels:
        args.levels = tuple(int(x) for x in args.levels.split(",") if x.strip())
    else:
        args.levels = QUICK_LEVELS if args.quick else DEFAULT_LEVELS
    if not args.levels or min(args.levels) < 1 or max(args.levels) > 5000:
        parser.error("--levels: integers between 1 and 5000")
    args.rtt_commands = 200 if args.quick else 1000
    args.warmup = 2 if args.quick else 3
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    print(
        f"FastAGI load benchmark, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"levels {','.join(map(str, args.levels))}"
    )
    somaxconn = Path("/proc/sys/net/core/somaxconn").read_text().strip()
    print(f"listen backlog: server.py {BACKLOG}, baseline {BACKLOG}, somaxconn {somaxconn}")
    with tempfile.TemporaryDirectory(prefix="agi-bench-") as tmp:
        log_dir = Path(tmp)
        with ServerProcess(_real_main, str(log_dir / "probe.log")) as probe:
            commands = asyncio.run(commands_per_call(probe))
        with ServerProcess(_real_rtt_main, str(log_dir / "rtt.log"), args.rtt_commands) as srv:
            real_rtt = asyncio.run(rtt_call(srv, args.rtt_commands))
        with ServerProcess(_baseline_main, commands, args.rtt_commands) as srv:
            base_rtt = asyncio.run(rtt_call(srv, args.rtt_commands))
        print_rtt(real_rtt, base_rtt)
        for calls in args.levels:
            log_path = log_dir / f"real-{calls}.log"
            with ServerProcess(_real_main, str(log_path)) as srv:
                real = asyncio.run(run_level(srv, calls, None, args.warmup))
            real.log_levels = log_levels(log_path)
            with ServerProcess(_baseline_main, commands, args.rtt_commands) as srv:
                base = asyncio.run(run_level(srv, calls, commands, args.warmup))
            print_level(calls, commands, real, base)
    print(f"\ntotal {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
