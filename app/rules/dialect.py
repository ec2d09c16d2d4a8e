"""The two dialects of the Realtime API and the event names that differ between them.

The GA API renamed the assistant output events and split ``conversation.item.created`` into
``conversation.item.added`` / ``conversation.item.done``; Azure's preview endpoint still speaks the
beta names.  Everything that depends on the dialect looks its names up here, so the rest of the
code says *what* an event means rather than how one dialect spells it.
"""

from __future__ import annotations

import enum

import attrs


class Dialect(enum.Enum):
    GA = "ga"
    BETA = "beta"


@attrs.frozen
class EventNames:
    """Server event names whose spelling depends on the dialect."""

    audio_delta: str
    audio_done: str
    transcript_delta: str
    transcript_done: str
    text_delta: str
    text_done: str
    item_added: str
    item_done: str | None


GA_NAMES = EventNames(
    audio_delta="response.output_audio.delta",
    audio_done="response.output_audio.done",
    transcript_delta="response.output_audio_transcript.delta",
    transcript_done="response.output_audio_transcript.done",
    text_delta="response.output_text.delta",
    text_done="response.output_text.done",
    item_added="conversation.item.added",
    item_done="conversation.item.done",
)

BETA_NAMES = EventNames(
    audio_delta="response.audio.delta",
    audio_done="response.audio.done",
    transcript_delta="response.audio_transcript.delta",
    transcript_done="response.audio_transcript.done",
    text_delta="response.text.delta",
    text_done="response.text.done",
    item_added="conversation.item.created",
    item_done=None,
)


def names(dialect: Dialect) -> EventNames:
    """The event names spoken in ``dialect``."""
    return GA_NAMES if dialect is Dialect.GA else BETA_NAMES
