"""The WAV container: a 44-byte RIFF header in front of interleaved PCM16 samples.

Why WAV: every player, browser and editor opens it without a codec, a supervisor's download
plays as is, and it is written block by block with nothing to finish but the sizes in its
header (see docs/recording.md for why not FLAC or Opus).  The header's two sizes are only
known when the call ends, so the header is written last and placed first (a Blob block list
commits it in front of the audio blocks; the local store assembles header + blocks).

Pure: bytes in, bytes out.
"""

from __future__ import annotations

import struct
from typing import Final

import attrs

__all__ = ["HEADER_BYTES", "MAX_DATA_BYTES", "WavFormat", "header", "parse_header"]

HEADER_BYTES: Final = 44
#: RIFF sizes are 32-bit: the data may take at most this many bytes (about 6 hours of
#: 24 kHz stereo PCM16, six times CALL_MAX_DURATION's most).
MAX_DATA_BYTES: Final = 0xFFFFFFFF - (HEADER_BYTES - 8)
_PCM: Final = 1
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


@attrs.frozen
class WavFormat:
    """Sample rate and channels of 16-bit little-endian PCM."""

    rate: int
    channels: int = 2

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample on every channel."""
        return 2 * self.channels

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.frame_bytes

    def seconds(self, data_bytes: int) -> float:
        """How long ``data_bytes`` of interleaved samples play."""
        return data_bytes / self.bytes_per_second


def header(fmt: WavFormat, data_bytes: int) -> bytes:
    """The RIFF/WAVE header for ``data_bytes`` of PCM16 audio in format ``fmt``.

    Raises ``ValueError`` when ``data_bytes`` is negative, not a whole number of sample frames,
    or more than a 32-bit RIFF size can hold.
    """
    if data_bytes < 0 or data_bytes % fmt.frame_bytes or data_bytes > MAX_DATA_BYTES:
        raise ValueError(f"cannot describe {data_bytes} bytes of {fmt.channels}-channel PCM16")
    return _HEADER.pack(
        b"RIFF",
        HEADER_BYTES - 8 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        fmt.channels,
        fmt.rate,
        fmt.bytes_per_second,
        fmt.frame_bytes,
        16,
        b"data",
        data_bytes,
    )


def parse_header(data: bytes) -> tuple[WavFormat, int]:
    """The format and data size of a header :func:`header` wrote.

    Raises ``ValueError`` for anything else (another layout, another encoding).
    """
    if len(data) < HEADER_BYTES:
        raise ValueError("shorter than a WAV header")
    fields = _HEADER.unpack_from(data)
    riff, _, wave, fmt_id, fmt_size, encoding, channels, rate, _, _, bits, data_id, size = fields
    if (riff, wave, fmt_id, data_id) != (b"RIFF", b"WAVE", b"fmt ", b"data") or (
        fmt_size,
        encoding,
        bits,
    ) != (16, _PCM, 16):
        raise ValueError("not a PCM16 WAV header of this layout")
    return WavFormat(rate=rate, channels=channels), size
