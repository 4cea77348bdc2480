"""A transport for the AMI protocol fed recorded bytes: whatever it writes back (a login,
an action) goes nowhere, as nothing answers a replay. The tests of the wire and the AMI
ingest bench (``bench/ami_ingest.py``) use it."""

from __future__ import annotations

from typing import Any


class NullTransport:
    """Enough of a transport for the protocol: nothing is written back in a replay."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default
