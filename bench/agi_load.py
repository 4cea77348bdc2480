"""Load benchmark of the FastAGI server: one command's round trip with ~1,000 calls in
flight, beside a raw asyncio echo baseline measured in the same run; and classic AGI
(a process per call) beside the FastAGI server's CPU per call.

Prints figures; asserts nothing. Run from the repository root::

    .venv/bin/python bench/agi_load.py                       # 3 runs of the 3 shapes
    .venv/bin/python bench/agi_load.py --runs 1 --calls 300  # a quick look
    .venv/bin/python bench/agi_load.py --workers 2           # two server processes

What is measured. A client process (this one) plays Asterisk: it connects, sends the
header block of transcript 1a and answers every command with the recorded replies of
``tests/agi/agi_fakes.FakeAsterisk.default_reply``, waiting as a caller would: a prompt
played to its end (``STREAM FILE ... ""`` or with no key pressed) answers after
``--play-s``, a prompt interrupted by a key after ``--key-s``, every other command at
once. Each caller hears the emergency notice and the greeting, presses 1 (French) at the
language menu and 1 (navigator) at the main menu, and hears the transfer notice: about
6.5 s per call, so the calls overlap. One *round trip* is the time from the client's
reply (or the header block) leaving to the next command arriving: what the caller waits
on the server. Its p99 over every command of every call is the figure.

Three shapes of arrival, ``--calls`` calls each (1,000): *steady* (spread evenly over
6 s), *2 s* (spread over 2 s) and *burst* (all at once). For each shape, the same client
runs against:

* the real server: ``agi_scripts.server.serve`` (``--workers`` processes on one port
  with SO_REUSEPORT when above 1), the default line of ``tests/agi/agi_fakes.py`` in
  memory (``agi_scripts.runner.FixedSettings``: read on the event loop, as the
  production ``CachedSettings`` is within its time to live), a clock fixed on a
  Wednesday at 10:00, INFO logging to a file, the garbage collector frozen after start
  as the service does (``serve(freeze_gc=True)``);
* the echo baseline: a raw asyncio server that reads the header block, then sends the
  next command line of a recorded real call each time a reply line arrives. Same
  commands, same replies, same caller waits; no flow, settings, limits or logging.

Figures: p50 / p99 / max round trip of both, the real p99 minus the echo p99 (goals:
<= 2 ms steady, <= 5 ms over 2 s) and, for the burst, the ratio of the two p99 (goal:
<= 1.5x); calls completed, peak calls in flight, server CPU per call (utime+stime from
/proc, 10 ms ticks), client CPU.

Cores. The client is pinned to one core (``--client-cpu``, default 0) and the servers
to the others (``os.sched_setaffinity``), so they never share a core. With 2 cores and
``--workers 2``, the second worker has no core of its own: it is pinned with the
client (the figures then say so). The machine may be shared with other work; both
servers run under the same conditions in the same run, one after the other, so read the
differences to the echo baseline, not the absolute milliseconds.

Classic AGI: ``--classic N`` calls (default 5) of ``python -m agi_scripts.classic
incoming`` over pipes, one process each, the same replies without waits, with the
settings in memory (``--settings tests.agi.agi_fakes:line_settings``); CPU per call from
``wait4`` (the child's utime+stime), beside the FastAGI server's CPU per call in the
steady shape. Classic AGI reading the settings from a database costs more again (its
engine and the query are paid on each call).

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
import statistics
import subprocess
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

from agi_scripts.runner import FixedSettings  # noqa: E402
from agi_scripts.server import ServerOptions, serve  # noqa: E402
from ivr.dialplan import ROUTE_INCOMING, VAR_FLOW_DONE  # noqa: E402
from tests.agi.agi_fakes import OPEN_NOW, FakeAsterisk, header_for, line_settings  # noqa: E402

HOST: Final = "127.0.0.1"
BACKLOG: Final = 1024  # what agi_scripts/server.py passes to asyncio.start_server
#: No key during the emergency notice and the greeting is asked of the client: "t" is
#: "no key" for the greeting; 1 at the language menu (French), 1 at the main menu.
KEYS: Final = ("t", "1", "1")
SHAPES: Final = (("steady", 6.0), ("2 s", 2.0), ("burst", 0.0))
START_TIMEOUT_S: Final = 20.0
STOP_TIMEOUT_S: Final = 10.0
CALL_TIMEOUT_S: Final = 60.0
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CLASSIC_SETTINGS: Final = "tests.agi.agi_fakes:line_settings"


# ---- server processes --------------------------------------------------------------


def _pin(cpus: set[int]) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


async def _until_stopped(conn: Connection, start: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run a server until SIGTERM/SIGINT; ``start`` listens and returns the port,
    which is sent to the parent."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    conn.send(await start())
    await stop.wait()


async def _real_server(conn: Connection, port: int, workers: int) -> None:
    settings = line_settings()
    options = ServerOptions(host=HOST, port=port, workers=workers)
    task: asyncio.Task[None] | None = None

    async def start() -> int:
        nonlocal task
        started = asyncio.Event()
        task = asyncio.create_task(
            serve(
                options,
                FixedSettings(settings),
                clock=lambda: OPEN_NOW,
                started=started,
                freeze_gc=True,  # as run_forever does
            )
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


async def _echo_server(conn: Connection, script: list[bytes]) -> None:
    """The bare protocol: read the header block, then send ``script`` one line per
    reply line received, then close."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                while await reader.readline() not in (b"\n", b""):
                    pass
                for command in script:
                    writer.write(command)
                    await writer.drain()
                    if not await reader.readline():
                        break
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


