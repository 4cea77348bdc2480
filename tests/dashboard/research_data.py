"""Messages of the research box for the dashboard's tests: a real WAV file in the storage
folder (written with the ``wave`` module, as app_voicemail's ``wav`` format: 8 kHz mono
16-bit PCM) and its row, as the ingester would have left them."""

from __future__ import annotations

import hashlib
import math
import struct
import wave
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from store.voicemail import AuditEntry, VoiceMessage

RATE = 8000
RECEIVED = datetime(2026, 11, 25, 3, 12, 21, tzinfo=UTC)


def write_wav(path: Path, seconds: float = 1.0, hz: float = 440.0) -> bytes:
    """A tone, written to ``path``; returns the file's bytes."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / RATE)))
        for i in range(int(RATE * seconds))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames)
    return path.read_bytes()


def add_message(
    engine: Engine,
    storage: Path,
    msg_id: str = "1795879141-00000000",
    *,
    caller_number: str | None = "4185550142",
    callback_number: str | None = None,
    language: str = "fr",
    status: str = "new",
    received_at: datetime = RECEIVED,
) -> tuple[int, bytes]:
    """Store a message (audio + row); returns its id and its audio bytes."""
    relative = f"{msg_id}.wav"
    audio = write_wav(storage / relative)
    with Session(engine) as session, session.begin():
        message = VoiceMessage(
            msg_id=msg_id,
            mailbox="1000@research",
            received_at=received_at,
            duration_s=1,
            caller_name=None,
            caller_number=caller_number,
            callback_number=callback_number,
            language=language,
            checksum=hashlib.sha256(audio).hexdigest(),
            audio_path=relative,
            size=len(audio),
            status=status,
            ingested_at=received_at,
        )
        session.add(message)
        session.flush()
        return message.id, audio


def audit_rows(engine: Engine) -> list[tuple[str, str, str, str, str]]:
    """(user, role, action, object, detail) of every audit row, oldest first."""
    with Session(engine) as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(r.user, r.role, r.action, r.object, r.detail) for r in rows]
