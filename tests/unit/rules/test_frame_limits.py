"""The bill follows speech: the audio budget in bytes, the size caps, and when refusals end a call.

Pure: `FramePolicy` and `AudioBudget` take frames and times; no sockets, no clock.
"""

from __future__ import annotations

import base64
import json

import pytest

from app.rules.audio_budget import (
    BURST_SECONDS,
    MAX_FRAME_SECONDS,
    PCM16_BYTES_PER_SECOND,
    RATE_MULTIPLE,
    TEXT_BURST_SECONDS,
    TEXT_CHARS_PER_SECOND,
    AudioBudget,
    decoded_size,
    input_audio_bytes_per_second,
)
from app.rules.frame_policy import (
    MAX_EVENT_BYTES,
    MAX_STRIKES,
    STRIKE_GAP,
    EndCall,
    Forward,
    FramePolicy,
    Inspect,
    Refuse,
)


def append(audio_bytes: int) -> dict[str, str]:
    """An ASGI message carrying an audio append of ``audio_bytes`` bytes, in the usual layout."""
    audio = base64.b64encode(bytes(audio_bytes)).decode()
    text = json.dumps({"type": "input_audio_buffer.append", "audio": audio}, separators=(",", ":"))
    return {"type": "websocket.receive", "text": text}


def policy() -> FramePolicy:
    return FramePolicy(max_frame_bytes=1 << 20, max_frame_rate=10_000)


def test_decoded_size_is_never_below_the_true_size() -> None:
    for size in range(0, 50):
        assert decoded_size(len(base64.b64encode(bytes(size)))) >= size


def test_the_voice_clients_early_frames_fit_the_burst() -> None:
    """The page sends up to 250 frames (5 s) held while its socket opened, all at once."""
    frames = policy()
    verdicts = [frames.check(append(960), 0.0) for _ in range(250)]
    assert all(isinstance(v, Forward) for v in verdicts)
    # ... and then speaks in real time.
    assert all(isinstance(frames.check(append(960), 0.02 * n), Forward) for n in range(1, 3000))


def test_speech_at_real_time_is_always_forwarded() -> None:
    frames = policy()
    # An hour of 20 ms frames (960 bytes) every 20 ms.
    verdicts = [frames.check(append(960), n * 0.02) for n in range(180_000)]
    assert all(isinstance(v, Forward) and v.plain_audio for v in verdicts)
    assert frames.refused == 0


def test_audio_beyond_the_budget_is_refused_and_what_goes_through_is_bounded() -> None:
    frames = policy()
    sent = forwarded = 0
    now = 0.0
    ended = None
    # 100 ms of audio every 10 ms: ten times real time, for up to 10 s.
    for _ in range(1000):
        verdict = frames.check(append(4800), now)
        sent += 4800
        if isinstance(verdict, Forward):
            forwarded += 4800
        elif isinstance(verdict, EndCall):
            ended = verdict
            break
        else:
            assert isinstance(verdict, Refuse) and verdict.code == "audio_rate_exceeded"
        now += 0.01
    assert ended is not None
    assert ended.code == "audio_rate_exceeded" and ended.close == (1008, "frame limits exceeded")
    assert ended.reason.value == "protocol_error"
    budget = PCM16_BYTES_PER_SECOND * (RATE_MULTIPLE * now + BURST_SECONDS)
    assert forwarded <= budget
    assert frames.refused == MAX_STRIKES


def test_a_megabyte_audio_frame_is_refused_before_it_is_even_matched() -> None:
    frames = policy()
    verdicts = [frames.check(append(600_000), 0.01 * n) for n in range(MAX_STRIKES)]
    assert all(isinstance(v, Refuse) for v in verdicts[:-1])
    assert isinstance(verdicts[-1], EndCall)
    assert {v.code for v in verdicts if isinstance(v, Refuse | EndCall)} == {
        "audio_frame_too_large"
    }
    assert frames.audio.spent == 0


def test_an_audio_frame_up_to_the_cap_goes_through() -> None:
    frames = policy()
    largest = int(PCM16_BYTES_PER_SECOND * MAX_FRAME_SECONDS)
    assert isinstance(frames.check(append(largest - 3), 0.0), Forward)
    assert isinstance(frames.check(append(largest + 3), 10.0), Refuse)


def test_strikes_start_again_after_a_quiet_gap() -> None:
    frames = policy()
    now = 0.0
    for _ in range(5):  # a few refusals now and then never end the call
        for _ in range(MAX_STRIKES - 1):
            assert isinstance(frames.check(append(600_000), now), Refuse)
        now += STRIKE_GAP + 0.1
    assert frames.refused == 5 * (MAX_STRIKES - 1)


def test_control_events_are_capped_far_below_the_frame_limit() -> None:
    frames = policy()
    keys = {f"k{n}": 1 for n in range(20_000)}
    big = {"type": "websocket.receive", "text": json.dumps({"type": "session.update", **keys})}
    verdict = frames.check(big, 0.0)
    assert isinstance(verdict, Refuse) and verdict.code == "event_too_large"
    assert str(MAX_EVENT_BYTES) in verdict.message
    small = {"type": "websocket.receive", "text": json.dumps({"type": "response.create"})}
    assert isinstance(frames.check(small, 0.1), Inspect)


def test_an_append_in_another_layout_is_inspected_and_charged_by_the_caller() -> None:
    frames = policy()
    text = json.dumps({"audio": "AAAA", "type": "input_audio_buffer.append"})
    assert isinstance(frames.check({"type": "websocket.receive", "text": text}, 0.0), Inspect)
    assert frames.charge_audio(3, 0.0) is None
    assert isinstance(frames.charge_audio(10_000_000, 0.0), Refuse)


@pytest.mark.parametrize(
    ("session", "rate"),
    [
        ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}, 8000),
        ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}, 48_000),
        ({"input_audio_format": "g711_alaw"}, 8000),
        ({"input_audio_format": "pcm16"}, 48_000),
        ({"voice": "marin"}, None),
    ],
)
def test_the_budget_follows_the_sessions_input_format(
    session: dict[str, object], rate: int | None
) -> None:
    assert input_audio_bytes_per_second({"type": "session.update", "session": session}) == rate


def test_g711_gets_a_g711_budget() -> None:
    budget = AudioBudget()
    budget.set_format(8000)
    assert budget.max_frame_bytes == 16_000
    assert budget.spend(8000 * 8, 0.0)  # the burst
    assert not budget.spend(8000, 0.0)
    assert budget.spend(8000, 0.5)  # refilled at twice real time


def test_typed_text_gets_a_page_at_once_then_a_typists_pace() -> None:
    frames = policy()
    page = int(TEXT_CHARS_PER_SECOND * TEXT_BURST_SECONDS)
    assert frames.charge_text(page, 0.0) is None  # a pasted page
    refusal = frames.charge_text(1, 0.0)
    assert isinstance(refusal, Refuse) and refusal.code == "text_rate_exceeded"
    # Then TEXT_CHARS_PER_SECOND: a minute of a fast typist (10 characters a second) passes.
    assert all(frames.charge_text(10, 1.0 + n) is None for n in range(60))
