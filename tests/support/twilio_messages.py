"""Twilio Media Streams messages and model events, as the dialect's unit tests feed them."""

from __future__ import annotations

import base64
import json
from typing import Any

SID = "MZ00000000000000000000000000000001"
ULAW_20MS = base64.b64encode(b"\xff" * 160).decode()


def start_message(**start: Any) -> str:
    body = {
        "streamSid": SID,
        "accountSid": "AC1",
        "callSid": "CA1",
        "tracks": ["inbound"],
        "customParameters": {"token": "t0k"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    } | start
    return json.dumps({"event": "start", "sequenceNumber": "1", "start": body, "streamSid": SID})


def media(payload: str = ULAW_20MS) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": "3",
            "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": payload},
            "streamSid": SID,
        }
    )


def mark_echo(name: str) -> str:
    return json.dumps(
        {"event": "mark", "sequenceNumber": "4", "streamSid": SID, "mark": {"name": name}}
    )


def delta(item_id: str, ms: int, *, ga: bool = True) -> str:
    kind = "response.output_audio.delta" if ga else "response.audio.delta"
    audio = base64.b64encode(b"\x7f" * (8 * ms)).decode()
    return (
        f'{{"type":"{kind}","event_id":"e1","response_id":"r1","item_id":"{item_id}",'
        f'"output_index":0,"content_index":0,"delta":"{audio}"}}'
    )


SPEECH_STARTED = json.dumps(
    {
        "type": "input_audio_buffer.speech_started",
        "event_id": "e",
        "audio_start_ms": 900,
        "item_id": "u1",
    }
)
