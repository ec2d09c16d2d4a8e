"""The WAV header and G.711 decoding, checked against the standard library's readers."""

from __future__ import annotations

import io
import wave
from array import array

import pytest

from app.recording.wav import HEADER_BYTES, WavFormat, header, parse_header


def test_the_header_is_what_the_standard_librarys_wave_reads() -> None:
    fmt = WavFormat(rate=24_000)
    audio = array("h", [1, -1, 2, -2] * 600).tobytes()
    data = header(fmt, len(audio)) + audio
    assert len(data) == HEADER_BYTES + len(audio)
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getnchannels() == 2
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == 24_000
        assert reader.getnframes() == len(audio) // 4
        assert reader.readframes(reader.getnframes()) == audio
    assert parse_header(data) == (fmt, len(audio))
    assert fmt.seconds(len(audio)) == pytest.approx(0.05)  # 1200 stereo frames at 24 kHz


@pytest.mark.parametrize("size", [-4, 3, 0xFFFFFFFF])
def test_sizes_a_header_cannot_describe_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match="cannot describe"):
        header(WavFormat(rate=8_000), size)


def test_a_header_of_another_layout_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_header(b"RIFF" + bytes(40))
