"""Upstream failures end the call with the right reason, tell the browser, and keep the log.

The upstream is the standalone simulator served over trio-websocket on 127.0.0.1 port 0 (a real
socket, as a real model would be); its fault switches come in the URL the relay dials.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trio_websocket

from app.model.upstream import Upstream
from tests.support.harness import (
    Client,
    DelegatingConnector,
    connect,
    relay_settings,
    running_relay,
)
from tests.support.upstreams import GREETING, events_for_one_turn, simulator, upstream


async def end_of_call(client: Client) -> tuple[list[dict[str, Any]], int]:
    """Every event until the relay closes the call, and the close code."""
    events: list[dict[str, Any]] = []
    while True:
        try:
            events.append(await client.receive())
        except trio_websocket.ConnectionClosed as exc:
            assert exc.reason is not None
            return events, exc.reason.code


async def test_upstream_refusing_is_upstream_unavailable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with simulator() as sim_port:
        settings = relay_settings(tmp_path, upstream_url=upstream(sim_port, refuse="1"))
        async with running_relay(settings) as relay:
            async with connect(relay, customer_id="refused") as client:
                # Sent before the upstream answered: queued, and still part of the record.
                await client.type_text(GREETING)
                events, code = await end_of_call(client)
            await relay.wait_calls_ended()
            [doc] = await relay.documents()
    assert code == 1011
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[-1]["error"]["code"] == "upstream_unavailable"
    # The caller hears that the model is unavailable; where and why is for the operator's log.
    assert "HTTP 503" not in errors[-1]["error"]["message"]
    assert "127.0.0.1" not in errors[-1]["error"]["message"]
    assert [r for r in caplog.records if "HTTP 503" in r.getMessage()]
    assert doc["disconnect_reason"] == "upstream_unavailable"
    assert doc["messages"] == [{"sender": "user", "message": GREETING, "interrupted": False}]


async def test_upstream_unreachable_is_upstream_unavailable(tmp_path: Path) -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: connection refused
    settings = relay_settings(tmp_path, upstream_url=upstream(port))
    async with running_relay(settings) as relay:
        async with connect(relay) as client:
            events, code = await end_of_call(client)
        await relay.wait_calls_ended()
        assert await relay.documents() == []  # nothing was said: no document
    assert code == 1011
    assert events[-1]["error"]["code"] == "upstream_unavailable"


async def test_upstream_closing_cleanly_is_upstream_closed(tmp_path: Path) -> None:
    async with simulator() as sim_port:
        n = await events_for_one_turn(tmp_path, sim_port)
        url = upstream(sim_port, close_after=str(n), close_code="1000")
        async with running_relay(relay_settings(tmp_path, upstream_url=url)) as relay:
            async with connect(relay) as client:
                turn = await client.say(GREETING)
                assert turn[-1]["type"] == "response.done"
                _, code = await end_of_call(client)
            await relay.wait_calls_ended()
            [doc] = await relay.documents()
    assert code == 1000
    assert doc["disconnect_reason"] == "upstream_closed"
    assert [m["sender"] for m in doc["messages"]] == ["user", "assistant"]


async def test_upstream_failing_is_upstream_error(tmp_path: Path) -> None:
    async with simulator() as sim_port:
        n = await events_for_one_turn(tmp_path, sim_port)
        url = upstream(sim_port, error_after=str(n))
        async with running_relay(relay_settings(tmp_path, upstream_url=url)) as relay:
            async with connect(relay) as client:
                await client.say(GREETING)
                events, code = await end_of_call(client)
            await relay.wait_calls_ended()
            [doc] = await relay.documents()
    assert code == 1011
    # The model's own error event is relayed, then the relay's.
    assert [e["error"]["code"] for e in events if e["type"] == "error"][-1] == "upstream_error"
    assert doc["disconnect_reason"] == "upstream_error"
    assert [m["sender"] for m in doc["messages"]] == ["user", "assistant"]


@attrs.define(eq=False)
class SlowConnector(DelegatingConnector):
    """The real connector, but connecting only once ``gate`` is set."""

    gate: trio.Event = attrs.field(factory=trio.Event)

    async def connect(self, nursery: trio.Nursery) -> Upstream:
        await self.gate.wait()
        return await self.inner.connect(nursery)


async def test_frames_sent_before_the_upstream_answers_are_not_lost(tmp_path: Path) -> None:
    gate = trio.Event()
    async with simulator() as sim_port:
        settings = relay_settings(tmp_path, upstream_url=upstream(sim_port))
        gated = partial(SlowConnector, gate=gate)
        async with running_relay(settings, wrap_connector=gated) as relay:
            async with connect(relay) as client:
                await client.type_text(GREETING)
                await client.send({"type": "response.create"})
                await trio.testing.wait_all_tasks_blocked()
                gate.set()
                events = await client.receive_until("response.done")
                await client.hang_up()
            await relay.wait_calls_ended()
            [doc] = await relay.documents()
    assert events[-1]["response"]["status"] == "completed"
    assert [m["sender"] for m in doc["messages"]] == ["user", "assistant"]


async def test_model_process_killed_mid_call_is_upstream_error(tmp_path: Path) -> None:
    """kill -9 of the model's process: no close frame, just a dead TCP connection."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "app.simulator", "--port", "0"],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        with trio.fail_after(20):
            line = b""
            while b"\n" not in line:
                chunk = await process.stdout.receive_some(1024)
                assert chunk, "the simulator exited"
                line += chunk
        port = int(line.split(b"\n")[0].rsplit(b":", 1)[1])
        async with running_relay(relay_settings(tmp_path, upstream_url=upstream(port))) as relay:
            async with connect(relay, customer_id="killed") as client:
                await client.say(GREETING)
                process.kill()
                events, code = await end_of_call(client)
            await relay.wait_calls_ended()
            [doc] = await relay.documents()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(10):
            await process.wait()
    assert code == 1011
    assert events[-1]["error"]["code"] == "upstream_error"
    assert doc["disconnect_reason"] == "upstream_error"
    assert [m["sender"] for m in doc["messages"]] == ["user", "assistant"]


async def test_an_upstream_url_without_a_path_dials_the_root(tmp_path: Path) -> None:
    """``ws://host:port`` (no path) is a request for ``/``, not an empty request target."""
    async with simulator() as sim_port:
        settings = relay_settings(tmp_path, upstream_url=f"ws://127.0.0.1:{sim_port}")
        async with running_relay(settings) as relay:
            async with connect(relay) as client:
                turn = await client.say(GREETING)
                await client.hang_up()
            await relay.wait_calls_ended()
            [doc] = await relay.documents()
    assert turn[-1]["response"]["status"] == "completed"
    assert doc["disconnect_reason"] == "user_hangup"
