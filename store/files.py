"""Files that must survive a crash: the listener's spool of transfer facts, the research
box's copied messages.

A file written, flushed and fsynced can still vanish after a power cut if the directory
entry that names it was not: ``fsync_dir`` after creating, renaming or removing one.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` (files created, renamed, removed) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
