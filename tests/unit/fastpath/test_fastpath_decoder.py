"""`RelayMessageDecoder` decodes exactly as wsproto's `MessageDecoder` does.

Whole text messages take the fast path; fragments, split frames, binary data and invalid UTF-8
must give wsproto's own results (or its ParseFailed with 1007).
"""

from __future__ import annotations

import pytest
from wsproto.frame_protocol import CloseReason, Frame, MessageDecoder, Opcode, ParseFailed

from app.fastpath.wsproto_decoder import RelayMessageDecoder

TEXT = '{"type":"response.output_audio_transcript.delta","delta":"Grüße, 東京 🎧"}'.encode()
# Each sequence: the frames of one message as the frame decoder delivers them.
SEQUENCES = {
    "whole text": [Frame(Opcode.TEXT, TEXT, True, True)],
    # wsproto declares bytes but its frame decoder hands out bytearrays: the decoder takes both.
    "whole text, bytearray": [Frame(Opcode.TEXT, bytearray(TEXT), True, True)],  # type: ignore[arg-type]
    "empty text": [Frame(Opcode.TEXT, b"", True, True)],
    "fragmented, split inside a character": [
        Frame(Opcode.TEXT, TEXT[:62], True, False),
        Frame(Opcode.CONTINUATION, TEXT[62:], True, True),
    ],
    "frame split across reads": [  # the rest of a split frame comes as a continuation
        Frame(Opcode.TEXT, TEXT[:61], False, True),
        Frame(Opcode.CONTINUATION, TEXT[61:], True, True),
    ],
    "binary": [Frame(Opcode.BINARY, b"\xff\x00", True, True)],
}


def decode(decoder: MessageDecoder, frames: list[Frame]) -> list[tuple[object, bool, bool]]:
    return [
        (out.payload, out.frame_finished, out.message_finished)
        for out in (decoder.process_frame(frame) for frame in frames)
    ]


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_decodes_as_wsproto_does(name: str) -> None:
    frames = SEQUENCES[name]
    ours, theirs = RelayMessageDecoder(), MessageDecoder()
    assert decode(ours, frames) == decode(theirs, frames)
    # And the decoder is ready for the next message, in the same state as wsproto's.
    assert (ours.opcode, ours.decoder) == (theirs.opcode, theirs.decoder) == (None, None)
    again = SEQUENCES["whole text"]
    assert decode(ours, again) == decode(theirs, again)


def test_decoded_whole_message_is_text() -> None:
    (frame,) = [RelayMessageDecoder().process_frame(SEQUENCES["whole text"][0])]
    assert frame.opcode is Opcode.TEXT
    assert frame.payload == TEXT.decode()


@pytest.mark.parametrize("payload", [b"\xff", b"caf\xc3", b"\xed\xa0\x80"])
def test_invalid_utf8_fails_with_1007(payload: bytes) -> None:
    with pytest.raises(ParseFailed) as ours:
        RelayMessageDecoder().process_frame(Frame(Opcode.TEXT, payload, True, True))
    with pytest.raises(ParseFailed) as theirs:
        MessageDecoder().process_frame(Frame(Opcode.TEXT, payload, True, True))
    assert ours.value.code == theirs.value.code == CloseReason.INVALID_FRAME_PAYLOAD_DATA


def test_continuation_without_a_start_is_refused() -> None:
    with pytest.raises(ParseFailed, match="unexpected CONTINUATION"):
        RelayMessageDecoder().process_frame(Frame(Opcode.CONTINUATION, b"x", True, True))
