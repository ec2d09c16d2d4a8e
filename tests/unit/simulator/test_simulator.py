"""The simulator's conversation behaviour, driven in memory under a mock clock."""

from __future__ import annotations

import base64
import json

import pytest
import trio
from trio.testing import MockClock

from app.rules import g711
from app.rules.dialect import Dialect, names
from app.simulator import SimulatorOptions, script
from app.simulator import audio as sim_audio
from app.simulator.audio import MS_PER_CHARACTER
from tests.support.simulator import first, index, simulator, transcription_on, types

DIALECTS = [Dialect.GA, Dialect.BETA]


def _audio_ms(events: list[dict[str, object]], delta_type: str) -> int:
    pcm = b"".join(base64.b64decode(str(e["delta"])) for e in events if e["type"] == delta_type)
    return len(pcm) // 48


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_session_created_comes_first_with_type_then_event_id(
    autojump_clock: MockClock, dialect: Dialect
) -> None:
    async with simulator(SimulatorOptions(dialect=dialect, session_id="sess_test")) as peer:
        created = await peer.next()
    assert peer.raw[0].startswith('{"type":"session.created","event_id":"event_0001",')
    assert created["session"]["id"] == "sess_test"
    if dialect is Dialect.GA:
        assert created["session"]["audio"]["input"]["format"] == {
            "type": "audio/pcm",
            "rate": 24000,
        }
    else:
        assert created["session"]["input_audio_format"] == "pcm16"


async def test_session_ids_differ_between_sessions_by_default(autojump_clock: MockClock) -> None:
    async with simulator() as one, simulator() as two:
        ids = {(await one.next())["session"]["id"], (await two.next())["session"]["id"]}
    assert len(ids) == 2
    assert all(i.startswith("sess_sim_") for i in ids)


