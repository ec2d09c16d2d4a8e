"""A hostile caller cannot grow the relay process: megabyte frames, before and after the model
answers, measured as the real process's resident memory (VmRSS).

Two calls, as in the issue: before the fix, 256 queued frames of up to 1 MiB each per call took
the process from 60 MB to 595 MB, and it stayed there.  The model here is a listener that accepts
TCP connections and never answers the websocket handshake, so a frame a caller sends before the
relay's connect timeout waits in the pre-connect queue if the audio budget lets it through (and
the queue is bounded in bytes besides); then a second phase floods two calls with 600 KB audio
frames (refused, then closed).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import trio
import trio_websocket

from tests.support.relay_process import relay_process

pytestmark = pytest.mark.slow

#: Growth of the relay's resident memory the floods may cause, in all.
MAX_GROWTH_MB = 60
FLOOD_TIMEOUT = 20.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def silent_model(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Accept connections and never answer: the relay waits for its connect timeout."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")

    async def hold(stream: trio.SocketStream) -> None:
        async with stream:
            await trio.sleep_forever()

    async with listeners[0]:
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(hold, listeners)


async def flood(port: int, frame: str, count: int) -> int:
    """Send ``count`` copies of ``frame`` on one call (as many as the relay takes within
    ``FLOOD_TIMEOUT``); how many were sent."""
    sent = 0
    with trio.move_on_after(FLOOD_TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream, trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, f"127.0.0.1:{port}", "/api/realtime?customer_id=flooder"
            )
            for _ in range(count):
                try:
                    await ws.send_message(frame)
                except trio_websocket.ConnectionClosed:
                    break
                sent += 1
            nursery.cancel_scope.cancel()
    return sent


async def test_megabyte_floods_leave_the_process_small(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        model_port = await nursery.start(silent_model)
        upstream = f"ws://127.0.0.1:{model_port}/v1/realtime?model=silent"
        async with relay_process(tmp_path, REALTIME_UPSTREAM_URL=upstream) as relay:
            before = rss_mb(relay.pid)
            # Phase 1: two calls send 2 s audio frames (the largest allowed) before the model
            # answers: the budget takes a few, the queue holds them, the rest are refused.
            audio = base64.b64encode(bytes(96_000)).decode()
            queued = json.dumps({"type": "input_audio_buffer.append", "audio": audio})
            async with trio.open_nursery() as callers:
                for _ in range(2):
                    callers.start_soon(flood, relay.port, queued, 256)
            after_queue = rss_mb(relay.pid)
            # Phase 2: two calls send 600 KB audio frames (refused, then closed).
            audio = base64.b64encode(bytes(600_000)).decode()
            loud = json.dumps({"type": "input_audio_buffer.append", "audio": audio})
            async with trio.open_nursery() as callers:
                for _ in range(2):
                    callers.start_soon(flood, relay.port, loud, 150)
            after_audio = rss_mb(relay.pid)
            print(
                f"relay RSS: {before:.0f} MB at start, {after_queue:.0f} MB after the queued "
                f"floods, {after_audio:.0f} MB after the audio floods"
            )
            assert after_queue - before < MAX_GROWTH_MB
            assert after_audio - before < MAX_GROWTH_MB
        nursery.cancel_scope.cancel()
