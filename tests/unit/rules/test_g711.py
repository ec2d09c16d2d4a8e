"""The mu-law codec against G.711's fixed points, and the bulk conversions against it."""

from __future__ import annotations

import struct
from array import array

from app.rules import g711


def test_fixed_points_of_the_standard() -> None:
    assert g711.decode_sample(0xFF) == 0
    assert g711.decode_sample(0x7F) == 0
    assert g711.decode_sample(0x00) == -32124
    assert g711.decode_sample(0x80) == 32124
    assert g711.encode_sample(0) == 0xFF
    assert g711.encode_sample(32767) == 0x80
    assert g711.encode_sample(-32768) == 0x00


def test_every_code_survives_decode_then_encode() -> None:
    for code in range(256):
        if code == 0x7F:  # negative zero encodes as positive zero
            continue
        assert g711.encode_sample(g711.decode_sample(code)) == code


def test_encoding_error_stays_within_the_step_size() -> None:
    for sample in range(-32000, 32000, 97):
        back = g711.decode_sample(g711.encode_sample(sample))
        assert abs(back - sample) <= max(8, abs(sample) // 16)


def test_to_pcm16_repeats_each_sample() -> None:
    pcm = g711.to_pcm16(bytes([0x00, 0x80, 0xFF]), repeat=3)
    samples = struct.unpack("<9h", pcm)
    assert samples == (-32124,) * 3 + (32124,) * 3 + (0,) * 3


def test_from_pcm16_keeps_every_third_sample() -> None:
    pcm = struct.pack("<6h", 1000, 5, 5, -1000, 5, 5)
    assert g711.from_pcm16(pcm, every=3) == bytes(
        [g711.encode_sample(1000), g711.encode_sample(-1000)]
    )

def test_g711_ulaw_decodes_to_the_standards_values() -> None:
    # ITU-T G.711 u-law: 0xFF and 0x7F are the two zeros, 0x80 / 0x00 the extremes.
    decoded = array("h", g711.to_pcm16(bytes([0xFF, 0x7F, 0x80, 0x00, 0xF0, 0x70])))
    assert list(decoded) == [0, 0, 32124, -32124, 120, -120]


def test_g711_ulaw_is_monotonic_over_each_half() -> None:
    positive = array("h", g711.to_pcm16(bytes(range(0xFF, 0x7F, -1))))
    assert list(positive) == sorted(positive)
    assert len(g711.to_pcm16(bytes(160))) == 320  # 20 ms at 8 kHz -> 320 bytes of PCM16
