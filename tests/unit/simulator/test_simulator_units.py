"""The simulator's sans-IO parts: options, VAD, intent, client event reading, audio."""

from __future__ import annotations

import json

import pytest

from app.rules.dialect import Dialect
from app.simulator import SimulatorOptions, script
from app.simulator import audio as sim_audio
from app.simulator.agent import SpokenReply, ToolCall, plan_reply
from app.simulator.client_events import append_audio
from app.simulator.conversation import Conversation, Item
from app.simulator.vad import EnergyVad, SpeechStarted, SpeechStopped


def test_options_from_query() -> None:
    options = SimulatorOptions.from_query("model=x&dialect=beta&close_after=5&echo=1&speed=inf")
    assert options == SimulatorOptions(
        dialect=Dialect.BETA, close_after=5, echo=True, speed=float("inf"), model="x"
    )
    assert SimulatorOptions.from_query("close_after=3&close_code=1000") == SimulatorOptions(
        close_after=3, close_code=1000
    )
    assert SimulatorOptions.from_query("") == SimulatorOptions()
    assert SimulatorOptions.from_query("?refuse&stall_after=0") == SimulatorOptions(
        refuse=True, stall_after=0
    )


@pytest.mark.parametrize(
    ("target", "dialect"),
    [
        ("/openai/realtime?api-version=2025-04-01-preview&deployment=d", Dialect.BETA),
        ("/openai/realtime", Dialect.BETA),
        ("/openai/v1/realtime?model=m", Dialect.GA),
        ("/v1/realtime?model=m", Dialect.GA),
        ("/v1/realtime?dialect=beta", Dialect.BETA),
        ("/openai/realtime?api-version=x&dialect=ga", Dialect.GA),
        ("api-version=2025-04-01-preview", Dialect.BETA),
    ],
)
def test_options_dialect_follows_the_url_form(target: str, dialect: Dialect) -> None:
    assert SimulatorOptions.from_query(target).dialect is dialect


@pytest.mark.parametrize(
    "query",
    [
        "close_after=x",
        "close_after=-1",
        "close_code=1006",
        "close_code=999",
        "dialect=klingon",
        "speed=0",
        "speed=nan",
        "echo=maybe",
    ],
)
def test_options_from_query_rejects_unusable_values(query: str) -> None:
    with pytest.raises(ValueError):
        SimulatorOptions.from_query(query)


def _utterance(speech_ms: int, silence_ms: int, lead_ms: int = 0) -> bytes:
    return sim_audio.silence(lead_ms) + sim_audio.tone(speech_ms) + sim_audio.silence(silence_ms)


def _feed_in(vad: EnergyVad, pcm: bytes, size: int) -> list[SpeechStarted | SpeechStopped]:
    events: list[SpeechStarted | SpeechStopped] = []
    for start in range(0, len(pcm), size):
        events += vad.feed(pcm[start : start + size])
    return events


@pytest.mark.parametrize("size", [960, 333, 4801, 10**6])
def test_vad_events_do_not_depend_on_chunking(size: int) -> None:
    pcm = _utterance(300, 600, lead_ms=100)
    vad = EnergyVad()
    assert _feed_in(vad, pcm, size) == [SpeechStarted(100), SpeechStopped(400)]
    assert vad.elapsed_ms == 1000


def test_vad_ignores_short_blips_and_quiet_audio() -> None:
    vad = EnergyVad()
    blip = _utterance(40, 600)
    reply_audio = sim_audio.tone(1000, amplitude=sim_audio.REPLY_AMPLITUDE)
    assert vad.feed(blip) == []
    assert vad.feed(reply_audio) == []


def test_vad_honours_the_silence_duration() -> None:
    vad = EnergyVad(silence_ms=200)
    assert vad.feed(_utterance(100, 250)) == [SpeechStarted(0), SpeechStopped(100)]


