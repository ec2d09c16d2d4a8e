"""50 simultaneous Twilio calls in a real ``python -m app``, and a SIGTERM in the middle of them.

Every caller is mid-conversation (it spoke, the agent's reply is playing) when the signal comes;
the relay hangs each one up through Twilio (closing the stream, close 1001) and writes one
``server_shutdown`` document per call before it exits.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import signal
from pathlib import Path

import pytest
import trio
import trio_websocket

from tests.support.app_process import stored_documents
from tests.support.relay_process import relay_process
from tests.support.twilio import PUBLIC_BASE_URL, TwilioStream, place_call, speech_ulaw

pytestmark = pytest.mark.slow

CALLS = 50
AUTH_TOKEN = "twilio-auth-token-for-tests-0123"
CALLER_ID_SECRET = "caller-id-secret-for-tests-0123456789"
#: Generous: 50 callers streaming in real time share two cores with the relay.
ALL_TALKING_TIMEOUT = 60.0


def number(n: int) -> str:
    return f"+1555000{n:04d}"


async def test_sigterm_hangs_up_fifty_phone_calls_and_logs_each(tmp_path: Path) -> None:
    env = {
        "REALTIME_UPSTREAM_URL": "simulator",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "CALLER_ID_SECRET": CALLER_ID_SECRET,
        "MAX_CALLS": str(CALLS),
        "SHUTDOWN_GRACE": "25",
    }
    speech = speech_ulaw("Hello, this is a phone call.")
    streams: list[TwilioStream] = []
    all_talking = trio.Event()

    async with relay_process(tmp_path, **env) as relay, trio.open_nursery() as nursery:

        async def caller(n: int) -> None:
            stream = await place_call(
                relay.port, AUTH_TOKEN, nursery, call_sid=f"CA{n:032d}", caller=number(n)
            )
            streams.append(stream)
            with contextlib.suppress(trio_websocket.ConnectionClosed):
                await stream.say(speech)
                while not stream.received_audio:  # the agent's reply starts playing
                    await stream.silence(20)
                if sum(1 for s in streams if s.received_audio) == CALLS:
                    all_talking.set()
                while not stream.closed.is_set():  # Twilio streams until the call ends
                    await stream.silence(20)

        for n in range(CALLS):
            nursery.start_soon(caller, n)
        with trio.fail_after(ALL_TALKING_TIMEOUT):
            await all_talking.wait()
        relay.process.send_signal(signal.SIGTERM)
        assert await relay.wait_exit() == 0, relay.log.tail()
        with trio.fail_after(10):
            for stream in streams:
                await stream.closed.wait()

    assert [stream.close_code for stream in streams] == [1001] * CALLS
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
        assert doc["channel"] == "twilio"
        assert doc["messages"]
