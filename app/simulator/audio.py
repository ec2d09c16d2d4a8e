"""PCM16 audio for the simulator: the reply audio it synthesises and the base64 it travels in.

The Realtime API carries PCM16 little-endian mono 24 kHz audio, base64-encoded inside JSON text
frames.  The simulator never needs real speech: the relay and its tests care about *how much*
audio arrives and *when*, so reply audio is a quiet tone whose duration is proportional to the
reply's text.  The tone is quiet on purpose: below the voice-activity threshold
(:data:`app.simulator.vad.DEFAULT_THRESHOLD`), so a client that loops reply audio back as input
does not interrupt itself.

Only the standard library is used: ``audioop`` is deprecated (and warnings are errors here) and
numpy would be a heavy dependency for a sine wave.  A session in ``g711_ulaw`` (a phone call's)
gets its reply audio in G.711 mu-law at 8 kHz, and its input audio is decoded for the VAD
(`app.rules.g711`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import sys
from array import array
from typing import Final

from app.rules import g711

SAMPLE_RATE: Final = 24_000
SAMPLES_PER_MS: Final = SAMPLE_RATE // 1000
BYTES_PER_SAMPLE: Final = 2
#: Reply audio per character of reply text (about the pace of speech).
MS_PER_CHARACTER: Final = 60
#: Reply audio is delivered in chunks of this length.
CHUNK_MS: Final = 100
#: Peak amplitude of the reply tone: quiet, and below the voice-activity threshold.
REPLY_AMPLITUDE: Final = 300
#: 200 Hz at 24 kHz is a 120-sample (5 ms) period.  Reply durations are multiples of 20 ms, so every
#: chunk is a whole number of periods: chunks join without clicks, and equal chunks are reused.
REPLY_FREQUENCY: Final = 200

_BIG_ENDIAN: Final = sys.byteorder == "big"


class InvalidAudio(ValueError):
    """An audio payload that is not valid base64."""


def tone(duration_ms: int, *, amplitude: int = 8000, frequency: int = 440) -> bytes:
    """``duration_ms`` of a sine tone as PCM16 LE mono 24 kHz bytes."""
    step = 2 * math.pi * frequency / SAMPLE_RATE
    samples = array(
        "h", (round(amplitude * math.sin(step * i)) for i in range(duration_ms * SAMPLES_PER_MS))
    )
    if _BIG_ENDIAN:
        samples.byteswap()
    return samples.tobytes()


def silence(duration_ms: int) -> bytes:
    """``duration_ms`` of digital silence as PCM16 bytes."""
    return bytes(duration_ms * SAMPLES_PER_MS * BYTES_PER_SAMPLE)


def encode(pcm: bytes) -> str:
    """Base64 text for a JSON ``audio``/``delta`` field."""
    return base64.b64encode(pcm).decode("ascii")


def decode(text: str) -> bytes:
    """PCM bytes from a base64 ``audio`` field.

    Raises:
        InvalidAudio: ``text`` is not valid base64.
    """
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAudio("audio is not valid base64") from None


def duration_ms(pcm: bytes) -> int:
    """Whole milliseconds of audio in ``pcm``."""
    return len(pcm) // (BYTES_PER_SAMPLE * SAMPLES_PER_MS)


def reply_duration_ms(text: str) -> int:
    """How long the spoken reply ``text`` lasts."""
    return len(text) * MS_PER_CHARACTER


def reply_chunks(total_ms: int, audio_format: str = "pcm16") -> list[tuple[int, str]]:
    """The reply audio for ``total_ms`` as ``(milliseconds, base64)`` chunks of :data:`CHUNK_MS`,
    in ``audio_format`` (``pcm16``, or ``g711_ulaw`` for a phone call).

    The last chunk is shorter when ``total_ms`` is not a multiple of the chunk length.
    """
    ulaw = audio_format == "g711_ulaw"
    full, rest = divmod(total_ms, CHUNK_MS)
    chunks = [(CHUNK_MS, _reply_tone(CHUNK_MS, ulaw))] * full
    if rest:
        chunks.append((rest, _reply_tone(rest, ulaw)))
    return chunks


@functools.cache
def _reply_tone(ms: int, ulaw: bool = False) -> str:
    # Cached: reply chunks repeat, and a benchmark streams many of them.
    pcm = tone(ms, amplitude=REPLY_AMPLITUDE, frequency=REPLY_FREQUENCY)
    return encode(g711.from_pcm16(pcm, every=3) if ulaw else pcm)


def to_pcm16(raw: bytes, audio_format: str) -> bytes:
    """Input audio in ``audio_format`` as PCM16 at 24 kHz, for the VAD (mu-law: decoded and
    each sample repeated three times, 8 kHz to 24 kHz)."""
    if audio_format == "g711_ulaw":
        return g711.to_pcm16(raw, repeat=3)
    return raw
