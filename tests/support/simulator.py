"""Support for the simulator tests (no tests here): a peer driving ``run_session`` in memory.

Shared by the simulator's test modules (imported by name: the tests directory is on ``sys.path``
under pytest's default ``prepend`` import mode).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio.testing

from app.rules.dialect import Dialect
from app.simulator import SimulatedClose, SimulatorOptions, run_session
from app.simulator import audio as sim_audio

#: Frame size browsers send: 20 ms of PCM16 at 24 kHz.
FRAME_MS = 20
#: Bound on every peer test, in (virtual, under ``autojump_clock``) seconds.
TIMEOUT = 120


@attrs.define(eq=False)
class Peer:
    """The client side of one simulated session."""

    to_sim: trio.MemorySendChannel[str]
    from_sim: trio.MemoryReceiveChannel[str]
    ended: trio.Event = attrs.Factory(trio.Event)
    closed: SimulatedClose | None = None
    raw: list[str] = attrs.Factory(list)

    async def send(self, event_type: str, **fields: Any) -> None:
        await self.to_sim.send(json.dumps({"type": event_type, **fields}))

    async def send_raw(self, text: str) -> None:
        await self.to_sim.send(text)

    async def next(self) -> dict[str, Any]:
        text = await self.from_sim.receive()
        self.raw.append(text)
        event: dict[str, Any] = json.loads(text)
        return event

    async def until(self, event_type: str) -> list[dict[str, Any]]:
        """Events up to and including the first of ``event_type``."""
        events = []
        while True:
            event = await self.next()
            events.append(event)
            if event["type"] == event_type:
                return events

    async def rest(self) -> list[dict[str, Any]]:
        """Every event until the session has ended."""
        events = []
        async for text in self.from_sim:
            self.raw.append(text)
            events.append(json.loads(text))
        return events

    async def quiet(self) -> list[dict[str, Any]]:
        """Events sent once everything has settled (none expected, usually)."""
        await trio.testing.wait_all_tasks_blocked()
        events = []
        while True:
            try:
                events.append(json.loads(self.from_sim.receive_nowait()))
            except trio.WouldBlock:
                return events

    async def say(self, text: str) -> None:
        """Add a typed user message (no response by itself)."""
        await self.send(
            "conversation.item.create",
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        )

    async def speak(self, speech_ms: int, silence_ms: int, *, amplitude: int = 8000) -> None:
        """Append ``speech_ms`` of tone then ``silence_ms`` of silence, in 20 ms frames."""
        voiced = sim_audio.encode(sim_audio.tone(FRAME_MS, amplitude=amplitude))
        quiet = sim_audio.encode(sim_audio.silence(FRAME_MS))
        for frame in [voiced] * (speech_ms // FRAME_MS) + [quiet] * (silence_ms // FRAME_MS):
            await self.send("input_audio_buffer.append", audio=frame)


def transcription_on(dialect: Dialect) -> dict[str, Any]:
    """A ``session`` update switching input transcription on, in ``dialect``'s shape."""
    if dialect is Dialect.GA:
        return {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
    return {"input_audio_transcription": {"model": "whisper-1"}}


async def _run(
    peer: Peer,
    receive: trio.MemoryReceiveChannel[str],
    send: trio.MemorySendChannel[str],
    options: SimulatorOptions,
) -> None:
    try:
        await run_session(receive.receive, send.send, options)
    except SimulatedClose as close:
        peer.closed = close
    finally:
        send.close()
        peer.ended.set()


@asynccontextmanager
async def simulator(options: SimulatorOptions | None = None) -> AsyncIterator[Peer]:
    """Run a session for the body of the ``async with``; the peer hangs up at the end."""
    to_sim, sim_in = trio.open_memory_channel[str](256)
    sim_out, from_sim = trio.open_memory_channel[str](4096)
    peer = Peer(to_sim, from_sim)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_run, peer, sim_in, sim_out, options or SimulatorOptions())
            yield peer
            to_sim.close()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def first(events: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    return next(event for event in events if event["type"] == event_type)


def index(events: list[dict[str, Any]], event_type: str) -> int:
    return types(events).index(event_type)
