"""The as-heard mixer: where each side's audio lands in the stereo recording."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from app.recording.mixer import HOLD, AsHeardMixer

RATE = 1000  # one sample a millisecond keeps positions readable


def pcm(ms: int, value: int) -> bytes:
    return array("h", [value] * (ms * RATE // 1000)).tobytes()


def channels(stereo: bytes) -> tuple[list[int], list[int]]:
    samples = array("h", stereo)
    return list(samples[0::2]), list(samples[1::2])


def runs(channel: list[int]) -> list[tuple[int, int, int]]:
    """(value, first sample, length) of each run of equal samples that is not silence."""
    found: list[tuple[int, int, int]] = []
    for index, value in enumerate(channel):
        if value and found and found[-1][0] == value and sum(found[-1][1:]) == index:
            found[-1] = (value, found[-1][1], found[-1][2] + 1)
        elif value:
            found.append((value, index, 1))
    return found


def test_caller_frames_land_where_they_were_spoken_and_jitter_is_not_silence() -> None:
    mixer = AsHeardMixer(RATE)
    mixer.caller_audio(pcm(20, 1), 1.020)  # spoken 1.000-1.020
    mixer.caller_audio(pcm(20, 2), 1.050)  # 10 ms late: still laid end to end
    mixer.caller_audio(pcm(20, 3), 2.020)  # after a pause: at its own time
    left, right = channels(mixer.finish(3.0))
    assert runs(left) == [(1, 1000, 20), (2, 1020, 20), (3, 2000, 20)]
    assert not any(right)
    assert len(left) == 3000


def test_agent_audio_plays_out_at_real_time_from_its_first_delta() -> None:
    mixer = AsHeardMixer(RATE)
    for value in (1, 2, 3):  # three 100 ms deltas arriving at once, faster than real time
        mixer.agent_audio("item1", pcm(100, value), 0.5)
    mixer.agent_audio("item2", pcm(100, 4), 0.6)  # queued behind the first item
    mixer.agent_audio("item3", pcm(100, 5), 2.0)  # the queue had played out: at arrival
    left, right = channels(mixer.finish(3.0))
    assert runs(right) == [(1, 500, 100), (2, 600, 100), (3, 700, 100), (4, 800, 100),
                           (5, 2000, 100)]  # fmt: skip
    assert not any(left)


def test_a_barge_in_cuts_the_agent_where_the_caller_heard_it_stop() -> None:
    mixer = AsHeardMixer(RATE)
    for value in (1, 2, 3, 4):
        mixer.agent_audio("item1", pcm(100, value), 1.0)
    mixer.agent_audio("item2", pcm(100, 9), 1.0)  # queued after item1: never heard either
    mixer.heard_until("item1", 250)
    mixer.agent_audio("item1", pcm(100, 5), 1.3)  # late delta of the cut item: dropped
    mixer.agent_audio("item3", pcm(100, 6), 1.5)  # the next reply plays at its arrival
    _, right = channels(mixer.finish(2.0))
    assert runs(right) == [(1, 1000, 100), (2, 1100, 100), (3, 1200, 50), (6, 1500, 100)]


def test_take_holds_back_what_a_barge_in_may_still_cut() -> None:
    mixer = AsHeardMixer(RATE)
    mixer.agent_audio("item1", pcm(3000, 7), 0.0)
    first = mixer.take(2.5)
    assert len(first) == round((2.5 - HOLD) * RATE) * 4
    mixer.heard_until("item1", 1800)
    _, right = channels(first + mixer.finish(4.0))
    assert runs(right) == [(7, 0, 1800)]
    assert len(right) == 4000


def test_lost_audio_becomes_silence_of_its_length_and_a_gap() -> None:
    mixer = AsHeardMixer(RATE)
    mixer.caller_audio(pcm(20, 1), 0.020)
    mixer.lost(40, 0, 0.030)  # two frames the writer could not take
    mixer.caller_audio(pcm(20, 2), 0.080)
    left, _ = channels(mixer.finish(0.1))
    assert runs(left) == [(1, 0, 20), (2, 60, 20)]
    assert mixer.gaps == 1


def test_audio_past_the_end_of_the_call_was_never_heard() -> None:
    mixer = AsHeardMixer(RATE)
    mixer.agent_audio("item1", pcm(5000, 1), 1.0)
    left, right = channels(mixer.finish(2.0))
    assert len(left) == len(right) == 2000
    assert runs(right) == [(1, 1000, 1000)]
    mixer.caller_audio(pcm(20, 1), 2.5)  # after the end: ignored
    assert mixer.finish(3.0) == b""


events = st.lists(
    st.one_of(
        st.tuples(st.just("caller"), st.integers(0, 300), st.floats(0, 20)),
        st.tuples(st.just("agent"), st.integers(0, 3000), st.floats(0, 20)),
        st.tuples(st.just("cut"), st.integers(0, 5000), st.floats(0, 20)),
        st.tuples(st.just("lost"), st.integers(0, 500), st.floats(0, 20)),
        st.tuples(st.just("take"), st.just(0), st.floats(0, 20)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(events, st.floats(0, 25))
def test_every_sample_is_emitted_once_and_the_length_is_the_calls(
    script: list[tuple[str, int, float]], end: float
) -> None:
    mixer = AsHeardMixer(RATE)
    out = b""
    for kind, amount, at in sorted(script, key=lambda event: event[2]):
        if kind == "caller":
            mixer.caller_audio(pcm(amount, 1), at)
        elif kind == "agent":
            mixer.agent_audio(f"item{amount % 3}", pcm(amount, 2), at)
        elif kind == "cut":
            mixer.heard_until(f"item{amount % 3}", amount)
        elif kind == "lost":
            mixer.lost(amount, amount // 2, at)
        elif at <= end:  # a take during the call
            out += mixer.take(at)
    out += mixer.finish(max(end, 0.0))
    emitted = len(out) // 4
    assert emitted == mixer.emitted
    assert emitted == round(end * RATE)
    left, right = channels(out)
    assert set(left) <= {0, 1} and set(right) <= {0, 2}


def test_the_base64_is_found_in_either_layout() -> None:
    from app.recording.tap import base64_of

    assert base64_of('{"type":"input_audio_buffer.append","audio":"AAEC"}') == "AAEC"
    assert base64_of('{"type": "input_audio_buffer.append", "audio" : "AAED"}') == "AAED"
    delta = '{"type":"response.output_audio.delta","item_id":"i","delta":"QQ=="}'
    assert base64_of(delta) == "QQ=="
    assert base64_of('{"type":"x"}') == ""
