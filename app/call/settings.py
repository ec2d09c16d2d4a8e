"""What a call is given besides its sockets: its limits, and the recorder it saves through."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

import attrs

from app.settings import Settings

__all__ = ["CallLimits", "CallRecorder", "SaveOutcome"]

SaveOutcome = Literal["stored", "spooled", "lost"]


class CallRecorder(Protocol):
    """What a call needs of the recorder (`app.store.recorder.DurableRecorder`)."""

    async def save(self, doc: Mapping[str, Any]) -> SaveOutcome: ...

    async def checkpoint(self, session_id: str, doc: Mapping[str, Any]) -> None: ...

    async def discard_checkpoint(self, session_id: str) -> None: ...


@attrs.frozen
class CallLimits:
    """The settings a call runs under (from `Settings`, see docs/settings.md)."""

    idle_timeout: float
    max_duration: float
    save_timeout: float
    checkpoint_interval: float
    max_frame_bytes: int
    tool_timeout: float = 10.0
    max_frame_rate: float = 250.0
    max_text_rate: float = 200.0  # MAX_TEXT_RATE: characters of typed text a second
    redact_pii: bool = True  # REDACT_PII: redact message texts in every document built

    @classmethod
    def from_settings(cls, settings: Settings) -> CallLimits:
        """The limits every call of a relay runs under, browser or phone."""
        return cls(
            idle_timeout=settings.call_idle_timeout,
            max_duration=settings.call_max_duration,
            save_timeout=settings.save_timeout,
            checkpoint_interval=settings.checkpoint_interval,
            max_frame_bytes=settings.max_frame_bytes,
            tool_timeout=settings.tool_timeout,
            max_frame_rate=settings.max_frame_rate,
            max_text_rate=settings.max_text_rate,
            redact_pii=settings.redact_pii,
        )
