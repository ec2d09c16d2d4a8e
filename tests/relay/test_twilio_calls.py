"""Twilio phone calls through real sockets: Twilio's protocol one side, the simulator the other.

The caller is `tests.support.twilio`: the signed voice webhook, the TwiML's media stream, real
speech (espeak-ng, mu-law 8 kHz by sox) in 20 ms frames, and Twilio's playback buffer with its
marks and ``clear``.  The model is the built-in simulator in ``g711_ulaw``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import wave
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio_websocket

from app.model.upstream import Upstream, UpstreamConnector
from app.rules.audio_budget import BURST_SECONDS, RATE_MULTIPLE
from app.rules.dialect import Dialect, names
from app.settings import Settings
from app.simulator import SimulatorOptions
from tests.support.harness import IO_TIMEOUT, DelegatingConnector, relay_settings, running_relay
from tests.support.twilio import (
    FRAME_BYTES,
    FRAME_MS,
    PUBLIC_BASE_URL,
    SILENCE,
    StreamInstruction,
    TwilioStream,
    open_stream,
    place_call,
    post_voice,
    read_twiml,
    signed_headers,
    speech_ulaw,
    voice_form,
)

AUTH_TOKEN = "twilio-auth-token-for-tests-0123"
CALLER_ID_SECRET = "caller-id-secret-for-tests-0123456789"
CALLER = "+15551234567"
CALL_SID = "CA" + "1" * 32


def phone_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return relay_settings(
        tmp_path,
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE_URL,
        caller_id_secret=CALLER_ID_SECRET,
        **overrides,
    )


def hashed(number: str) -> str:
    key = CALLER_ID_SECRET.encode()
    return "tel:" + hmac.new(key, number.encode(), hashlib.sha256).hexdigest()[:32]


@attrs.define(eq=False)
class RecordingUpstream:
    """The real upstream, with a copy of every text frame each way."""

    inner: Upstream
    log: ModelLog

    async def send(self, text: str) -> None:
        self.log.sent.append(text)
        await self.inner.send(text)

    async def receive(self) -> str | bytes:
        text = await self.inner.receive()
        if isinstance(text, str):
            self.log.received.append(text)
        return text

    async def aclose(self, code: int = 1000) -> None:
        await self.inner.aclose(code)


@attrs.define(eq=False)
class ModelLog:
    sent: list[str] = attrs.field(factory=list)
    received: list[str] = attrs.field(factory=list)
    connects: int = 0

    def wrap(self) -> Callable[[UpstreamConnector], UpstreamConnector]:
        return lambda inner: RecordingConnector(inner, self)

    def sent_of_type(self, kind: str) -> list[dict[str, Any]]:
        events = [json.loads(text) for text in self.sent if f'"{kind}"' in text]
        return [event for event in events if event.get("type") == kind]

    def received_of_type(self, kind: str) -> list[dict[str, Any]]:
        events = [json.loads(text) for text in self.received if f'"{kind}"' in text]
        return [event for event in events if event.get("type") == kind]


@attrs.define(eq=False)
class RecordingConnector(DelegatingConnector):
    log: ModelLog = attrs.field(factory=ModelLog)

    async def connect(self, nursery: trio.Nursery) -> Upstream:
        self.log.connects += 1
        return RecordingUpstream(await self.inner.connect(nursery), self.log)


async def stream_until(stream: TwilioStream, done: Callable[[], bool]) -> None:
    """Keep the caller's line open (Twilio streams silence too) until ``done()``, bounded."""
    with trio.fail_after(IO_TIMEOUT):
        while not done():
            await stream.silence(20)


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA])
async def test_a_twilio_call_is_relayed_barged_into_and_logged(
    tmp_path: Path, dialect: Dialect
) -> None:
    model = ModelLog()
    spelled = names(dialect)
    async with (
        running_relay(
            phone_settings(tmp_path),
            simulator=SimulatorOptions(speed=50.0, dialect=dialect),
            wrap_connector=model.wrap(),
        ) as relay,
        trio.open_nursery() as nursery,
    ):
        stream = await place_call(relay.port, AUTH_TOKEN, nursery, call_sid=CALL_SID, caller=CALLER)
        await stream.say(speech_ulaw("Hello, I would like to check on my order, please."))
        await stream_until(stream, lambda: len(stream.received_audio) > 0)
        # The reply plays for a while (each caller frame is 20 ms of playback), then the
        # caller talks over it.
        await stream.silence(600)
        await stream.say(speech_ulaw("Sorry, one more thing."))
        await stream_until(
            stream,
            lambda: stream.clears > 0 and bool(model.sent_of_type("conversation.item.truncate")),
        )
        transcribed = "conversation.item.input_audio_transcription.completed"
        await stream_until(stream, lambda: len(model.received_of_type(transcribed)) >= 2)
        await stream.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()

    # The model session is mu-law both ways: nothing was transcoded.
    session = model.sent_of_type("session.update")[0]["session"]
    if dialect is Dialect.GA:
        assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        assert session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    else:
        assert session["input_audio_format"] == session["output_audio_format"] == "g711_ulaw"
    # Barge-in: playback cleared at once, the model told where it stood (a mark Twilio echoed).
    assert stream.clears == 1
    [truncate] = model.sent_of_type("conversation.item.truncate")
    # The caller got the model's own audio bytes, untouched.
    first = b"".join(
        base64.b64decode(d["delta"])
        for d in model.received_of_type(spelled.audio_delta)
        if d["item_id"] == truncate["item_id"]
    )
    assert first and stream.received_audio.startswith(first)
    played_marks = {ms for _, ms in stream.echoed if ms <= stream.cleared_at[0]}
    assert truncate["audio_end_ms"] in played_marks
    assert 500 <= truncate["audio_end_ms"] <= stream.cleared_at[0]
    [truncated] = model.received_of_type("conversation.item.truncated")
    assert truncated["audio_end_ms"] == truncate["audio_end_ms"]

    assert doc["channel"] == "twilio"
    assert doc["customer_id"] == hashed(CALLER)
    assert CALLER[1:] not in json.dumps(doc)
    assert doc["disconnect_reason"] == "user_hangup"
    assert doc["graceful_disconnect"] is True
    senders = [m["sender"] for m in doc["messages"]]
    assert senders[:3] == ["user", "assistant", "user"]
    first_reply = doc["messages"][1]
    full = next(
        e["transcript"]
        for e in model.received_of_type(spelled.transcript_done)
        if e["item_id"] == truncate["item_id"]
    )
    assert first_reply["interrupted"] is True
    assert first_reply["message"] and full.startswith(first_reply["message"])
    assert len(first_reply["message"]) < len(full)


