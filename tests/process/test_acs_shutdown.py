"""50 simultaneous ACS calls in a real ``python -m app``, and a SIGTERM in the middle of them.

The relay answers each call with the real Call Automation SDK against the local fake of the
service (`tests.support.fake_acs`, trusted by the relay process through ``REQUESTS_CA_BUNDLE`` and
``SSL_CERT_FILE``); every caller has spoken and hears the agent's reply when the signal comes.
The relay closes each media stream (1001) and hangs each call up through the SDK, and writes one
``server_shutdown`` document per call before it exits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
from pathlib import Path

import httpx
import pytest
import trio
import trio_websocket

from app.phone.acs_routes import INCOMING_PATH
from tests.support.app_process import stored_documents
from tests.support.fake_acs import FakeAcs, audio_data, audio_metadata, fake_acs, speech_pcm24k
from tests.support.relay_process import relay_process

pytestmark = pytest.mark.slow

CALLS = 50
WEBHOOK_KEY = "acs-webhook-key-for-tests-0123456789"
CALLER_ID_SECRET = "caller-id-secret-for-tests-0123456789"
FRAME_BYTES = 960  # 20 ms of PCM16 at 24 kHz
#: Generous: 50 callers streaming in real time share two cores with the relay.
ALL_TALKING_TIMEOUT = 60.0


def number(n: int) -> str:
    return f"+1555000{n:04d}"


class Caller:
    """One caller's side of the media stream: speaks, then keeps the line open (ACS streams
    silence every 20 ms) until the relay closes it."""

    def __init__(self, acs: FakeAcs, n: int) -> None:
        self.acs, self.n = acs, n
        self.heard_audio = trio.Event()
        self.close_code: int | None = None

    async def run(self, relay_port: int, talking: trio.Event, everyone: list[Caller]) -> None:
        correlation = f"corr-{self.n}"
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(
                f"http://127.0.0.1:{relay_port}{INCOMING_PATH}?key={WEBHOOK_KEY}",
                content=self.acs.incoming_call(number(self.n), correlation_id=correlation),
            )
        assert response.status_code == 200, response.text
        [call] = [c for c in self.acs.calls.values() if c.correlation_id == correlation]
        async with self.acs.open_media(call) as ws, trio.open_nursery() as nursery:
            nursery.start_soon(self._listen, ws, nursery.cancel_scope)
            await ws.send_message(audio_metadata())
            pcm = speech_pcm24k("Hello, this is a phone call.") + bytes(FRAME_BYTES * 40)
            try:
                for offset in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
                    await ws.send_message(audio_data(pcm[offset : offset + FRAME_BYTES]))
                silence = audio_data(bytes(FRAME_BYTES))
                while True:
                    await ws.send_message(silence)
                    if self.heard_audio.is_set() and all(c.heard_audio.is_set() for c in everyone):
                        talking.set()
                    await trio.sleep(0.02)  # the line's own pace
            except trio_websocket.ConnectionClosed:
                pass

    async def _listen(self, ws: trio_websocket.WebSocketConnection, done: trio.CancelScope) -> None:
        try:
            while True:
                message = json.loads(await ws.get_message())
                if message["kind"] == "AudioData":
                    self.heard_audio.set()
        except trio_websocket.ConnectionClosed as exc:
            self.close_code = exc.reason.code if exc.reason else None
            done.cancel()


async def test_sigterm_hangs_up_fifty_acs_calls_through_the_sdk(tmp_path: Path) -> None:
    async with fake_acs() as acs:
        env = {
            "REALTIME_UPSTREAM_URL": "simulator",
            "ACS_CONNECTION_STRING": acs.connection_string,
            "ACS_RESOURCE_ID": acs.resource_id,
            "ACS_WEBHOOK_KEY": WEBHOOK_KEY,
            "ACS_JWKS_URL": acs.jwks_url,
            "PUBLIC_BASE_URL": acs.public_base_url,
            "CALLER_ID_SECRET": CALLER_ID_SECRET,
            "REQUESTS_CA_BUNDLE": acs.ca_file,
            "SSL_CERT_FILE": acs.ca_file,
            "MAX_CALLS": str(CALLS),
            "SHUTDOWN_GRACE": "25",
        }
        callers = [Caller(acs, n) for n in range(CALLS)]
        talking = trio.Event()
        async with relay_process(tmp_path, **env) as relay, trio.open_nursery() as nursery:
            acs.relay_port = relay.port
            for caller in callers:
                nursery.start_soon(caller.run, relay.port, talking, callers)
            with trio.fail_after(ALL_TALKING_TIMEOUT):
                await talking.wait()
            relay.process.send_signal(signal.SIGTERM)
            assert await relay.wait_exit() == 0, relay.log.tail()
            with trio.fail_after(10):
                for call in acs.calls.values():
                    await call.ended.wait()

    assert [caller.close_code for caller in callers] == [1001] * CALLS
    assert len(acs.calls) == CALLS
    assert {call.hung_up_by_relay for call in acs.calls.values()} == {"terminate"}
    assert acs.refused == []
    documents = await stored_documents(tmp_path)
    assert len(documents) == CALLS
    key = CALLER_ID_SECRET.encode()
    expected = {
        "tel:" + hmac.new(key, number(n).encode(), hashlib.sha256).hexdigest()[:32]
        for n in range(CALLS)
    }
    assert {doc["customer_id"] for doc in documents} == expected
    for doc in documents:
        assert doc["disconnect_reason"] == "server_shutdown"
        assert doc["channel"] == "acs"
        assert doc["messages"]
