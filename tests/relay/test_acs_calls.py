"""Phone calls through Azure Communication Services, end to end on loopback.

The relay (hypercorn, the in-process simulator as the model) answers with the real Call
Automation SDK, which talks to the local fake of the service (`tests.support.fake_acs`: it
checks the SDK's HMAC signature).  The fake then acts as the platform: posts the callbacks and
opens the media websocket, both signed with its own JWT keys (the relay's ``ACS_JWKS_URL`` points
at the fake), streams real speech (espeak-ng, PCM 24 kHz), plays the model's audio, talks over
it (the relay must send ``StopAudio``), and hangs up.  The document is the browser call's with
``channel: acs`` and the caller's hashed number as ``customer_id``.

Refusals: a webhook post without its key, a callback or media socket without or with a wrong
token or without ACS's signature; none of them reaches the SDK (the fake sees no request) or
the model (no upstream connection is made).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio_websocket

from app.model.upstream import Upstream, UpstreamConnector
from app.phone.acs_media import STOP_AUDIO
from app.phone.acs_routes import CALLBACKS_PATH, INCOMING_PATH, MEDIA_PATH, AcsMediaEndpoint
from tests.support.app_process import stored_documents
from tests.support.fake_acs import (
    FakeAcs,
    FakeCall,
    acs_environment,
    audio_data,
    audio_metadata,
    fake_acs,
    speech_pcm24k,
)
from tests.support.harness import (
    IO_TIMEOUT,
    DelegatingConnector,
    RunningRelay,
    relay_settings,
    running_relay,
)
from tests.support.polling import eventually

WEBHOOK_KEY = "acs-webhook-key-" + "k" * 32
CALLER_ID_SECRET = "caller-id-secret-" + "s" * 32
CALLER = "+15551234567"
FRAME_BYTES = 960  # 20 ms of PCM16 at 24 kHz


def hashed(number: str) -> str:
    digest = hmac.new(CALLER_ID_SECRET.encode(), number.encode(), hashlib.sha256).hexdigest()
    return f"tel:{digest[:32]}"


@attrs.define(eq=False)
class CountingConnector(DelegatingConnector):
    """The model's side, counting the connections the relay makes to it."""

    connections: int = 0

    async def connect(self, nursery: trio.Nursery) -> Upstream:
        self.connections += 1
        return await self.inner.connect(nursery)


@attrs.define(eq=False)
class PhoneLine:
    """A relay with ACS on, the fake ACS that calls it, and the model's connection count."""

    relay: RunningRelay
    acs: FakeAcs
    model: CountingConnector

    def url(self, path: str, **query: str) -> str:
        suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        return f"http://127.0.0.1:{self.relay.port}{path}{suffix}"

    async def post(self, path: str, body: bytes, **query: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=IO_TIMEOUT) as http:
            return await http.post(self.url(path, **query), content=body)

    async def ring(self, caller: str = CALLER) -> FakeCall:
        """Someone dials the number: Event Grid posts IncomingCall, the relay answers."""
        response = await self.post(INCOMING_PATH, self.acs.incoming_call(caller), key=WEBHOOK_KEY)
        assert response.status_code == 200, response.text
        [call] = [c for c in self.acs.calls.values() if c.state == "connected"][-1:]
        return call


@asynccontextmanager
async def phone_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> AsyncIterator[PhoneLine]:
    model: list[CountingConnector] = []

    def counting(inner: UpstreamConnector) -> UpstreamConnector:
        model.append(CountingConnector(inner))
        return model[0]

    async with fake_acs() as acs:
        acs_environment(monkeypatch, acs)
        settings = relay_settings(
            tmp_path,
            acs_connection_string=acs.connection_string,
            acs_resource_id=acs.resource_id,
            acs_webhook_key=WEBHOOK_KEY,
            acs_jwks_url=acs.jwks_url,
            public_base_url=acs.public_base_url,
            caller_id_secret=CALLER_ID_SECRET,
            # The fake streams the caller's speech faster than real time.
            max_frame_rate=10_000.0,
            **overrides,
        )
        async with running_relay(settings, wrap_connector=counting) as relay:
            acs.relay_port = relay.port
            endpoint = relay.app.sockets[MEDIA_PATH]
            assert isinstance(endpoint, AcsMediaEndpoint)
            endpoint.phone.hangup_grace = 0.5
            yield PhoneLine(relay, acs, model[0])