def _real_main(conn: Connection, log_path: str, cpus: set[int], port: int, workers: int) -> None:
    _pin(cpus)
    logging.basicConfig(filename=log_path, level=logging.INFO, format=LOG_FORMAT)
    asyncio.run(_real_server(conn, port, workers))


def _echo_main(conn: Connection, cpus: set[int], script: list[bytes]) -> None:
    _pin(cpus)
    asyncio.run(_echo_server(conn, script))


class ServerProcess:
    """A server in a spawned process: its port and CPU time from /proc."""

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

    def stop(self) -> None:
        if self.process.is_alive():
            os.kill(self.pid, signal.SIGTERM)
            self.process.join(STOP_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_TIMEOUT_S)
        self.conn.close()


class RealServers:
    """``workers`` real server processes on one port (SO_REUSEPORT above 1), each
    pinned to its own set of cores."""

    def __init__(self, log_dir: Path, name: str, cpu_sets: list[set[int]]) -> None:
        self._log_dir = log_dir
        self._name = name
        self._cpu_sets = cpu_sets
        self.processes: list[ServerProcess] = []
        self.port = 0

    def __enter__(self) -> RealServers:
        workers = len(self._cpu_sets)
        try:
            for index, cpus in enumerate(self._cpu_sets):
                log_path = str(self._log_dir / f"{self._name}-{index}.log")
                process = ServerProcess(_real_main, log_path, cpus, self.port, workers)
                self.processes.append(process.__enter__())
                self.port = process.port
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.stop()

    def cpu_s(self) -> float:
        return sum(p.cpu_s() for p in self.processes)


# ---- the calling side ------------------------------------------------------------


