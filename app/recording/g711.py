"""G.711 u-law to PCM16: phone calls' 8 kHz audio, decoded for the recording.

``audioop`` did this until Python 3.13 removed it; the decoding is a fixed 256-entry table
(ITU-T G.711), built once here from the standard's formula and applied with ``bytes.join``
over ``map`` (no Python-level loop per sample).  Pure.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["ulaw_to_pcm16"]

_BIAS: Final = 0x84


def _decode(code: int) -> int:
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + _BIAS) << exponent
    return _BIAS - magnitude if code & 0x80 else magnitude - _BIAS


#: Each u-law byte's PCM16 little-endian sample.
_TABLE: Final = tuple(struct.pack("<h", _decode(code)) for code in range(256))


def ulaw_to_pcm16(data: bytes) -> bytes:
    """PCM16 little-endian samples (two bytes each) for G.711 u-law ``data`` (one byte each)."""
    return b"".join(map(_TABLE.__getitem__, data))
