"""Is a TCP port free to listen on, and if not, who holds it.

``ivr211 serve`` and ``ivr211 dashboard`` check their ports before they start anything,
so an operator who starts the line twice, or next to another program on the same port,
reads one line that names the port, the process holding it (when this machine lets us
see it) and the setting to change, instead of a traceback.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

_PROC = Path("/proc")
_TCP_LISTEN = "0A"


class PortInUse(Exception):
    """The address is taken: the message is one line, in the operator's words."""


def check_free(host: str, port: int, *, what: str, setting: str) -> None:
    """Bind and release ``host:port`` as asyncio and waitress will (SO_REUSEADDR), or
    raise :class:`PortInUse` naming ``what`` listens there and the ``setting`` to change.

    Port 0 (any free port) is always free. Other bind errors (an address this machine
    does not have, a privileged port) are reported the same way, with their reason."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUse(
            f"{what}: cannot listen on {host}: {exc.strerror}; check {setting}"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise PortInUse(
                bind_error_message(exc, host, port, what=what, setting=setting)
            ) from None


def bind_error_message(exc: OSError, host: str, port: int, *, what: str, setting: str) -> str:
    """One line for a failed bind: the port, who holds it, and what to change."""
    if exc.errno == errno.EADDRINUSE:
        holder = describe_holder(port)
        by = f" by {holder}" if holder else ""
        return (
            f"{what}: port {port} on {host} is already in use{by}: stop that process "
            f"or choose another port with {setting}"
        )
    reason = exc.strerror or str(exc)
    return f"{what}: cannot listen on {host} port {port}: {reason}; check {setting}"


def describe_holder(port: int, proc: Path = _PROC) -> str | None:
    """ "process 1234 (ivr211 serve)" for the process listening on ``port``, read from
    /proc (Linux); None where /proc does not say (another user's process, no /proc)."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return f"process {pid_dir.name} ({_command_line(pid_dir)})"
    return None


def _listening_inodes(port: int, proc: Path) -> set[str]:
    wanted = f"{port:04X}"
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _TCP_LISTEN and local.rpartition(":")[2] == wanted:
                inodes.add(inode)
    return inodes


def _command_line(pid_dir: Path) -> str:
    try:
        raw = (pid_dir / "cmdline").read_bytes()
    except OSError:
        return "unknown command"
    words = [w.decode("utf-8", "replace") for w in raw.split(b"\0") if w]
    if not words:
        return "unknown command"
    # "python -m ivr211.cli serve" and "python .venv/bin/ivr211 serve" read better as
    # what the operator typed: "ivr211 serve".
    if Path(words[0]).name.startswith("python") and len(words) >= 2:
        if words[1] == "-m" and len(words) >= 3:
            words = [words[2].split(".")[0], *words[3:]]
        elif not words[1].startswith("-"):
            words = words[1:]
    words[0] = Path(words[0]).name
    text = " ".join(words)
    return text if len(text) <= 80 else text[:77] + "..."
