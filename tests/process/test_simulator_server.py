"""The standalone simulator: websocket server on loopback port 0, and ``python -m app.simulator``.

Real sockets run on the real clock (a mock clock would jump to the ``fail_after`` deadline while
waiting for the network), so these tests ask for fast pacing in the URL (``speed=1000``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket_url,
    wrap_client_stream,
)

from app.simulator import serve
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
TIMEOUT = 10


@asynccontextmanager
async def _client(port: int, path: str) -> AsyncIterator[WebSocketConnection]:
    """A websocket client that owns its TCP stream.

    trio-websocket 0.12.2's ``open_websocket_url`` leaves its socket open (a ``ResourceWarning``,
    an error here) when the server closes first or rejects the handshake: the client waits for
    the server's TCP close and never closes its own end.  Owning the stream, we close it.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(nursery, stream, f"127.0.0.1:{port}", path)
            try:
                yield ws
            finally:
                with trio.move_on_after(TIMEOUT, shield=True):
                    await ws.aclose()
    finally:
        await stream.aclose()


async def _until(ws: WebSocketConnection, event_type: str) -> list[dict[str, Any]]:
    events = []
    while True:
        event = json.loads(await ws.get_message())
        events.append(event)
        if event["type"] == event_type:
            return events


async def _text_turn(ws: WebSocketConnection) -> list[dict[str, Any]]:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    await ws.send_message(json.dumps({"type": "conversation.item.create", "item": item}))
    await ws.send_message(json.dumps({"type": "response.create"}))
    return await _until(ws, "response.done")


@pytest.mark.parametrize(
    ("path", "audio_delta"),
    [
        ("/v1/realtime?model=gpt-realtime&speed=1000", "response.output_audio.delta"),
        (
            "/openai/realtime?api-version=2025-04-01-preview&deployment=d&speed=1000",
            "response.audio.delta",
        ),
    ],
)
async def test_server_runs_a_text_turn_in_the_dialect_of_the_url(
    path: str, audio_delta: str
) -> None:
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve, "127.0.0.1", 0)
            async with open_websocket_url(f"ws://127.0.0.1:{port}{path}") as ws:
                created = json.loads(await ws.get_message())
                events = await _text_turn(ws)
            nursery.cancel_scope.cancel()
    assert created["type"] == "session.created"
    assert audio_delta in [event["type"] for event in events]
    assert events[-1]["response"]["status"] == "completed"


@pytest.mark.parametrize(("query", "status"), [("refuse=1", 503), ("close_after=soon", 400)])
async def test_server_rejects_the_handshake(query: str, status: int) -> None:
    rejected = pytest.RaisesExc(ConnectionRejected, check=lambda exc: exc.status_code == status)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve, "127.0.0.1", 0)
            with pytest.RaisesGroup(rejected, flatten_subgroups=True, allow_unwrapped=True):
                async with _client(port, f"/v1/realtime?{query}"):
                    pass  # pragma: no cover - the handshake fails
            nursery.cancel_scope.cancel()


async def test_server_closes_1011_on_a_simulated_failure() -> None:
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve, "127.0.0.1", 0)
            async with _client(port, "/v1/realtime?close_after=1") as ws:
                created = json.loads(await ws.get_message())
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
            nursery.cancel_scope.cancel()
    assert created["type"] == "session.created"
    assert closed.value.reason is not None
    assert (closed.value.reason.code, closed.value.reason.reason) == (1011, "simulated failure")


@pytest.mark.slow
async def test_cli_serves_until_sigint_then_exits_0() -> None:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "app.simulator", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        with trio.fail_after(TIMEOUT):
            line = b""
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                assert chunk, "the simulator exited before listening"
                line += chunk
            prefix = "simulator listening on ws://127.0.0.1:"
            assert line.decode().startswith(prefix)
            url = line.decode().strip().replace("simulator listening on ", "") + "/v1/realtime"
            async with open_websocket_url(url) as ws:
                assert json.loads(await ws.get_message())["type"] == "session.created"
            process.send_signal(signal.SIGINT)
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(TIMEOUT, shield=True):
                await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()
