"""``ivr211 voicemail``: one ingest pass by hand, and leaving a simulated message.

``voicemail simulate`` writes a message the way app_voicemail leaves it in the spool
(``msgNNNN.wav`` then ``msgNNNN.txt``, each renamed into place when complete), so the
whole path (ingest, inbox, notification) can be tried without a phone.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import secrets
import struct
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

from ivr.dialplan import vm_category
from ivr211.cli.common import CliError, Commands, open_engine
from ivr211.config import Config
from ivr211.wiring import ingest_options, new_message_hook
from research.ingest import Ingester
from store.db import require_current

__all__ = ["add_parsers", "leave_message", "message_text", "tone_wav"]

_MSG_NUMBER = re.compile(r"^msg(\d{4})\.")


def tone_wav(seconds: float, frequency_hz: float = 440.0, rate: int = 8000) -> bytes:
    """A mono 16-bit 8 kHz PCM WAV (what ``format = wav`` records) of a soft tone."""
    frames = int(seconds * rate)
    samples = (int(3000 * math.sin(2 * math.pi * frequency_hz * n / rate)) for n in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


def message_text(
    *,
    mailbox: str,
    context: str,
    origtime: int,
    msg_id: str,
    duration_s: int,
    callerid: str,
    category: str,
    callerchan: str = "Local/simulate@ivr211-simulate-00000000;1",
    priority: int = 2,
) -> str:
    """``msgNNNN.txt`` as app_voicemail writes it (``2e-voicemail-spool.txt``)."""
    origdate = time.strftime("%a %b %d %I:%M:%S %p UTC %Y", time.gmtime(origtime))
    return (
        ";\n; Message Information file\n;\n[message]\n"
        f"origmailbox={mailbox}\ncontext={context}\nexten={mailbox}\nrdnis=unknown\n"
        f"priority={priority}\ncallerchan={callerchan}\ncallerid={callerid}\n"
        f"origdate={origdate}\norigtime={origtime}\ncategory={category}\n"
        f"msg_id={msg_id}\nflag=\nduration={duration_s}\n"
    )


def leave_message(
    folder: Path,
    *,
    mailbox: str,
    context: str,
    callerid: str,
    category: str,
    seconds: float = 3.0,
    now: datetime | None = None,
) -> Path:
    """Write the next ``msgNNNN`` of ``folder``; returns the txt's path."""
    folder.mkdir(parents=True, exist_ok=True)
    used = [int(m.group(1)) for p in folder.iterdir() if (m := _MSG_NUMBER.match(p.name))]
    stem = folder / f"msg{max(used, default=-1) + 1:04d}"
    origtime = int((now or datetime.now(UTC)).timestamp())
    msg_id = f"{origtime}-{secrets.randbits(32):08x}"
    text = message_text(
        mailbox=mailbox,
        context=context,
        origtime=origtime,
        msg_id=msg_id,
        duration_s=math.ceil(seconds),
        callerid=callerid,
        category=category,
    )
    _write_then_rename(stem.with_suffix(".wav"), tone_wav(seconds))
    txt = stem.with_suffix(".txt")
    _write_then_rename(txt, text.encode("utf-8"))
    return txt


def _write_then_rename(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.tmp")
    with partial.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, path)


# ---- commands ----------------------------------------------------------------------------


def cmd_voicemail_sweep(args: argparse.Namespace, config: Config) -> int:
    options = ingest_options(config)
    with open_engine(config) as engine:
        require_current(engine)
        hook = None if args.no_notify else new_message_hook(config)
        report = Ingester(engine, options, on_new=hook).sweep()
    print(f"{options.mailbox_dir}: {report}")
    for label, items in (
        ("ingested", report.ingested),
        ("removed from the spool (already recorded)", report.cleaned),
        ("left for later", report.pending),
        ("moved aside", report.quarantined),
        ("problem", report.problems),
    ):
        for item in items:
            print(f"  {label}: {item}")
    return 1 if report.quarantined or report.problems else 0


def cmd_voicemail_simulate(args: argparse.Namespace, config: Config) -> int:
    options = ingest_options(config)
    box, _, context = options.mailbox.partition("@")
    if args.seconds <= 0 or args.seconds > 600:
        raise CliError("--seconds must be between 0 and 600")
    if args.withheld:
        callerid = "Unknown"
    else:
        callerid = f'"{args.name}" <{args.number}>' if args.name else args.number
    category = vm_category(args.language, args.callback)
    txt = leave_message(
        options.mailbox_dir / "INBOX",
        mailbox=box,
        context=context,
        callerid=callerid,
        category=category,
        seconds=args.seconds,
    )
    print(f"message left: {txt} (and {txt.with_suffix('.wav').name})")
    return 0


def add_parsers(cli: Commands) -> None:
    vm = cli.branch(
        cli.root, "voicemail", "The research box: ingest, simulated messages.", "vm_cmd"
    )
    sweep = cli.leaf(
        vm,
        "sweep",
        "Move the research box's complete messages from Asterisk's spool to storage "
        "([voicemail]); exit 1 if one was moved aside or failed.",
        cmd_voicemail_sweep,
    )
    sweep.add_argument("--no-notify", action="store_true", help="do not notify the team")
    sim = cli.leaf(
        vm,
        "simulate",
        "Leave a message in the spool folder as app_voicemail would (a tone WAV).",
        cmd_voicemail_simulate,
    )
    sim.add_argument("--number", default="4185550100", help="caller's number")
    sim.add_argument("--name", default="Simulation", help="caller's name ('' for none)")
    sim.add_argument("--withheld", action="store_true", help="the caller's number is withheld")
    sim.add_argument("--callback", help="callback number keyed by the caller")
    sim.add_argument("--language", choices=("fr", "en"), default="fr")
    sim.add_argument("--seconds", type=float, default=3.0, help="length of the tone")
