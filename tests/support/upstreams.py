"""The built-in simulator as a separate upstream on 127.0.0.1 for relay tests, the URL that points
the relay at it (with fault switches in the query), and a healthy turn to measure against."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from app.simulator.server import serve as serve_simulator
from tests.support.harness import (
    connect,
    relay_settings,
    running_relay,
)

GREETING = "Hello, can you hear me?"


@asynccontextmanager
async def simulator() -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(serve_simulator, "127.0.0.1", 0)
        yield port
        nursery.cancel_scope.cancel()


def upstream(port: int, **query: str) -> str:
    params = "".join(f"&{key}={value}" for key, value in query.items())
    return f"ws://127.0.0.1:{port}/v1/realtime?model=sim{params}"


async def events_for_one_turn(tmp_path: Path, sim_port: int) -> int:
    """How many server events a healthy session sends up to the end of one turn."""
    settings = relay_settings(tmp_path / "probe", upstream_url=upstream(sim_port))
    async with running_relay(settings) as relay, connect(relay) as client:
        first = await client.receive()
        assert first["type"] == "session.created"
        turn = await client.say(GREETING)
        await client.hang_up()
    return 1 + len(turn)
