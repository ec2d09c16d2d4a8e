"""The upstream session is the relay's: what it sends, what the browser may change, what it sees.

* `agent_session_update` — the ``session.update`` the relay sends as soon as a call's upstream
  connects (and on every hand-off): the active agent's instructions and tools, input
  transcription (without it no user transcript ever arrives), server VAD and the voice, in the
  dialect's shape.  GA nests audio settings under ``session.audio``; beta keeps them flat.
  A phone call's session also names its audio format (`AudioFormat.G711_ULAW` both ways, the
  telephone network's own, so the relay never transcodes); a browser's keeps the default PCM16.
* `filter_browser_session_update` — a browser may change only an allowlist (voice, turn
  detection, noise reduction, audio formats); instructions, tools, tool choice and anything else
  are dropped, so a page cannot re-prompt the agent or give it tools.
* `redact_session_event` — ``session.created`` / ``session.updated`` reach the browser without the
  instructions and tool definitions.

No I/O here.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Mapping
from typing import Any

import attrs

from app.rules.dialect import Dialect

# What a browser may set, as paths into the ``session`` object of its session.update.
_BROWSER_ALLOWED: dict[Dialect, tuple[tuple[str, ...], ...]] = {
    Dialect.GA: (
        ("audio", "input", "format"),
        ("audio", "input", "turn_detection"),
        ("audio", "input", "noise_reduction"),
        ("audio", "output", "format"),
        ("audio", "output", "voice"),
    ),
    Dialect.BETA: (
        ("voice",),
        ("turn_detection",),
        ("input_audio_noise_reduction",),
        ("input_audio_format",),
        ("output_audio_format",),
    ),
}
_HIDDEN_FROM_BROWSER = ("instructions", "tools")


class AudioFormat(enum.Enum):
    """The audio a call's model session takes and gives (both ways the same)."""

    PCM16 = "pcm16"  # 24 kHz, 16-bit little-endian: the API's default, a browser's
    G711_ULAW = "g711_ulaw"  # 8 kHz mu-law: a phone line's (Twilio)

    @property
    def bytes_per_second(self) -> int:
        return 48_000 if self is AudioFormat.PCM16 else 8_000

    def spelled(self, dialect: Dialect) -> Any:
        """The format as ``session.update`` names it: GA an object, beta a string."""
        if dialect is Dialect.BETA:
            return self.value
        if self is AudioFormat.PCM16:
            return {"type": "audio/pcm", "rate": 24000}
        return {"type": "audio/pcmu"}


@attrs.frozen
class SessionSettings:
    """The parts of the session the relay's settings decide."""

    transcription_model: str
    voice: str
    #: Named in the session only when it is not the API's default (PCM16).
    audio_format: AudioFormat = AudioFormat.PCM16


def agent_session_update(
    dialect: Dialect,
    *,
    instructions: str,
    tools: list[dict[str, Any]],
    settings: SessionSettings | None = None,
) -> str:
    """A ``session.update`` (JSON text) for an agent.

    With ``settings`` (the first update of a call) it also switches on input transcription and
    server VAD and picks the voice; a hand-off leaves those alone, since the voice cannot change
    once the model has spoken.
    """
    session: dict[str, Any] = {
        "instructions": instructions,
        "tools": tools,
        "tool_choice": "auto",
    }
    if dialect is Dialect.GA:
        session["type"] = "realtime"
        if settings is not None:
            session["audio"] = {
                "input": {
                    "transcription": {"model": settings.transcription_model},
                    "turn_detection": {"type": "server_vad"},
                },
                "output": {"voice": settings.voice},
            }
            if settings.audio_format is not AudioFormat.PCM16:
                spelled = settings.audio_format.spelled(dialect)
                session["audio"]["input"]["format"] = spelled
                session["audio"]["output"]["format"] = copy.deepcopy(spelled)
    elif settings is not None:
        session["input_audio_transcription"] = {"model": settings.transcription_model}
        session["turn_detection"] = {"type": "server_vad"}
        session["voice"] = settings.voice
        if settings.audio_format is not AudioFormat.PCM16:
            session["input_audio_format"] = session["output_audio_format"] = (
                settings.audio_format.value
            )
    return json.dumps({"type": "session.update", "session": session})


def filter_browser_session_update(
    event: Mapping[str, Any], dialect: Dialect
) -> tuple[dict[str, Any] | None, list[str]]:
    """Keep only what a browser may change: ``(event to forward or None, dropped keys)``."""
    session = event.get("session")
    if not isinstance(session, dict):
        return None, ["session"]
    kept: dict[str, Any] = {}
    for path in _BROWSER_ALLOWED[dialect]:
        value = _get(session, path)
        if value is not _MISSING:
            _put(kept, path, copy.deepcopy(value))
    dropped = sorted(_leaf_paths(session) - _leaf_paths(kept) - {"type"})
    if not kept:
        return None, dropped
    if dialect is Dialect.GA:
        kept["type"] = "realtime"
    forwarded = {key: value for key, value in event.items() if key != "session"}
    forwarded["session"] = kept
    return forwarded, dropped


def redact_session_event(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` without the session's instructions and tool definitions (for the browser)."""
    session = event.get("session")
    if not isinstance(session, dict) or not any(k in session for k in _HIDDEN_FROM_BROWSER):
        return event
    redacted = dict(event)
    redacted["session"] = {k: v for k, v in session.items() if k not in _HIDDEN_FROM_BROWSER}
    return redacted


_MISSING = object()


def _get(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _leaf_paths(value: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            paths |= _leaf_paths(item, name + ".")
        else:
            paths.add(name)
    return paths