async def test_ga_session_update_merges_nested_settings(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.next()
        update = transcription_on(Dialect.GA) | {"instructions": "Be brief."}
        await peer.send("session.update", session=update)
        session = (await peer.next())["session"]
    assert session["instructions"] == "Be brief."
    assert session["audio"]["input"]["transcription"] == {"model": "whisper-1"}
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["output"]["voice"] == "alloy"


async def test_beta_session_update_merges_flat_settings(autojump_clock: MockClock) -> None:
    async with simulator(SimulatorOptions(dialect=Dialect.BETA)) as peer:
        await peer.next()
        await peer.send("session.update", session={"voice": "verse", "turn_detection": None})
        updated = await peer.next()
    assert updated["type"] == "session.updated"
    assert updated["session"]["voice"] == "verse"
    assert updated["session"]["turn_detection"] is None
    assert updated["session"]["input_audio_format"] == "pcm16"


@pytest.mark.parametrize(
    ("dialect", "session", "param"),
    [
        (Dialect.GA, {"modalities": ["text"]}, "session.modalities"),
        (Dialect.BETA, {"output_modalities": ["text"]}, "session.output_modalities"),
    ],
)
async def test_session_update_in_the_other_dialects_shape_is_an_error(
    autojump_clock: MockClock, dialect: Dialect, session: dict[str, object], param: str
) -> None:
    async with simulator(SimulatorOptions(dialect=dialect)) as peer:
        await peer.next()
        await peer.send("session.update", session=session, event_id="evt_upd")
        error = (await peer.next())["error"]
    assert error["code"] == "unknown_parameter"
    assert error["param"] == param
    assert error["event_id"] == "evt_upd"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_text_turn_streams_transcript_and_audio(
    autojump_clock: MockClock, dialect: Dialect
) -> None:
    spelled, other = names(dialect), names(Dialect.BETA if dialect is Dialect.GA else Dialect.GA)
    async with simulator(SimulatorOptions(dialect=dialect)) as peer:
        await peer.next()
        await peer.say("Hello there, can you help me?")
        added = await peer.until(spelled.item_added)
        if spelled.item_done:
            added += await peer.until(spelled.item_done)
        assert await peer.quiet() == []  # no response until the client asks for one
        await peer.send("response.create")
        events = await peer.until("response.done")
    user_id = added[0]["item"]["id"]
    assert added[0]["previous_item_id"] is None
    assert types(events)[:4] == [
        "response.created",
        "response.output_item.added",
        spelled.item_added,
        "response.content_part.added",
    ]
    assert events[2]["previous_item_id"] == user_id
    deltas = "".join(e["delta"] for e in events if e["type"] == spelled.transcript_delta)
    transcript = first(events, spelled.transcript_done)["transcript"]
    assert deltas == transcript == script.OFFER_HELP
    assert _audio_ms(events, spelled.audio_delta) == len(transcript) * MS_PER_CHARACTER
    assert max(_audio_ms([e], spelled.audio_delta) for e in events if "delta" in e) <= 100
    assert not {other.audio_delta, other.transcript_delta, other.item_added} & set(types(events))
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["usage"]["output_tokens"] > 0
    assert done["output"][0]["content"][0]["transcript"] == transcript


@pytest.mark.parametrize(
    ("dialect", "session"),
    [
        (Dialect.GA, {"type": "realtime", "output_modalities": ["text"]}),
        (Dialect.BETA, {"modalities": ["text"]}),
    ],
)
async def test_text_only_session_replies_with_text(
    autojump_clock: MockClock, dialect: Dialect, session: dict[str, object]
) -> None:
    spelled = names(dialect)
    async with simulator(SimulatorOptions(dialect=dialect)) as peer:
        await peer.send("session.update", session=session)
        await peer.say("hello")
        await peer.send("response.create")
        events = await peer.until("response.done")
    text = "".join(e["delta"] for e in events if e["type"] == spelled.text_delta)
    assert text == first(events, spelled.text_done)["text"] == script.OFFER_HELP
    assert spelled.audio_delta not in types(events)


async def test_response_create_can_ask_for_text_only(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.say("hello")
        await peer.send("response.create", response={"output_modalities": ["text"]})
        events = await peer.until("response.done")
    assert "response.output_text.done" in types(events)
    assert "response.output_audio.delta" not in types(events)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_utterance_is_detected_committed_transcribed_late_and_answered(
    autojump_clock: MockClock,
    dialect: Dialect,
) -> None:
    spelled = names(dialect)
    async with simulator(SimulatorOptions(dialect=dialect)) as peer:
        await peer.send("session.update", session=transcription_on(dialect))
        await peer.speak(400, 600)
        events = await peer.until("response.done")
    started = first(events, "input_audio_buffer.speech_started")
    stopped = first(events, "input_audio_buffer.speech_stopped")
    committed = first(events, "input_audio_buffer.committed")
    added = first(events, spelled.item_added)
    completed = first(events, "conversation.item.input_audio_transcription.completed")
    assert started["audio_start_ms"] == 0
    assert stopped["audio_end_ms"] == 400
    assert started["item_id"] == stopped["item_id"] == committed["item_id"] == added["item"]["id"]
    assert committed["previous_item_id"] is None
    assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    assert completed["transcript"] == script.USER_LINES[0]
    assert completed["item_id"] == committed["item_id"]
    # Deliberately late: after the reply's first audio.
    assert index(events, spelled.audio_delta) < index(events, completed["type"])
    assert first(events, spelled.transcript_done)["transcript"] == script.OFFER_HELP


async def test_no_user_transcripts_unless_the_session_asks_for_them(
    autojump_clock: MockClock,
) -> None:
    async with simulator() as peer:
        await peer.speak(200, 600)
        events = await peer.until("response.done")
    assert "input_audio_buffer.committed" in types(events)
    assert not [t for t in types(events) if "input_audio_transcription" in t]
    assert events[-1]["response"]["status"] == "completed"


async def test_utterances_follow_the_script_into_a_tool_call(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.send("session.update", session=transcription_on(Dialect.GA))
        await peer.speak(200, 600)
        await peer.until("response.done")
        await peer.speak(200, 600)
        events = await peer.until("response.done")
    transcript = first(events, "conversation.item.input_audio_transcription.completed")
    assert transcript["transcript"] == script.USER_LINES[1]
    call = first(events, "response.function_call_arguments.done")
    assert call["name"] == script.LOOKUP_ORDER
    assert json.loads(call["arguments"]) == {"order_id": "4512"}


@pytest.mark.parametrize(
    ("said", "order_id"),
    [("Where is my order 7788?", "7788"), ("I have a question about an order", "4512")],
)
async def test_mentioning_an_order_calls_lookup_order(
    autojump_clock: MockClock, said: str, order_id: str
) -> None:
    async with simulator() as peer:
        await peer.say(said)
        await peer.send("response.create")
        events = await peer.until("response.done")
    item = first(events, "response.output_item.added")["item"]
    assert (item["type"], item["name"]) == ("function_call", script.LOOKUP_ORDER)
    assert item["call_id"].startswith("call_")
    deltas = "".join(
        e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"
    )
    done = first(events, "response.function_call_arguments.done")
    assert deltas == done["arguments"]
    assert json.loads(done["arguments"]) == {"order_id": order_id}
    assert (done["call_id"], done["item_id"]) == (item["call_id"], item["id"])
    output = events[-1]["response"]["output"]
    assert output[0]["type"] == "function_call"
    assert output[0]["status"] == "completed"


async def test_wanting_to_buy_hands_off_to_sales(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.say("I'd like to buy another one.")
        await peer.send("response.create")
        events = await peer.until("response.done")
    done = first(events, "response.function_call_arguments.done")
    assert (done["name"], done["arguments"]) == (script.TRANSFER_TO_SALES, "{}")


@pytest.mark.parametrize(
    ("said", "output", "expected"),
    [
        (
            "Where is my order 4512?",
            json.dumps({"order_id": "4512", "status": "shipped", "eta": "Thursday"}),
            ["4512", "shipped", "Thursday"],
        ),
        ("Where is my order 4512?", "not json at all", ["I have checked order 4512"]),
        ("I want to buy one more", '{"transferred": true}', ["this is sales"]),
    ],
)
async def test_function_output_then_response_create_speaks_the_result(
    autojump_clock: MockClock, said: str, output: str, expected: list[str]
) -> None:
    async with simulator() as peer:
        await peer.say(said)
        await peer.send("response.create")
        call = first(await peer.until("response.done"), "response.function_call_arguments.done")
        await peer.send(
            "conversation.item.create",
            item={"type": "function_call_output", "call_id": call["call_id"], "output": output},
        )
        added = await peer.until("conversation.item.done")
        assert await peer.quiet() == []  # the client must ask for the follow-up response
        await peer.send("response.create")
        events = await peer.until("response.done")
    assert added[0]["previous_item_id"] == call["item_id"]
    transcript = first(events, "response.output_audio_transcript.done")["transcript"]
    for words in expected:
        assert words in transcript


async def test_speech_during_a_response_cancels_it(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.say("hello")
        await peer.send("response.create")
        await peer.until("response.output_audio.delta")
        await peer.speak(100, 0)
        events = await peer.until("response.done")
    assert index(events, "input_audio_buffer.speech_started") < len(events) - 1
    done = events[-1]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert first(events, "response.output_item.done")["item"]["status"] == "incomplete"
    assert "response.output_audio_transcript.done" not in types(events)


async def test_response_cancel_cancels_the_active_response_only(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.say("hello")
        await peer.send("response.create")
        await peer.until("response.output_audio.delta")
        await peer.send("response.cancel")
        done = (await peer.until("response.done"))[-1]["response"]
        await peer.send("response.cancel", event_id="evt_again")
        error = (await peer.next())["error"]
    assert done["status"] == "cancelled"
    assert done["status_details"]["reason"] == "client_cancelled"
    assert (error["code"], error["event_id"]) == ("response_cancel_not_active", "evt_again")


async def test_second_response_create_while_active_is_an_error(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.say("hello")
        await peer.send("response.create")
        await peer.send("response.create", event_id="evt_2")
        events = await peer.until("response.done")
    error = first(events, "error")["error"]
    assert (error["code"], error["event_id"]) == (
        "conversation_already_has_active_response",
        "evt_2",
    )
    assert types(events).count("response.created") == 1
    assert events[-1]["response"]["status"] == "completed"


async def test_truncate_within_and_past_the_audio_sent(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.say("hello")
        await peer.send("response.create")
        item = (await peer.until("response.done"))[-1]["response"]["output"][0]
        length = len(item["content"][0]["transcript"]) * MS_PER_CHARACTER
        await peer.send(
            "conversation.item.truncate", item_id=item["id"], content_index=0, audio_end_ms=500
        )
        truncated = await peer.next()
        await peer.send(
            "conversation.item.truncate",
            item_id=item["id"],
            content_index=0,
            audio_end_ms=length + 1,
        )
        too_far = (await peer.next())["error"]
        await peer.send(
            "conversation.item.truncate", item_id="item_nope", content_index=0, audio_end_ms=0
        )
        unknown = (await peer.next())["error"]
    assert truncated == {
        "type": "conversation.item.truncated",
        "event_id": truncated["event_id"],
        "item_id": item["id"],
        "content_index": 0,
        "audio_end_ms": 500,
    }
    assert (too_far["type"], too_far["code"]) == ("invalid_request_error", "invalid_value")
    assert "exceeds" in too_far["message"]
    assert (unknown["code"], unknown["param"]) == ("invalid_value", "item_id")


async def test_items_can_be_retrieved_and_deleted(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.next()
        await peer.say("hello")
        item_id = (await peer.until("conversation.item.done"))[0]["item"]["id"]
        await peer.send("conversation.item.retrieve", item_id=item_id)
        retrieved = await peer.next()
        await peer.send("conversation.item.delete", item_id=item_id)
        deleted = await peer.next()
        await peer.send("conversation.item.retrieve", item_id=item_id)
        gone = await peer.next()
    assert retrieved["item"]["content"][0]["text"] == "hello"
    assert (deleted["type"], deleted["item_id"]) == ("conversation.item.deleted", item_id)
    assert gone["type"] == "error"


async def test_manual_commit_and_clear_when_turn_detection_is_off(
    autojump_clock: MockClock,
) -> None:
    manual = {"turn_detection": None, "transcription": {"model": "whisper-1"}}
    async with simulator() as peer:
        await peer.send("session.update", session={"type": "realtime", "audio": {"input": manual}})
        await peer.until("session.updated")
        await peer.speak(400, 0)
        assert await peer.quiet() == []  # no VAD events without turn detection
        await peer.send("input_audio_buffer.commit")
        committed = await peer.until("conversation.item.input_audio_transcription.completed")
        assert await peer.quiet() == []  # a manual commit creates no response
        await peer.send("input_audio_buffer.commit", event_id="evt_empty")
        empty = await peer.next()
        await peer.speak(100, 0)
        await peer.send("input_audio_buffer.clear")
        cleared = await peer.next()
        await peer.send("input_audio_buffer.commit")
        after_clear = await peer.next()
    assert types(committed) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
    ]
    assert committed[-1]["transcript"] == script.USER_LINES[0]
    assert empty["error"]["code"] == "input_audio_buffer_commit_empty"
    assert empty["error"]["event_id"] == "evt_empty"
    assert cleared["type"] == "input_audio_buffer.cleared"
    assert after_clear["error"]["code"] == "input_audio_buffer_commit_empty"


async def test_response_create_before_anything_was_said_greets(autojump_clock: MockClock) -> None:
    async with simulator() as peer:
        await peer.send("response.create")
        events = await peer.until("response.done")
    assert first(events, "response.output_audio_transcript.done")["transcript"] == script.GREETING


async def test_reply_is_paced_faster_than_real_time_by_speed(autojump_clock: MockClock) -> None:
    async with simulator(SimulatorOptions(speed=2.0)) as peer:
        await peer.say("hello")
        start = trio.current_time()
        await peer.send("response.create")
        await peer.until("response.done")
        elapsed = trio.current_time() - start
    audio_seconds = len(script.OFFER_HELP) * MS_PER_CHARACTER / 1000
    assert elapsed == pytest.approx(audio_seconds / 2.0, rel=0.01)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_mu_law_session_hears_mu_law_and_answers_in_it(
    autojump_clock: MockClock, dialect: Dialect
) -> None:
    if dialect is Dialect.GA:
        pcmu = {"type": "audio/pcmu"}
        session = transcription_on(dialect)
        session["audio"] |= {"input": session["audio"]["input"] | {"format": pcmu}}
        session["audio"]["output"] = {"format": pcmu}
    else:
        session = transcription_on(dialect) | {
            "input_audio_format": "g711_ulaw",
            "output_audio_format": "g711_ulaw",
        }
    speech = g711.from_pcm16(sim_audio.tone(400), every=3)  # 400 ms at 8 kHz
    async with simulator(SimulatorOptions(dialect=dialect)) as peer:
        await peer.send("session.update", session=session)
        for offset in range(0, len(speech), 160):
            await peer.send(
                "input_audio_buffer.append", audio=sim_audio.encode(speech[offset : offset + 160])
            )
        for _ in range(30):  # 600 ms of mu-law silence
            await peer.send("input_audio_buffer.append", audio=sim_audio.encode(b"\xff" * 160))
        events = await peer.until("response.done")
    assert first(events, "input_audio_buffer.speech_stopped")["audio_end_ms"] == 400
    spelled = names(dialect)
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == spelled.audio_delta
    )
    said = first(events, spelled.transcript_done)["transcript"]
    assert len(audio) == len(said) * MS_PER_CHARACTER * g711.BYTES_PER_MS  # 8 bytes a ms