@attrs.define(eq=False)
class Listener:
    """The platform's ear on the media socket: what the relay sends, as it arrives."""

    ws: trio_websocket.WebSocketConnection
    audio: list[str] = attrs.field(factory=list)
    stops: int = 0
    first_audio: trio.Event = attrs.field(factory=trio.Event)
    stopped: trio.Event = attrs.field(factory=trio.Event)
    closed: trio_websocket.CloseReason | None = None

    async def run(self) -> None:
        try:
            while True:
                text = await self.ws.get_message()
                assert isinstance(text, str)
                message = json.loads(text)
                if message["kind"] == "AudioData":
                    self.audio.append(message["audioData"]["data"])
                    self.first_audio.set()
                else:
                    assert text == STOP_AUDIO
                    self.stops += 1
                    self.stopped.set()
        except trio_websocket.ConnectionClosed as exc:
            self.closed = exc.reason


async def listen(ws: trio_websocket.WebSocketConnection, ms: int) -> None:
    """The caller is silent for ``ms``, in real time: ACS streams the line 20 ms at a time
    while the reply plays."""
    silence = b"\0" * FRAME_BYTES
    for _ in range(ms // 20):
        await ws.send_message(audio_data(silence))
        await trio.sleep(0.02)


async def speak(ws: trio_websocket.WebSocketConnection, text: str, silence_ms: int = 900) -> None:
    """The caller says ``text``, then is silent (ACS streams silence too), in 20 ms frames."""
    pcm = speech_pcm24k(text) + b"\x00\x00" * 24 * silence_ms
    for offset in range(0, len(pcm), FRAME_BYTES):
        await ws.send_message(
            audio_data(pcm[offset : offset + FRAME_BYTES].ljust(FRAME_BYTES, b"\0"))
        )


async def test_a_phone_call_through_acs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with phone_line(tmp_path, monkeypatch) as line:
        acs = line.acs
        call = await line.ring()
        # Answered through the SDK: bidirectional PCM 24 kHz streaming to the relay's media
        # socket, started on answer, and the callback URL, both on the public address with
        # the call's token.
        assert call.media_url.startswith("wss://relay.example.test/api/phone/acs/media?token=")
        assert call.callback_uri.startswith(
            "https://relay.example.test/api/phone/acs/callbacks?token="
        )
        assert call.media["audioFormat"] == "pcm24KMono"
        assert call.media["enableBidirectional"] and call.media["startMediaStreaming"]
        assert (await acs.post_callback(call, "CallConnected")).status_code == 200
        async with acs.open_media(call) as ws, trio.open_nursery() as nursery:
            listener = Listener(ws)
            nursery.start_soon(listener.run)
            await ws.send_message(audio_metadata())
            assert (await acs.post_callback(call, "MediaStreamingStarted")).status_code == 200
            with trio.fail_after(IO_TIMEOUT):
                await speak(ws, "Hello, I would like to know where my order is.")
                await listener.first_audio.wait()
                # The model's reply is playing (ACS plays it in real time): hear some of it,
                # then talk over it.
                await listen(ws, 600)
                await speak(ws, "Wait, one more thing please.")
                await listener.stopped.wait()
            # The caller hangs up: ACS posts CallDisconnected and closes the stream.
            assert (await acs.post_callback(call, "CallDisconnected")).status_code == 200
            await line.relay.wait_calls_ended()
            await ws.aclose()
        [doc] = await line.relay.documents()
    assert doc["channel"] == "acs"
    assert doc["customer_id"] == hashed(CALLER)
    assert CALLER not in json.dumps(doc)
    assert doc["disconnect_reason"] == "user_hangup"
    assert doc["graceful_disconnect"] is True
    senders = [m["sender"] for m in doc["messages"]]
    assert senders[:2] == ["user", "assistant"]
    assert doc["messages"][0]["message"]
    assert doc["messages"][1]["interrupted"] is True  # cut at the heard part
    assert listener.stops >= 1 and listener.audio
    assert call.hung_up_by_relay is None  # the caller hung up: nothing for the relay to end
    assert acs.refused == []


async def test_relay_shutdown_hangs_up_through_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with phone_line(tmp_path, monkeypatch) as line:
        call = await line.ring()
        async with line.acs.open_media(call) as ws, trio.open_nursery() as nursery:
            listener = Listener(ws)
            nursery.start_soon(listener.run)
            await ws.send_message(audio_metadata())
            with trio.fail_after(IO_TIMEOUT):
                await speak(ws, "Hello, where is my order?")
                await listener.first_audio.wait()
            line.relay.stop.set()  # SIGTERM's path: the relay drains its calls
            with trio.fail_after(IO_TIMEOUT):
                await call.ended.wait()
                await line.relay.wait_calls_ended()
    [doc] = await stored_documents(tmp_path)
    assert call.hung_up_by_relay == "terminate"
    assert doc["disconnect_reason"] == "server_shutdown"
    assert doc["channel"] == "acs"


async def test_a_stream_that_drops_is_connection_lost_and_the_relay_hangs_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with phone_line(tmp_path, monkeypatch) as line:
        call = await line.ring()
        async with line.acs.open_media(call) as ws:
            await ws.send_message(audio_metadata())
            await speak(ws, "Hello, where is my order?")
            await eventually(lambda: line.model.connections == 1)
        # No CallDisconnected, and ACS says the call is still up: the stream was lost.
        await line.relay.wait_calls_ended()
        [doc] = await line.relay.documents()
    assert doc["disconnect_reason"] == "connection_lost"
    assert call.hung_up_by_relay == "terminate"  # the caller is not left in silence


async def test_a_hang_up_reported_to_another_worker_is_still_a_hang_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CallDisconnected callback went elsewhere; ACS no longer knows the call."""
    async with phone_line(tmp_path, monkeypatch) as line:
        call = await line.ring()
        async with line.acs.open_media(call) as ws:
            await ws.send_message(audio_metadata())
            await speak(ws, "Hello, where is my order?")
            await eventually(lambda: line.model.connections == 1)
            call.state = "disconnected"
        await line.relay.wait_calls_ended()
        [doc] = await line.relay.documents()
    assert doc["disconnect_reason"] == "user_hangup"
    assert call.hung_up_by_relay is None


async def test_a_full_relay_rejects_the_call_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with phone_line(tmp_path, monkeypatch, max_calls=1) as line:
        call = await line.ring()
        async with line.acs.open_media(call) as ws:
            await ws.send_message(audio_metadata())
            await speak(ws, "Hello, where is my order?")
            await eventually(lambda: line.relay.app.relay.registry.active == 1)
            response = await line.post(
                INCOMING_PATH, line.acs.incoming_call("+15550009999"), key=WEBHOOK_KEY
            )
            assert response.status_code == 200
            assert line.acs.rejected == ["busy"]
            assert len(line.acs.calls) == 1  # the second call was never answered
            await line.acs.post_callback(call, "CallDisconnected")
        await line.relay.wait_calls_ended()


async def test_event_grid_validation_handshake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with phone_line(tmp_path, monkeypatch) as line:
        response = await line.post(INCOMING_PATH, line.acs.validation("c0de"), key=WEBHOOK_KEY)
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "c0de"}


async def test_refused_requests_reach_neither_the_sdk_nor_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with phone_line(tmp_path, monkeypatch) as line:
        acs = line.acs
        incoming = acs.incoming_call(CALLER)
        for query in ({}, {"key": "wrong"}, {"key": ""}):
            response = await line.post(INCOMING_PATH, incoming, **query)
            assert response.status_code == 401
        # Garbage with no key is refused before it is parsed (401, not 400).
        assert (await line.post(INCOMING_PATH, b"{{{")).status_code == 401
        assert acs.sdk_requests == []  # the SDK was never called

        call = await line.ring()
        requests = len(acs.sdk_requests)
        forged = call.callback_uri.rsplit("=", 1)[0] + "=forged"
        for url, token in [
            (line.url(CALLBACKS_PATH), "signed"),  # no token
            (acs.local(forged), "signed"),  # a wrong token
            (None, None),  # the right token, no ACS signature
            (None, acs.token(audience="another-resource")),  # signed for another resource
        ]:
            response = await acs.post_callback(call, "CallDisconnected", url=url, token=token)
            assert response.status_code == 401
        assert caplog.text.count("Refused an ACS callback") == 4

        for url, token in [
            (f"ws://127.0.0.1:{line.relay.port}{MEDIA_PATH}", "signed"),
            (acs.local(call.media_url.rsplit("=", 1)[0] + "=forged"), "signed"),
            (None, None),
            (None, "not-a-jwt"),
        ]:
            async with acs.open_media(call, url=url, token=token) as ws:
                with (
                    trio.fail_after(IO_TIMEOUT),
                    pytest.raises(trio_websocket.ConnectionClosed) as closed,
                ):
                    await ws.send_message(audio_metadata())
                    await ws.get_message()
                assert closed.value.reason is not None and closed.value.reason.code == 1008
        assert caplog.text.count("Refused an ACS media stream") == 4
        assert len(acs.sdk_requests) == requests  # nothing more reached the SDK
        assert line.model.connections == 0  # nor the model
        assert line.relay.app.relay.registry.active == 0
