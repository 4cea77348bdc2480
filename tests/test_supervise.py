"""`ivr211 serve` keeps the AMI listener running as a child process (ivr211.supervise)."""

from __future__ import annotations

import signal
import sys
import time

from ivr211.supervise import ChildSupervisor


def wait_until(predicate: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_a_child_with_a_configuration_error_is_not_restarted() -> None:
    sup = ChildSupervisor([sys.executable, "-c", "raise SystemExit(2)"], name="child")
    sup.start()
    try:
        assert sup.gave_up.wait(10)
        time.sleep(0.2)
        assert sup.starts == 1
    finally:
        sup.stop()


def test_a_child_that_dies_is_restarted_with_a_backoff() -> None:
    sup = ChildSupervisor(
        [sys.executable, "-c", "raise SystemExit(1)"], name="child", backoff_initial_s=0.05
    )
    sup.start()
    try:
        assert wait_until(lambda: sup.starts >= 3)
        assert not sup.gave_up.is_set()
    finally:
        sup.stop()


def test_stop_ends_a_running_child() -> None:
    sup = ChildSupervisor(
        [sys.executable, "-c", "import time; time.sleep(60)"], name="child", stop_grace_s=5
    )
    sup.start()
    assert wait_until(lambda: sup.starts == 1)
    sup.stop()
    assert sup.last_exit == -signal.SIGTERM  # terminated, not waited out
    assert sup.starts == 1