@dataclass
class Gauge:
    in_flight: int = 0
    peak: int = 0

    def up(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def down(self) -> None:
        self.in_flight -= 1


@dataclass
class CallResult:
    ok: bool
    commands: list[str] = field(default_factory=list)
    rtts_s: list[float] = field(default_factory=list)
    error: str = ""


def _wait_before(command: str, reply: list[bytes], play_s: float, key_s: float) -> float:
    """How long Asterisk takes to answer: a prompt plays, a key interrupts it."""
    if not command.startswith("STREAM FILE "):
        return 0.0
    return key_s if b"result=0 " not in reply[0] else play_s


async def place_call(
    port: int, *, play_s: float, key_s: float, gauge: Gauge, expect_flow: bool
) -> CallResult:
    """One call as Asterisk places it; every round trip (reply sent -> next command
    read) is recorded."""
    fake = FakeAsterisk(port, header=header_for(ROUTE_INCOMING), keys=list(KEYS))
    writer: asyncio.StreamWriter | None = None
    rtts: list[float] = []
    try:
        async with asyncio.timeout(CALL_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(HOST, port)
            gauge.up()
            try:
                writer.writelines(fake.header)
                sent = time.perf_counter()
                await writer.drain()
                while line := await reader.readline():
                    rtts.append(time.perf_counter() - sent)
                    command = line.decode().rstrip("\n")
                    fake.commands.append(command)
                    reply = fake.default_reply(command)
                    wait = _wait_before(command, reply, play_s, key_s)
                    if wait:
                        await asyncio.sleep(wait)
                    writer.writelines(reply)
                    sent = time.perf_counter()
                    await writer.drain()
            finally:
                gauge.down()
    except (OSError, TimeoutError, AssertionError) as exc:
        return CallResult(False, fake.commands, rtts, type(exc).__name__)
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    ok = fake.variables.get(VAR_FLOW_DONE) == "1" if expect_flow else len(fake.commands) > 0
    return CallResult(ok, fake.commands, rtts, "" if ok else "flow not finished")


@dataclass
class ShapeResult:
    calls: int
    completed: int
    rtts_s: list[float]
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    peak_in_flight: int
    errors: dict[str, int] = field(default_factory=dict)

    def rtt_ms(self, q: float) -> float:
        return percentile(self.rtts_s, q) * 1000


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def client_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_shape(
    port: int,
    server_cpu: Callable[[], float],
    *,
    calls: int,
    spread_s: float,
    play_s: float,
    key_s: float,
    expect_flow: bool,
) -> ShapeResult:
    # Two warm-up calls: the first call of a process also writes the AstDB mirror.
    for _ in range(2):
        await place_call(port, play_s=0, key_s=0, gauge=Gauge(), expect_flow=expect_flow)
    gauge = Gauge()
    cpu_before, client_before = server_cpu(), client_cpu_s()
    began = time.perf_counter()

    async def arriving(index: int) -> CallResult:
        if spread_s:
            await asyncio.sleep(began + index * spread_s / calls - time.perf_counter())
        return await place_call(
            port, play_s=play_s, key_s=key_s, gauge=gauge, expect_flow=expect_flow
        )

    results = await asyncio.gather(*(arriving(i) for i in range(calls)))
    wall = time.perf_counter() - began
    return ShapeResult(
        calls,
        sum(r.ok for r in results),
        [rtt for r in results for rtt in r.rtts_s],
        wall,
        server_cpu() - cpu_before,
        client_cpu_s() - client_before,
        gauge.peak,
        dict(Counter(f"{r.error} after {len(r.commands)} commands" for r in results if not r.ok)),
    )


async def recorded_script(port: int) -> list[bytes]:
    """The command lines of a steady-state call of the real server (the second call:
    the first of a process also writes the AstDB mirror)."""
    result = CallResult(False)
    for _ in range(2):
        result = await place_call(port, play_s=0, key_s=0, gauge=Gauge(), expect_flow=True)
    if not result.ok:
        raise RuntimeError(f"a single call through the real server failed: {result.error}")
    return [(c + "\n").encode() for c in result.commands]


# ---- classic AGI -------------------------------------------------------------------


def classic_call(cpus: set[int]) -> tuple[bool, float, float]:
    """One classic AGI call in a process of its own: (flow finished, child CPU s, wall s)."""
    fake = FakeAsterisk(0, header=header_for(ROUTE_INCOMING), keys=list(KEYS))
    command = [
        sys.executable,
        "-m",
        "agi_scripts.classic",
        ROUTE_INCOMING,
        "--settings",
        CLASSIC_SETTINGS,
        "--now",
        OPEN_NOW.isoformat(),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IVR211_LOG_LEVEL": "WARNING"}
    began = time.perf_counter()
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env=env,
        preexec_fn=(lambda: _pin(cpus)),
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(b"".join(fake.header))
        child.stdin.flush()
        while line := child.stdout.readline():
            text = line.decode().rstrip("\n")
            fake.commands.append(text)
            child.stdin.write(b"".join(fake.default_reply(text)))
            child.stdin.flush()
        child.stdin.close()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - began
    return fake.variables.get(VAR_FLOW_DONE) == "1", usage.ru_utime + usage.ru_stime, wall


# ---- report ------------------------------------------------------------------------


@dataclass
class Pair:
    real: ShapeResult
    echo: ShapeResult

    @property
    def excess_ms(self) -> float:
        return self.real.rtt_ms(99) - self.echo.rtt_ms(99)

    @property
    def ratio(self) -> float:
        echo = self.echo.rtt_ms(99)
        return self.real.rtt_ms(99) / echo if echo > 0 else float("nan")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_pair(name: str, spread_s: float, pair: Pair) -> None:
    real, echo = pair.real, pair.echo
    how = f"arriving over {spread_s:g} s" if spread_s else "all at once"
    print(f"\n-- {name}: {real.calls} calls {how} (load average {load_average()}) --")
    print(f"{'':30}{'real server':>13}{'echo':>13}")
    print(f"{'completed':30}{real.completed:>13}{echo.completed:>13}")
    for side, result in (("real server", real), ("echo", echo)):
        for error, count in sorted(result.errors.items()):
            print(f"  not completed ({side}): {count} x {error}")
    print(f"{'peak calls in flight':30}{real.peak_in_flight:>13}{echo.peak_in_flight:>13}")
    print(f"{'round trips measured':30}{len(real.rtts_s):>13}{len(echo.rtts_s):>13}")
    quantiles = (("round trip p50 ms", 50), ("round trip p99 ms", 99), ("round trip max ms", 100))
    for label, q in quantiles:
        print(f"{label:30}{real.rtt_ms(q):>13.2f}{echo.rtt_ms(q):>13.2f}")
    print(f"{'wall s':30}{real.wall_s:>13.2f}{echo.wall_s:>13.2f}")
    cpu_real = 1000 * real.server_cpu_s / real.calls
    cpu_echo = 1000 * echo.server_cpu_s / echo.calls
    print(f"{'server CPU per call ms':30}{cpu_real:>13.2f}{cpu_echo:>13.2f}")
    print(f"{'client CPU s':30}{real.client_cpu_s:>13.2f}{echo.client_cpu_s:>13.2f}")
    print(f"{'p99 real - p99 echo ms':30}{pair.excess_ms:>13.2f}")
    print(f"{'p99 real / p99 echo':30}{pair.ratio:>12.2f}x")


def summary(runs: list[dict[str, Pair]]) -> None:
    goals = {"steady": ("excess", 2.0), "2 s": ("excess", 5.0), "burst": ("ratio", 1.5)}
    print(f"\n== summary over {len(runs)} run(s): min / median ==")
    for name, _ in SHAPES:
        pairs = [run[name] for run in runs if name in run]
        if not pairs:
            continue
        excess = [p.excess_ms for p in pairs]
        ratio = [p.ratio for p in pairs]
        real = [p.real.rtt_ms(99) for p in pairs]
        echo = [p.echo.rtt_ms(99) for p in pairs]
        kind, goal = goals[name]
        print(
            f"{name:8} p99 real {min(real):7.2f} / {statistics.median(real):7.2f} ms"
            f"   echo {min(echo):7.2f} / {statistics.median(echo):7.2f} ms"
            f"   real-echo {min(excess):6.2f} / {statistics.median(excess):6.2f} ms"
            f"   real/echo {min(ratio):5.2f} / {statistics.median(ratio):5.2f}x"
            f"   goal {'<=' if kind == 'excess' else 'ratio <='} {goal:g}"
            f"{' ms' if kind == 'excess' else 'x'}"
        )


# ---- main ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per shape (1000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of every shape (3)")
    parser.add_argument("--workers", type=int, default=1, help="real server processes (1)")
    parser.add_argument("--play-s", type=float, default=1.5, help="a prompt played to its end")
    parser.add_argument("--key-s", type=float, default=1.0, help="a prompt cut by a key")
    parser.add_argument("--client-cpu", type=int, default=0, help="the client's core (0)")
    parser.add_argument("--classic", type=int, default=5, help="classic AGI calls (5)")
    parser.add_argument(
        "--shapes", default="steady,2 s,burst", help="comma-separated: steady,2 s,burst"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 5000 or not 1 <= args.runs <= 20 or not 1 <= args.workers <= 16:
        parser.error("--calls 1..5000, --runs 1..20, --workers 1..16")
    known = {name for name, _ in SHAPES}
    args.shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if not args.shapes or set(args.shapes) - known:
        parser.error(f"--shapes: among {sorted(known)}")
    return args


def cpu_plan(client_cpu: int, workers: int) -> tuple[set[int], list[set[int]], str]:
    """The client's core, each worker's cores, and a sentence saying how they share."""
    cpus = sorted(os.sched_getaffinity(0))
    if client_cpu not in cpus or len(cpus) < 2:
        note = (
            "not pinned (one core): the client shares it with the server, and with the echo"
            " baseline in the same way, so only real minus echo separates the server's share"
        )
        return set(), [set() for _ in range(workers)], note
    others = [c for c in cpus if c != client_cpu]
    if workers <= len(others):
        sets = [{others[i]} for i in range(workers)]
        note = f"client on core {client_cpu}, workers on {[sorted(s) for s in sets]}"
        return {client_cpu}, sets, note
    sets = [{others[i]} if i < len(others) else {client_cpu} for i in range(workers)]
    note = (
        f"client on core {client_cpu}, workers on {[sorted(s) for s in sets]}: "
        f"{workers - len(others)} worker(s) share the client's core"
    )
    return {client_cpu}, sets, note


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    client_cpus, worker_cpus, note = cpu_plan(args.client_cpu, args.workers)
    print(
        f"FastAGI load benchmark, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}; "
        f"{args.calls} calls per shape, {args.runs} run(s), {args.workers} worker(s); {note}"
    )
    print(f"caller waits: prompt played {args.play_s:g} s, cut by a key {args.key_s:g} s")
    print(f"load average at start: {load_average()} (other work on the machine shows here)")
    echo_cpus = worker_cpus[0]
    with tempfile.TemporaryDirectory(prefix="agi-bench-") as tmp:
        log_dir = Path(tmp)
        with RealServers(log_dir, "probe", worker_cpus[:1]) as probe:
            script = asyncio.run(recorded_script(probe.port))
        print(f"{len(script)} commands per call")
        _pin(client_cpus)
        runs: list[dict[str, Pair]] = []
        for run in range(args.runs):
            print(f"\n==== run {run + 1} of {args.runs} ====")
            pairs: dict[str, Pair] = {}
            for name, spread in SHAPES:
                if name not in args.shapes:
                    continue
                options = {
                    "calls": args.calls,
                    "spread_s": spread,
                    "play_s": args.play_s,
                    "key_s": args.key_s,
                }
                with RealServers(log_dir, f"real-{run}-{name}", worker_cpus) as real_srv:
                    real = asyncio.run(
                        run_shape(real_srv.port, real_srv.cpu_s, expect_flow=True, **options)
                    )
                with ServerProcess(_echo_main, echo_cpus, script) as echo_srv:
                    echo = asyncio.run(
                        run_shape(echo_srv.port, echo_srv.cpu_s, expect_flow=False, **options)
                    )
                pairs[name] = Pair(real, echo)
                print_pair(name, spread, pairs[name])
            runs.append(pairs)
        summary(runs)
        if args.classic:
            steady = [run["steady"] for run in runs if "steady" in run]
            print_classic(args.classic, echo_cpus, steady)
    print(f"\nload average at end: {load_average()}")
    print(f"total {time.perf_counter() - began:.1f} s")
    return 0


def print_classic(calls: int, cpus: set[int], steady: list[Pair]) -> None:
    results = [classic_call(cpus) for _ in range(calls)]
    cpu = [c for _, c, _ in results]
    wall = [w for _, _, w in results]
    done = sum(ok for ok, _, _ in results)
    print(f"\n== classic AGI (a process per call, settings in memory), {calls} calls ==")
    print(f"flows finished {done}/{calls}")
    print(
        f"CPU per call ms: min {1000 * min(cpu):.0f}, median {1000 * statistics.median(cpu):.0f}"
        f"   wall per call ms: median {1000 * statistics.median(wall):.0f}"
    )
    if steady:
        fast = [1000 * p.real.server_cpu_s / p.real.calls for p in steady]
        median_fast = statistics.median(fast)
        print(
            f"FastAGI server CPU per call ms (steady shape): min {min(fast):.2f}, "
            f"median {median_fast:.2f}; classic / FastAGI: "
            f"{1000 * statistics.median(cpu) / median_fast:.0f}x"
            if median_fast > 0
            else "FastAGI server CPU per call: below the 10 ms tick"
        )


if __name__ == "__main__":
    sys.exit(main())
