"""G.711 mu-law (PCMU), the audio of the telephone network: 8-bit samples at 8 kHz.

Phone calls reach the model in mu-law both ways (``g711_ulaw``), so the relay itself never
transcodes.  What needs the codec is whatever must *look at* the samples: the simulator's voice
activity detection and its reply audio, and tests.  ``audioop`` did this but is deprecated (and
gone in Python 3.13); the codec is the ITU-T G.711 formula, a 256-entry table each way, and the
conversions run at C speed through ``bytes.translate`` and slice assignment.

No I/O here.
"""

from __future__ import annotations

import sys
from array import array
from typing import Final

SAMPLE_RATE: Final = 8_000
#: One mu-law byte is one sample: 8 bytes a millisecond.
BYTES_PER_MS: Final = SAMPLE_RATE // 1000

_BIAS: Final = 0x84
_CLIP: Final = 32_635
_BIG_ENDIAN: Final = sys.byteorder == "big"


def decode_sample(code: int) -> int:
    """The linear 16-bit sample of one mu-law byte."""
    code = ~code & 0xFF
    magnitude = ((((code & 0x0F) << 3) + _BIAS) << ((code >> 4) & 0x07)) - _BIAS
    return -magnitude if code & 0x80 else magnitude


def encode_sample(sample: int) -> int:
    """The mu-law byte of one linear 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, _CLIP) + _BIAS
    exponent = (magnitude >> 7).bit_length() - 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


_DECODED: Final = [decode_sample(code) for code in range(256)]
# The two bytes of each decoded sample, little-endian, as translate tables.
_LOW: Final = bytes(sample & 0xFF for sample in _DECODED)
_HIGH: Final = bytes((sample >> 8) & 0xFF for sample in _DECODED)


def to_pcm16(ulaw: bytes, *, repeat: int = 1) -> bytes:
    """Mu-law bytes as PCM16 little-endian, each sample written ``repeat`` times.

    ``repeat=3`` turns 8 kHz into 24 kHz (the Realtime API's PCM rate) by repeating samples: crude
    as resampling, but exact in timing and level, which is all a voice-activity detector needs.
    """
    low, high = ulaw.translate(_LOW), ulaw.translate(_HIGH)
    out = bytearray(2 * repeat * len(ulaw))
    step = 2 * repeat
    for copy in range(repeat):
        out[2 * copy :: step] = low
        out[2 * copy + 1 :: step] = high
    return bytes(out)


def from_pcm16(pcm: bytes, *, every: int = 1) -> bytes:
    """PCM16 little-endian as mu-law, keeping every ``every``-th sample (3: 24 kHz to 8 kHz)."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if _BIG_ENDIAN:
        samples.byteswap()
    return bytes(encode_sample(sample) for sample in samples[::every])
