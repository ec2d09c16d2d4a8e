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
``protocol_error``, and three that refuse a frame before they end the call:

* the caller's audio in bytes (`AudioBudget`: a small multiple of real time for the session's
  input format, and at most `MAX_FRAME_SECONDS` of audio in one append), so the bill follows
  speech and not the caller's bandwidth;
* `MAX_EVENT_BYTES` for any other frame (a control event): the careful path parses, logs and
  observes those, and none of that may grow with a client's whim.

A frame over one of them is refused (an ``error`` event, not forwarded, counted in `refused`);
a caller who goes on -- `MAX_STRIKES` such frames each within `STRIKE_GAP` seconds of the one
before -- is disconnected (1008, ``protocol_error``).  No I/O and no clock of its own: the
caller passes the time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from app.rules.audio_budget import (
    MAX_FRAME_SECONDS,
    RATE_MULTIPLE,
    AudioBudget,
    TextBudget,
    decoded_size,
)
from app.rules.frames import is_plain_audio_append, utf8_length_exceeds
from app.rules.rate_limit import FrameRateLimit
from app.rules.reasons import DisconnectReason

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_STRIKES",
    "STRIKE_GAP",
    "Disconnected",
    "EndCall",
    "Forward",
    "FramePolicy",
    "Inspect",
    "Refuse",
    "Verdict",
    "parse_event",
]


#: The largest frame that is not an audio append in the usual layout (a control event).
MAX_EVENT_BYTES = 64 * 1024
#: Refused frames in a row (each within `STRIKE_GAP` s of the last) after which the call ends.
MAX_STRIKES = 10
#: Seconds without a refused frame after which the count of strikes starts again.
STRIKE_GAP = 2.0

_AUDIO_PREFIX = '{"type":"input_audio_buffer.append"'
#: The characters of an append that are not audio: at least ``{"type":...,"audio":""}``.
_APPEND_ENVELOPE = len('{"type":"input_audio_buffer.append","audio":""}')


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
    max_event_bytes: int = MAX_EVENT_BYTES
    #: The caller's audio budget (its format follows the session: `AudioBudget.set_format`).
    audio: AudioBudget = attrs.Factory(AudioBudget)
    #: The caller's typed-text budget.
    text: TextBudget = attrs.Factory(TextBudget)
    #: Frames refused for their size or the audio budget, in all.
    refused: int = attrs.field(init=False, default=0)
    _rate: FrameRateLimit = attrs.field(init=False)
    _strikes: int = attrs.field(init=False, default=0)
    _last_strike: float = attrs.field(init=False, default=0.0)

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
        if text.startswith(_AUDIO_PREFIX):
            size = decoded_size(len(text) - _APPEND_ENVELOPE)
            if size > self.audio.max_frame_bytes:
                return self._audio_frame_too_large(now)
            if is_plain_audio_append(text):
                refusal = self.charge_audio(size, now)
                return Forward(text, plain_audio=True) if refusal is None else refusal
        if utf8_length_exceeds(text, self.max_event_bytes):
            return self._strike(
                now,
                "event_too_large",
                f"A client event other than an audio append may be at most "
                f"{self.max_event_bytes} bytes. It was not forwarded.",
            )
        return Inspect(text)

    def charge_audio(self, size: int, now: float) -> Refuse | EndCall | None:
        """Count ``size`` bytes of audio received at ``now``: None if they may go to the model,
        else the refusal (or, if the caller goes on, the end of the call)."""
        if size > self.audio.max_frame_bytes:
            return self._audio_frame_too_large(now)
        if self.audio.spend(size, now):
            return None
        return self._strike(
            now,
            "audio_rate_exceeded",
            f"Audio is arriving faster than anyone speaks (over {RATE_MULTIPLE:g} times real "
            "time); the frame was not forwarded.",
        )

    def charge_text(self, chars: int, now: float) -> Refuse | EndCall | None:
        """Count ``chars`` characters of typed text received at ``now``: None if they may go to
        the model, else the refusal (or, if the caller goes on, the end of the call)."""
        if self.text.spend(chars, now):
            return None
        return self._strike(
            now,
            "text_rate_exceeded",
            "Text is arriving faster than anyone types (over MAX_TEXT_RATE, "
            f"{self.text.chars_per_second:g} characters a second, after the first page); "
            "the event was not forwarded.",
        )

    def _audio_frame_too_large(self, now: float) -> Refuse | EndCall:
        return self._strike(
            now,
            "audio_frame_too_large",
            f"An audio append may carry at most {MAX_FRAME_SECONDS:g} s of audio "
            f"({self.audio.max_frame_bytes} bytes). It was not forwarded.",
        )

    def _strike(self, now: float, code: str, message: str) -> Refuse | EndCall:
        """Refuse a frame; once the caller has gone on for `MAX_STRIKES`, end the call."""
        self.refused += 1
        if self._strikes and now - self._last_strike > STRIKE_GAP:
            self._strikes = 0
        self._strikes += 1
        self._last_strike = now
        if self._strikes >= MAX_STRIKES:
            return EndCall(
                code,
                f"{message} {MAX_STRIKES} such frames in a row end the call.",
                DisconnectReason.PROTOCOL_ERROR,
                (1008, "frame limits exceeded"),
            )
        return Refuse(code, message)

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
