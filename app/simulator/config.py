"""The session object in each dialect: defaults, ``session.update`` merging, and reading it back.

GA nests the configuration (``audio.input.transcription``, ``audio.input.turn_detection``,
``output_modalities``); beta keeps it flat (``input_audio_transcription``, ``turn_detection``,
``modalities``).  The simulator answers ``session.update`` with the update merged over its
defaults, and rejects the *other* dialect's keys the way the real services reject unknown
parameters, so a relay that speaks the wrong shape finds out in tests rather than in production.

Input transcription is off by default, as on the real services: a relay that does not switch it
on gets no user transcripts.

No I/O here.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from app.rules.dialect import Dialect

#: Keys only beta understands; a GA server rejects them.
_BETA_ONLY: Final = frozenset(
    {
        "modalities",
        "voice",
        "input_audio_format",
        "output_audio_format",
        "input_audio_transcription",
        "turn_detection",
    }
)
#: Keys only GA understands; a beta server rejects them.
_GA_ONLY: Final = frozenset({"output_modalities", "audio"})
#: Keys the client cannot change.
_FIXED: Final = ("id", "object")

DEFAULT_INSTRUCTIONS: Final = "You are a helpful call-center agent. (simulated)"


def _turn_detection() -> dict[str, Any]:
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }


def default_session(dialect: Dialect, session_id: str, model: str | None) -> dict[str, Any]:
    """The session object of ``session.created``."""
    if dialect is Dialect.GA:
        pcm = {"type": "audio/pcm", "rate": 24000}
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": model or "gpt-realtime-sim",
            "output_modalities": ["audio"],
            "instructions": DEFAULT_INSTRUCTIONS,
            "audio": {
                "input": {
                    "format": dict(pcm),
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": _turn_detection(),
                },
                "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
            },
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "include": None,
        }
    return {
        "id": session_id,
        "object": "realtime.session",
        "model": model or "gpt-4o-realtime-preview-sim",
        "modalities": ["text", "audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "turn_detection": _turn_detection(),
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
    }


def foreign_keys(dialect: Dialect, update: dict[str, Any]) -> list[str]:
    """Keys of a ``session.update`` that belong to the other dialect, sorted."""
    foreign = _BETA_ONLY if dialect is Dialect.GA else _GA_ONLY
    return sorted(foreign.intersection(update))


def merge(session: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` merged over ``session``: objects merge key by key, anything else replaces."""
    merged = copy.deepcopy(session)
    for key, value in update.items():
        if key in _FIXED:
            continue
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def turn_detection(dialect: Dialect, session: dict[str, Any]) -> dict[str, Any] | None:
    """The turn detection settings, or ``None`` when the client commits audio itself."""
    settings = (
        _path(session, "audio", "input", "turn_detection")
        if dialect is Dialect.GA
        else session.get("turn_detection")
    )
    return settings if isinstance(settings, dict) else None


def transcription_enabled(dialect: Dialect, session: dict[str, Any]) -> bool:
    """Whether user audio gets transcripts (the client must ask for them)."""
    settings = (
        _path(session, "audio", "input", "transcription")
        if dialect is Dialect.GA
        else session.get("input_audio_transcription")
    )
    return isinstance(settings, dict)


def text_only(dialect: Dialect, settings: dict[str, Any]) -> bool:
    """Whether ``settings`` (a session, or a ``response.create`` override) ask for text only."""
    if dialect is Dialect.GA:
        modalities = settings.get("output_modalities")
    else:
        modalities = settings.get("modalities")
    return isinstance(modalities, list) and "audio" not in modalities


#: The formats the simulator speaks, as the beta dialect names them (GA: ``audio/pcm``,
#: ``audio/pcmu``).  G.711 A-law is not simulated.
PCM16: Final = "pcm16"
G711_ULAW: Final = "g711_ulaw"
_GA_FORMATS: Final = {"audio/pcm": PCM16, "audio/pcmu": G711_ULAW, "audio/pcma": "g711_alaw"}


def audio_formats(dialect: Dialect, session: dict[str, Any]) -> tuple[str, str]:
    """The session's (input, output) audio formats, in beta's spelling (``pcm16``, ...)."""
    if dialect is Dialect.GA:
        found = [
            _GA_FORMATS.get(str(_path(session, "audio", side, "format", "type")), PCM16)
            for side in ("input", "output")
        ]
        return found[0], found[1]
    return (
        str(session.get("input_audio_format") or PCM16),
        str(session.get("output_audio_format") or PCM16),
    )


def modalities_key(dialect: Dialect) -> str:
    return "output_modalities" if dialect is Dialect.GA else "modalities"


def _path(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
