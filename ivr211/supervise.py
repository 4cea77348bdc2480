"""Run the AMI listener (and the dashboard) as child processes of ``ivr211 serve``.

The FastAGI server and the listener are separate processes on purpose: the listener is
the only process that talks to AMI, and nothing it does (a slow database, a reconnect
storm) may slow down the calls. ``serve`` only starts it, restarts it with a backoff
when it dies, and stops it on the way out. A child that exits with status 2 has a
configuration problem (e.g. no AMI secret): restarting would not help, so the line keeps
answering calls and the reason is logged once.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Sequence

log = logging.getLogger(__name__)

EXIT_CONFIG = 2


class ChildSupervisor:
    """Keeps one child process running until ``stop()``."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        stop_grace_s: float = 10.0,
    ) -> None:
        self.argv = list(argv)
        self.name = name
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._stop_grace_s = stop_grace_s
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"supervise-{name}", daemon=True)
        self.starts = 0
        self.last_exit: int | None = None
        self.gave_up = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(self._stop_grace_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s: killing it", self.name, self._stop_grace_s)
                child.kill()
                child.wait()
            self.last_exit = child.returncode
        self._thread.join(self._stop_grace_s + 5)

    def _run(self) -> None:
        delay = self._backoff_initial_s
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    return
                self._child = subprocess.Popen(self.argv)
                self.starts += 1
            log.info("%s started (pid %d)", self.name, self._child.pid)
            code = self._child.wait()
            self.last_exit = code
            if self._stopping.is_set():
                return
            if code == EXIT_CONFIG:
                log.error(
                    "%s exited with a configuration error (status 2, see above): not restarting; "
                    "the line goes on answering calls",
                    self.name,
                )
                self.gave_up.set()
                return
            log.error("%s exited with status %s: restarting in %.0f s", self.name, code, delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self._backoff_max_s)


def cli_argv(config_path: str | None, command: str) -> list[str]:
    """``python -m ivr211.cli [--config PATH] COMMAND``: a child running one command."""
    argv = [sys.executable, "-m", "ivr211.cli"]
    if config_path:
        argv += ["--config", config_path]
    return [*argv, command]


def listener_argv(config_path: str | None) -> list[str]:
    return cli_argv(config_path, "listen")