async def test_a_stream_that_drops_is_connection_lost(tmp_path: Path) -> None:
    async with running_relay(phone_settings(tmp_path)) as relay, trio.open_nursery() as nursery:
        stream = await place_call(relay.port, AUTH_TOKEN, nursery, call_sid=CALL_SID, caller=CALLER)
        await stream.say(speech_ulaw("Hello, is anyone there?"))
        await stream_until(stream, lambda: len(stream.received_audio) > 0)
        await stream.drop()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    assert doc["disconnect_reason"] == "connection_lost"
    assert doc["channel"] == "twilio"
    assert doc["messages"][0]["sender"] == "user"


async def test_the_relay_ends_a_call_by_closing_the_stream(tmp_path: Path) -> None:
    # Long enough for a first turn (a call with no message writes no document) on a busy machine.
    settings = phone_settings(tmp_path, call_max_duration=4.0)
    async with running_relay(settings) as relay, trio.open_nursery() as nursery:
        stream = await place_call(relay.port, AUTH_TOKEN, nursery, call_sid=CALL_SID, caller=CALLER)
        await stream.say(speech_ulaw("Hello."))
        await stream_until(stream, lambda: len(stream.received_audio) > 0)
        assert not stream.closed.is_set()
        # The caller keeps its line open until the relay closes it; a frame sent as the close
        # arrives meets the closed socket, as Twilio's last packet would.
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            await stream_until(stream, stream.closed.is_set)
        with trio.fail_after(IO_TIMEOUT):
            await stream.closed.wait()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    assert stream.close_code == 1000  # Twilio then runs <Hangup/>: the call ends
    assert doc["disconnect_reason"] == "max_duration"


