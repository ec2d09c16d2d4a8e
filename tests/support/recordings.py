"""Recordings for the playback tests, made without the writer: a real stereo 16-bit PCM WAV (the
format the writer produces) and a conversation document whose ``recording`` field names it.

The left channel (the caller) is a 440 Hz tone, the right (the assistant) 660 Hz, so a test can
tell the channels apart and any byte range of the file is distinct from its neighbours.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path
from typing import Any

from tests.support.documents import make_document

RATE = 24_000


def wav_bytes(seconds: float, rate: int = RATE) -> bytes:
    """``seconds`` of stereo 16-bit PCM at ``rate``: 440 Hz left, 660 Hz right, at -12 dBFS."""
    frames = round(seconds * rate)
    amplitude = 0.25 * 32767
    samples = bytearray()
    for n in range(frames):
        left = round(amplitude * math.sin(2 * math.pi * 440 * n / rate))
        right = round(amplitude * math.sin(2 * math.pi * 660 * n / rate))
        samples += struct.pack("<hh", left, right)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(samples))
    return out.getvalue()


def recording_field(
    doc_id: str, seconds: float, where: str = "local", **changes: Any
) -> dict[str, Any]:
    """The document's ``recording`` field, as the writer fills it for a complete recording."""
    field: dict[str, Any] = {
        "name": f"{doc_id}.wav",
        "where": where,
        "format": "audio/wav",
        "seconds": seconds,
        "complete": True,
        "cut_by_crash": False,
        "gaps": 0,
    }
    field.update(changes)
    return field


def recorded_document(seconds: float, where: str = "local", **document: Any) -> dict[str, Any]:
    """A conversation document (built as the relay builds them) that references its recording."""
    doc = make_document(**document)
    doc["recording"] = recording_field(doc["id"], seconds, where)
    return doc


def write_local_recording(data_dir: Path, doc: dict[str, Any], audio: bytes) -> Path:
    """Put ``audio`` where the relay keeps local recordings: ``DATA_DIR/recordings/<name>``."""
    folder = data_dir / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / str(doc["recording"]["name"])
    path.write_bytes(audio)
    return path
