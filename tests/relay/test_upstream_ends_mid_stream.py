"""A model that ends the session while the caller's microphone streams: ``upstream_closed``.

This is how real sessions end (the service's session limit, a server restart): the model sends
a clean close (1000) while every browser is still sending a 20 ms audio frame every 20 ms.  Each
call must be logged as ``upstream_closed`` whichever of the call's tasks notices first — the
upstream reader seeing the close frame, or the client task's next send finding the connection
closed — and never as a crash.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import trio
import trio_websocket

from tests.support.harness import Client, connect, relay_settings, running_relay
from tests.support.upstreams import GREETING, events_for_one_turn, simulator, upstream

CALLS = 10
FRAME = json.dumps(
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(960)).decode()},
    separators=(",", ":"),
)
#: Enough frames that a call is still streaming when the model closes (bounded either way).
MAX_FRAMES = 2_000


async def stream_until_closed(client: Client, pace: float) -> int:
    """Send audio frames every ``pace`` seconds until the relay closes the call; its close code."""
    async with trio.open_nursery() as nursery:
        code: list[int] = []

        async def read() -> None:
            while True:
                try:
                    await client.ws.get_message()
                except trio_websocket.ConnectionClosed as exc:
                    code.append(exc.reason.code if exc.reason else 1006)
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(read)
        for _ in range(MAX_FRAMES):
            try:
                await client.ws.send_message(FRAME)
            except trio_websocket.ConnectionClosed:
                break
            await trio.sleep(pace)  # the browser's pace, not a wait for something to happen
    return code[0] if code else 1006


@pytest.mark.slow
@pytest.mark.parametrize("pace", [0.02, 0.0], ids=["browser-pace", "as-fast-as-possible"])
async def test_model_closing_while_callers_stream_is_upstream_closed(
    tmp_path: Path, pace: float
) -> None:
    async with simulator() as sim_port:
        n = await events_for_one_turn(tmp_path, sim_port)
        url = upstream(sim_port, close_after=str(n), close_code="1000")
        settings = relay_settings(tmp_path / "relay", upstream_url=url)
        codes: list[int] = []
        async with running_relay(settings) as relay:

            async def one_call(index: int) -> None:
                async with connect(relay, customer_id=f"streamer-{index}") as client:
                    await client.type_text(GREETING)
                    await client.send({"type": "response.create"})
                    codes.append(await stream_until_closed(client, pace))

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for index in range(CALLS):
                        nursery.start_soon(one_call, index)
            await relay.wait_calls_ended()
            page = await relay.store.recent(limit=100)
    reasons = sorted(doc["disconnect_reason"] for doc in page.items)
    assert reasons == ["upstream_closed"] * CALLS
    assert codes == [1000] * CALLS