@pytest.mark.parametrize(
    ("signature", "url"),
    [
        ("", PUBLIC_BASE_URL + "/api/phone/twilio/voice"),
        ("forged", PUBLIC_BASE_URL + "/api/phone/twilio/voice"),
        (None, "https://elsewhere.example.test/api/phone/twilio/voice"),
    ],
    ids=["missing", "forged", "another-url"],
)
async def test_a_webhook_without_a_valid_signature_is_refused(
    tmp_path: Path, signature: str | None, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    model = ModelLog()
    caplog.set_level(logging.WARNING, logger="app.phone")
    async with running_relay(phone_settings(tmp_path), wrap_connector=model.wrap()) as relay:
        form = voice_form(CALL_SID, CALLER)
        if signature is None:  # a real signature, for a URL the relay is not at
            signature = signed_headers(AUTH_TOKEN, url, form)["X-Twilio-Signature"]
        response = await post_voice(relay.port, AUTH_TOKEN, form, signature=signature)
        assert response.status_code == 403
        assert "Stream" not in response.text
        assert relay.app.relay.registry.active == 0
    assert model.connects == 0
    assert any("Refused a Twilio voice webhook" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "parameters",
    [{}, {"token": "not-a-token"}, "another-call"],
    ids=["no-token", "garbage", "minted-for-another-call"],
)
async def test_a_media_stream_without_a_valid_token_is_refused(
    tmp_path: Path, parameters: dict[str, str] | str, caplog: pytest.LogCaptureFixture
) -> None:
    model = ModelLog()
    caplog.set_level(logging.WARNING, logger="app.phone")
    async with (
        running_relay(phone_settings(tmp_path), wrap_connector=model.wrap()) as relay,
        trio.open_nursery() as nursery,
    ):
        if parameters == "another-call":
            answer = await post_voice(relay.port, AUTH_TOKEN, voice_form("CA" + "9" * 32, CALLER))
            instruction = read_twiml(answer.text)
        else:
            assert isinstance(parameters, dict)
            instruction = StreamInstruction(PUBLIC_BASE_URL + "/api/phone/twilio/media", parameters)
        stream = await open_stream(relay.port, instruction, nursery, call_sid=CALL_SID)
        with trio.fail_after(IO_TIMEOUT), pytest.raises(trio_websocket.ConnectionClosed) as closed:
            while True:
                await stream.ws.get_message()
        assert closed.value.reason is not None and closed.value.reason.code == 1008
        assert relay.app.relay.registry.active == 0
        await stream.tcp.aclose()
        nursery.cancel_scope.cancel()
    assert model.connects == 0
    assert any(
        "Refused a Twilio media stream for call " + CALL_SID in r.getMessage()
        for r in caplog.records
    )


async def test_twilio_routes_are_off_without_an_auth_token(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay:
        response = await post_voice(relay.port, AUTH_TOKEN, voice_form(CALL_SID, CALLER))
        assert response.status_code == 404


async def test_a_full_relay_answers_busy_without_a_stream(tmp_path: Path) -> None:
    async with (
        running_relay(phone_settings(tmp_path, max_calls=1)) as relay,
        trio.open_nursery() as nursery,
    ):
        stream = await place_call(relay.port, AUTH_TOKEN, nursery, call_sid=CALL_SID, caller=CALLER)
        await stream_until(stream, lambda: relay.app.relay.registry.active == 1)
        response = await post_voice(relay.port, AUTH_TOKEN, voice_form("CA" + "2" * 32, CALLER))
        assert response.status_code == 200
        assert '<Reject reason="busy" />' in response.text
        assert "Stream" not in response.text
        await stream.hang_up()


async def test_a_recorded_twilio_call_is_kept_at_the_lines_rate_as_the_caller_heard_it(
    tmp_path: Path,
) -> None:
    """RECORD_CALLS covers phone calls too: the u-law line decoded to a stereo 8 kHz WAV under
    DATA_DIR/recordings, the caller left, the agent right, the agent cut at the barge-in."""
    model = ModelLog()
    settings = phone_settings(tmp_path, record_calls=True)
    async with (
        running_relay(
            settings, simulator=SimulatorOptions(speed=50.0), wrap_connector=model.wrap()
        ) as relay,
        trio.open_nursery() as nursery,
    ):
        stream = await place_call(relay.port, AUTH_TOKEN, nursery, call_sid=CALL_SID, caller=CALLER)
        await stream.say(speech_ulaw("Hello, I would like to check on my order, please."))
        await stream_until(stream, lambda: len(stream.received_audio) > 0)
        await stream.silence(600)
        await stream.say(speech_ulaw("Sorry, one more thing."))
        await stream_until(stream, lambda: stream.clears > 0)
        await stream.silence(400)
        await stream.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()

    recording = doc["recording"]
    assert recording["where"] == "local" and recording["complete"] is True
    with wave.open(str(settings.data_dir / "recordings" / recording["name"])) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8_000)
        frames = wav.getnframes()
        samples = array("h", wav.readframes(frames))
    assert abs(frames / 8_000 - doc["duration_seconds"]) <= 0.02  # within a frame
    left, right = samples[0::2], samples[1::2]
    window = 160  # 20 ms at 8 kHz

    def voiced(channel: Any) -> float:
        """Seconds of windows above the line's silence (the simulator's voice is a quiet tone)."""
        levels = [
            sum(map(abs, channel[i : i + window])) / window
            for i in range(0, len(channel) - window + 1, window)
        ]
        return sum(0.02 for level in levels if level > 50)

    assert voiced(left) > 1.0  # the caller's speech
    # The agent's channel holds at most what the caller heard of the model's audio: the first
    # reply was cut at the barge-in, though the model had sent more.
    [truncate] = model.sent_of_type("conversation.item.truncate")
    sent_ms = sum(
        len(base64.b64decode(d["delta"])) / 8
        for d in model.received_of_type(names(Dialect.GA).audio_delta)
    )
    assert 0 < voiced(right) * 1000 < sent_ms
    assert truncate["audio_end_ms"] < sent_ms


async def test_a_phone_line_faster_than_speech_is_billed_at_the_lines_own_rate(
    tmp_path: Path,
) -> None:
    """The audio budget follows the session's format: a u-law line carries 8,000 bytes a
    second.  A caller streaming 40 s of it at four times real time (under MAX_FRAME_RATE) gets
    the burst and twice real time, then the close; under PCM16's six times larger budget all of
    it would have reached the model."""
    model = ModelLog()
    flood = SILENCE * 2_000  # 40 s of u-law
    async with (
        running_relay(phone_settings(tmp_path), wrap_connector=model.wrap()) as relay,
        trio.open_nursery() as nursery,
    ):
        stream = await place_call(relay.port, AUTH_TOKEN, nursery, call_sid=CALL_SID, caller=CALLER)
        started = trio.current_time()
        await stream.say(speech_ulaw("Hello, is anyone there?"))
        await stream_until(stream, lambda: len(stream.received_audio) > 0)
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            await stream.say(flood, pace=FRAME_MS / 4_000)  # 200 frames a second
            await stream.hang_up()
        elapsed = trio.current_time() - started
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    forwarded = sum(
        len(base64.b64decode(event["audio"]))
        for event in model.sent_of_type("input_audio_buffer.append")
    )
    allowed = (BURST_SECONDS + RATE_MULTIPLE * elapsed) * 8_000 + FRAME_BYTES
    assert forwarded <= allowed < len(flood)
    assert doc["disconnect_reason"] == "protocol_error"
