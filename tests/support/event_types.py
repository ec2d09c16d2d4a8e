"""The Realtime event types the tracker reads, both dialects: what tracker fuzz tests draw from."""

from __future__ import annotations

import attrs

from app.rules.dialect import BETA_NAMES, GA_NAMES

__all__ = ["TRACKED_EVENT_TYPES"]

#: Every dialect-specific name, the names both dialects share, and two it must ignore.
TRACKED_EVENT_TYPES: list[str] = sorted(
    {name for names in (GA_NAMES, BETA_NAMES) for name in attrs.astuple(names) if name}
    | {
        "input_audio_buffer.committed",
        "input_audio_buffer.speech_started",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.truncated",
        "conversation.item.truncate",
        "conversation.item.create",
        "response.output_item.added",
        "response.output_item.done",
        "response.function_call_arguments.done",
        "response.done",
        "session.created",  # an event the tracker has no handler for
        "no.such.event",  # and one no server sends
    }
)
