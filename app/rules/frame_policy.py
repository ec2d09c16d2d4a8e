"""What the relay does with each frame a browser sends: sans-IO, the call performs the verdict.

`FramePolicy.check` looks at one ASGI websocket message and says what to do with it:

* `Forward` — pass it to the model.  ``plain_audio`` marks the hot path: an audio append in the
  usual layout, recognised by one regular expression and forwarded unparsed.
* `Inspect` — a control event: parse it (`parse_event`), let the call observe it, then forward.
* `Refuse` — answer with an ``error`` event and drop the frame; the call goes on.
* `EndCall` — answer with an ``error`` event and end the call (too large, too many).
* `Disconnected` — the browser went away, with its close code.
* ``None`` — an ASGI message that is none of the above (nothing to do).

The limits are ``MAX_FRAME_BYTES`` (close 1009) and ``MAX_FRAME_RATE`` (close 1008), both
``protocol_error``.  No I/O and no clock of its own: the caller passes the time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from app.rules.frames import is_plain_audio_append, utf8_length_exceeds
from app.rules.rate_limit import FrameRateLimit
from app.rules.reasons import DisconnectReason

__all__ = [
    "Disconnected",
    "EndCall",
    "Forward",
    "FramePolicy",
    "Inspect",
    "Refuse",
    "Verdict",
    "parse_event",
]


@attrs.frozen
class Forward:
    text: str
    plain_audio: bool = False


@attrs.frozen
class Inspect:
    text: str


@attrs.frozen
class Refuse:
    """An ``error`` event for the browser; the frame is dropped and the call goes on."""

    code: str
    message: str
    event_id: str | None = None


@attrs.frozen
class EndCall:
    """An ``error`` event for the browser, then the call ends with ``reason`` and ``close``."""

    code: str
    message: str
    reason: DisconnectReason
    close: tuple[int, str]


@attrs.frozen
class Disconnected:
    code: int


Verdict = Forward | Inspect | Refuse | EndCall | Disconnected | None


@attrs.define
class FramePolicy:
    """The frame limits of one call (``MAX_FRAME_BYTES``, ``MAX_FRAME_RATE``)."""

    max_frame_bytes: int
    max_frame_rate: float
    _rate: FrameRateLimit = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rate = FrameRateLimit(self.max_frame_rate)

    def check(self, message: Mapping[str, Any], now: float) -> Verdict:
        """The verdict on one ASGI message received at ``now``."""
        kind = message["type"]
        if kind == "websocket.disconnect":
            return Disconnected(int(message.get("code", 1006)))
        if kind != "websocket.receive":
            return None
        if not self._rate.allow(now):
            return EndCall(
                "rate_limit_exceeded",
                f"More than MAX_FRAME_RATE ({self.max_frame_rate:g}) frames a second ends "
                f"the call.",
                DisconnectReason.PROTOCOL_ERROR,
                (1008, "too many frames"),
            )
        text = message.get("text")
        limit = self.max_frame_bytes
        if text is None:
            if len(message.get("bytes") or b"") > limit:
                return self._too_large()
            return Refuse(
                "binary_not_supported",
                "Binary frames are not part of the Realtime protocol; send JSON text events. "
                "The frame was not forwarded.",
            )
        if utf8_length_exceeds(text, limit):
            return self._too_large()
        if is_plain_audio_append(text):
            return Forward(text, plain_audio=True)
        return Inspect(text)

    def _too_large(self) -> EndCall:
        return EndCall(
            "frame_too_large",
            f"A frame larger than MAX_FRAME_BYTES ({self.max_frame_bytes} bytes) ends the call.",
            DisconnectReason.PROTOCOL_ERROR,
            (1009, "frame too large"),
        )


def parse_event(text: str) -> dict[str, Any] | Refuse:
    """A control event's JSON object, or the `Refuse` that explains why it is not one."""
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # RecursionError: nesting deeper than the parser's stack (a JSON bomb).
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        return Refuse(
            "invalid_json", f"The frame is not valid JSON: {reason}. It was not forwarded."
        )
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return Refuse(
            "invalid_event",
            "A client event must be a JSON object with a string 'type'. It was not forwarded.",
            event.get("event_id") if isinstance(event, dict) else None,
        )
    return event
