"""The bill follows speech: how much audio one caller may send the model, in bytes (sans-IO).

The model bills input audio by its duration, so a caller who sends audio faster than anyone can
speak spends the operator's money: one hostile call once sent 90 MB (half an hour of audio) in
1.3 s.  Counting frames does not stop that (150 large frames are few); counting bytes does.

`AudioBudget` is a token bucket in bytes of audio: it refills at `RATE_MULTIPLE` times real time
for the session's input format and holds `BURST_SECONDS` of real-time audio, so a client that
catches up after a network hiccup is fine, and over any span T at most
``RATE_MULTIPLE * T + BURST_SECONDS`` seconds of audio reach the model.  `max_frame_bytes` caps
one append at `MAX_FRAME_SECONDS` of audio (a browser sends 20 to 100 ms a frame).

Typed text is billed too (as tokens): `TextBudget` lets a caller type or paste
`TEXT_BURST_SECONDS` of its rate at once (a page, at the default ``MAX_TEXT_RATE`` of
`TEXT_CHARS_PER_SECOND`) and then the rate, far beyond any typist.

Sizes are estimated from the base64 text without decoding it (`decoded_size`); the estimate is
never below the true size.  The format follows the session: PCM16 at 24 kHz (48,000 bytes a
second) unless an allowed ``session.update`` switched the input to G.711 (8,000 bytes a second),
see `input_audio_bytes_per_second`.  No I/O and no clock: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

__all__ = [
    "BURST_SECONDS",
    "MAX_FRAME_SECONDS",
    "PCM16_BYTES_PER_SECOND",
    "RATE_MULTIPLE",
    "TEXT_BURST_SECONDS",
    "TEXT_CHARS_PER_SECOND",
    "AudioBudget",
    "TextBudget",
    "decoded_size",
    "input_audio_bytes_per_second",
]

#: PCM16, mono, 24 kHz: the Realtime API's default input (and the relay's).
PCM16_BYTES_PER_SECOND: Final = 48_000
#: G.711 (mu-law or A-law): 8 kHz, one byte a sample.
G711_BYTES_PER_SECOND: Final = 8_000
#: How many times faster than real time a caller may send audio, averaged.
RATE_MULTIPLE: Final = 2.0
#: Seconds of real-time audio a caller may send ahead of that rate (the bucket's size).  The
#: voice client holds up to 5 s of microphone frames while its socket opens and sends them at
#: once (`MAX_EARLY_FRAMES` in app/web/static/js/call.mjs); a reconnecting client does the same.
BURST_SECONDS: Final = 8.0
#: Seconds of audio one append may carry.
MAX_FRAME_SECONDS: Final = 2.0

#: Characters of typed text a caller may send each second, by default (``MAX_TEXT_RATE``):
#: about 50 tokens a second; no one types that fast ...
TEXT_CHARS_PER_SECOND: Final = 200.0
#: ... and seconds of that rate it may send at once (at the default, 16,000 characters: a page).
TEXT_BURST_SECONDS: Final = 80.0

_G711 = frozenset({"g711_ulaw", "g711_alaw", "audio/pcmu", "audio/pcma"})


def decoded_size(base64_chars: int) -> int:
    """The most bytes ``base64_chars`` characters of base64 decode to (3 bytes per 4 chars)."""
    return (max(base64_chars, 0) * 3 + 3) // 4


def input_audio_bytes_per_second(event: Mapping[str, Any]) -> int | None:
    """The input audio rate a forwarded ``session.update`` sets, or None if it sets none.

    GA: ``session.audio.input.format`` is ``{"type": "audio/pcm", "rate": 24000}`` or
    ``{"type": "audio/pcmu"}`` / ``audio/pcma``; beta: ``session.input_audio_format`` is
    ``pcm16``, ``g711_ulaw`` or ``g711_alaw``.  The two never collide, so both are read.
    An unknown format counts as PCM16 (the larger budget would only be wrong for a format the
    model refuses anyway).
    """
    session = event.get("session")
    if not isinstance(session, Mapping):
        return None
    audio = session.get("audio")
    given: object = None
    if isinstance(audio, Mapping) and isinstance(audio.get("input"), Mapping):
        given = audio["input"].get("format")
        if isinstance(given, Mapping):
            given = given.get("type")
    if given is None:
        given = session.get("input_audio_format")
    if given is None:
        return None
    return G711_BYTES_PER_SECOND if given in _G711 else PCM16_BYTES_PER_SECOND


@attrs.define
class AudioBudget:
    """Bytes of audio one call may still send now; ``spend(size, now)`` says if a frame fits."""

    bytes_per_second: int = PCM16_BYTES_PER_SECOND
    _tokens: float = attrs.field(init=False)
    _last: float | None = attrs.field(init=False, default=None)
    #: Audio bytes the budget let through, in all.
    spent: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        self._tokens = self.capacity

    @property
    def capacity(self) -> float:
        return self.bytes_per_second * BURST_SECONDS

    @property
    def max_frame_bytes(self) -> int:
        """The most audio one append may carry."""
        return int(self.bytes_per_second * MAX_FRAME_SECONDS)

    def set_format(self, bytes_per_second: int) -> None:
        """The session's input format changed: refill and cap by the new rate from now on."""
        self.bytes_per_second = bytes_per_second
        self._tokens = min(self._tokens, self.capacity)

    def spend(self, size: int, now: float) -> bool:
        """Whether ``size`` bytes of audio received at ``now`` fit; they are counted if so."""
        last = self._last
        self._last = now
        if last is not None and now > last:
            refill = (now - last) * self.bytes_per_second * RATE_MULTIPLE
            self._tokens = min(self.capacity, self._tokens + refill)
        if size > self._tokens:
            return False
        self._tokens -= size
        self.spent += size
        return True


@attrs.define
class TextBudget:
    """Characters of typed text one call may still send now (user ``input_text`` items)."""

    chars_per_second: float = TEXT_CHARS_PER_SECOND
    _tokens: float = attrs.field(init=False)
    _last: float | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._tokens = self.capacity

    @property
    def capacity(self) -> float:
        return self.chars_per_second * TEXT_BURST_SECONDS

    def spend(self, chars: int, now: float) -> bool:
        """Whether ``chars`` characters received at ``now`` fit; they are counted if so."""
        last = self._last
        self._last = now
        if last is not None and now > last:
            refill = (now - last) * self.chars_per_second
            self._tokens = min(self.capacity, self._tokens + refill)
        if chars > self._tokens:
            return False
        self._tokens -= chars
        return True