def test_vad_without_detection_only_advances_the_clock() -> None:
    vad = EnergyVad()
    assert vad.feed(_utterance(300, 600), detect=False) == []
    assert vad.elapsed_ms == 900


def _conversation(*items: Item) -> Conversation:
    conversation = Conversation()
    for item in items:
        conversation.append(item)
    return conversation


def _user(text: str) -> Item:
    return Item(f"item_{text[:8]}", "message", role="user", text=text)


@pytest.mark.parametrize(
    ("said", "plan"),
    [
        ("Hi, I need some help, please.", SpokenReply(script.OFFER_HELP)),
        ("My order number is 4512. Where is it?", ToolCall("lookup_order", '{"order_id": "4512"}')),
        ("where are my orders", ToolCall("lookup_order", '{"order_id": "4512"}')),
        ("Actually I'd like to buy a second one.", ToolCall("transfer_to_sales", "{}")),
        ("Can I order another?", ToolCall("transfer_to_sales", "{}")),
        ("Thanks, that's all.", SpokenReply(script.GOODBYE)),
        ("The weather is nice", SpokenReply(script.FALLBACK)),
        ("ordering", SpokenReply(script.FALLBACK)),
    ],
)
def test_intent_of_the_latest_user_message(said: str, plan: object) -> None:
    assert plan_reply(_conversation(_user(said))) == plan


def test_script_lines_cover_every_intent() -> None:
    plans = [plan_reply(_conversation(_user(line))) for line in script.USER_LINES]
    assert isinstance(plans[0], SpokenReply)
    assert [p.name for p in plans if isinstance(p, ToolCall)] == [
        "lookup_order",
        "transfer_to_sales",
    ]
    assert plans[-1] == SpokenReply(script.GOODBYE)
    assert script.user_line(len(script.USER_LINES)) == script.USER_LINES[0]


def test_intent_after_tool_calls_and_replies() -> None:
    call = Item(
        "i2", "function_call", call_id="c1", name="lookup_order", arguments='{"order_id": "9"}'
    )
    output = Item("i3", "function_call_output", call_id="c1", output='{"status": "delayed"}')
    reply = Item("i4", "message", role="assistant", text="...")
    assert plan_reply(_conversation()) == SpokenReply(script.GREETING)
    assert plan_reply(_conversation(_user("my order"), call)) == SpokenReply(script.HOLD)
    spoken = plan_reply(_conversation(_user("my order"), call, output))
    assert spoken == SpokenReply(script.order_status_reply("9", "delayed", None))
    assert plan_reply(_conversation(_user("my order"), call, output, reply)) == SpokenReply(
        script.FOLLOW_UP
    )


def test_append_audio_fast_path() -> None:
    compact = '{"type":"input_audio_buffer.append","event_id":"e","audio":"QUJD"}'
    spaced = json.dumps({"type": "input_audio_buffer.append", "audio": "QUJD"})
    assert append_audio(compact) == append_audio(spaced) == "QUJD"
    # Anything unusual goes the careful way.
    assert append_audio('{"type":"input_audio_buffer.append","audio":"QU\\/D"}') is None
    assert append_audio('{"type":"input_audio_buffer.append","event_id":"audio"}') is None
    assert append_audio('{"type":"input_audio_buffer.append","x":1}') is None
    assert append_audio('{"type":"response.create"}') is None
    assert append_audio('{"audio":"QUJD","type":"input_audio_buffer.append"}') is None


def test_reply_audio_chunks_add_up_and_stay_quiet() -> None:
    chunks = sim_audio.reply_chunks(1260)
    assert [ms for ms, _ in chunks] == [100] * 12 + [60]
    pcm = b"".join(sim_audio.decode(b64) for _, b64 in chunks)
    assert sim_audio.duration_ms(pcm) == 1260
    assert EnergyVad().feed(pcm) == []
    with pytest.raises(sim_audio.InvalidAudio):
        sim_audio.decode("not base64!")
