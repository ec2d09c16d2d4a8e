"""The simulator's fault switches, echo mode, and its answers to bad input."""

from __future__ import annotations

import json

import pytest
from trio.testing import MockClock

from app.rules.dialect import Dialect
from app.simulator import SimulatorOptions
from app.simulator import audio as sim_audio
from tests.support.simulator import simulator, types


async def test_close_after_sends_exactly_n_events_then_closes_1011(
    autojump_clock: MockClock,
) -> None:
    async with simulator(SimulatorOptions(close_after=3)) as peer:
        await peer.say("hello")  # session.created + item.added + item.done = 3 events
        await peer.send("response.create")
        events = await peer.rest()
    assert types(events) == ["session.created", "conversation.item.added", "conversation.item.done"]
    assert peer.closed is not None
    assert (peer.closed.code, peer.closed.reason) == (1011, "simulated failure")


async def test_close_after_can_close_cleanly_with_another_code(autojump_clock: MockClock) -> None:
    async with simulator(SimulatorOptions(close_after=1, close_code=1000)) as peer:
        events = await peer.rest()
    assert types(events) == ["session.created"]
    assert peer.closed is not None
    assert (peer.closed.code, peer.closed.reason) == (1000, "simulated close")


async def test_close_after_counts_events_sent_by_a_streaming_response(
    autojump_clock: MockClock,
) -> None:
    async with simulator(SimulatorOptions(close_after=10)) as peer:
        await peer.say("hello")
        await peer.send("response.create")
        events = await peer.rest()
    assert len(events) == 10
    assert "response.output_audio.delta" in types(events)
    assert peer.closed is not None
    assert peer.closed.code == 1011


async def test_close_after_zero_closes_before_session_created(autojump_clock: MockClock) -> None:
    async with simulator(SimulatorOptions(close_after=0)) as peer:
        events = await peer.rest()
    assert events == []
    assert peer.closed is not None


async def test_error_after_sends_a_server_error_then_closes(autojump_clock: MockClock) -> None:
    async with simulator(SimulatorOptions(error_after=1)) as peer:
        events = await peer.rest()
    assert types(events) == ["session.created", "error"]
    assert events[1]["error"]["type"] == "server_error"
    assert events[1]["error"]["code"] == "server_error"
    assert peer.closed is not None
    assert peer.closed.code == 1011


async def test_stall_after_goes_silent_but_keeps_the_connection(autojump_clock: MockClock) -> None:
    async with simulator(SimulatorOptions(stall_after=1)) as peer:
        await peer.say("hello")
        await peer.send("response.create")
        await peer.send_raw("not even json")
        assert types(await peer.quiet()) == ["session.created"]
        assert not peer.ended.is_set()
    assert peer.ended.is_set()
    assert peer.closed is None  # the peer hung up; the simulator never closed


async def test_peer_hanging_up_ends_the_session_quietly_mid_response(
    autojump_clock: MockClock,
) -> None:
    async with simulator() as peer:
        await peer.say("hello")
        await peer.send("response.create")
        await peer.until("response.output_audio.delta")
    assert peer.ended.is_set()
    assert peer.closed is None


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA])
async def test_echo_answers_each_append_with_one_identical_delta(
    autojump_clock: MockClock, dialect: Dialect
) -> None:
    frames = [sim_audio.encode(sim_audio.tone(20, amplitude=9000, frequency=f)) for f in (300, 400)]
    async with simulator(SimulatorOptions(dialect=dialect, echo=True)) as peer:
        await peer.next()
        for frame in frames:
            await peer.send_raw('{"type":"input_audio_buffer.append","audio":"' + frame + '"}')
        # Python's json.dumps spacing, and another key order: the careful path answers too.
        await peer.send("input_audio_buffer.append", audio=frames[0])
        await peer.send_raw(json.dumps({"audio": frames[1], "type": "input_audio_buffer.append"}))
        echoed = [await peer.next() for _ in range(4)]
        assert await peer.quiet() == []  # loud audio, yet no VAD events
    delta = "response.output_audio.delta" if dialect is Dialect.GA else "response.audio.delta"
    assert types(echoed) == [delta] * 4
    assert [e["delta"] for e in echoed] == frames + frames
    assert peer.raw[1] == (
        '{"type":"' + delta + '","event_id":"event_0002","response_id":"resp_0001",'
        '"item_id":"item_0001","output_index":0,"content_index":0,"delta":"' + frames[0] + '"}'
    )


async def test_echo_mode_still_counts_events_for_faults(autojump_clock: MockClock) -> None:
    frame = sim_audio.encode(sim_audio.silence(20))
    async with simulator(SimulatorOptions(echo=True, close_after=3)) as peer:
        for _ in range(5):
            await peer.send("input_audio_buffer.append", audio=frame)
        events = await peer.rest()
    assert len(events) == 3
    assert peer.closed is not None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type":"no.such.event","event_id":"evt_1"}', "unknown_event"),
        ('{"event_id":"evt_1"}', "unknown_event"),
        ("this is not json", "invalid_json"),
        ("[1, 2, 3]", "invalid_json"),
        ("[" * 100_000, "invalid_json"),
        ('{"type":"conversation.item.create","event_id":"evt_1","item":"text"}', "invalid_value"),
        (
            '{"type":"conversation.item.create","item":{"type":"message","role":"robot"}}',
            "invalid_value",
        ),
        (
            '{"type":"conversation.item.create","item":{"type":"function_call_output"}}',
            "invalid_value",
        ),
        ('{"type":"conversation.item.create","item":{"type":"picture"}}', "invalid_value"),
        ('{"type":"session.update","session":[]}', "invalid_value"),
        ('{"type":"input_audio_buffer.append","event_id":"evt_1","audio":"!!!"}', "invalid_value"),
        ('{"type":"input_audio_buffer.append","audio":5}', "invalid_value"),
        ('{"type":"conversation.item.truncate","item_id":"x","audio_end_ms":-1}', "invalid_value"),
        ('{"type":"response.create","response":"now"}', "invalid_value"),
    ],
)
async def test_bad_input_gets_an_error_event_and_the_session_goes_on(
    autojump_clock: MockClock, text: str, code: str
) -> None:
    async with simulator() as peer:
        await peer.next()
        await peer.send_raw(text)
        error = await peer.next()
        await peer.send("response.create")
        after = await peer.next()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["code"] == code
    if '"event_id":"evt_1"' in text:
        assert error["error"]["event_id"] == "evt_1"
    assert after["type"] == "response.created"
