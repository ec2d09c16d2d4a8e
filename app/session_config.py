"""The session configuration the relay sends upstream as soon as a call's upstream connects.

The relay, not the browser, owns the session: it must at least switch on input transcription
(without it no user transcript ever arrives, and the conversation document would hold only the
assistant's side) and server voice activity detection, in the shape the dialect expects — GA
nests audio settings under ``session.audio.input``, beta keeps them flat.
"""

from __future__ import annotations

import json

from app.dialect import Dialect


def initial_session_update(dialect: Dialect, transcription_model: str) -> str:
    """The ``session.update`` event (JSON text) that starts every call's upstream session."""
    turn_detection = {"type": "server_vad"}
    if dialect is Dialect.GA:
        session: dict[str, object] = {
            "type": "realtime",
            "audio": {
                "input": {
                    "transcription": {"model": transcription_model},
                    "turn_detection": turn_detection,
                }
            },
        }
    else:
        session = {
            "input_audio_transcription": {"model": transcription_model},
            "turn_detection": turn_detection,
        }
    return json.dumps({"type": "session.update", "session": session})
