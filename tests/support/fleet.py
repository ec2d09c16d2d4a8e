"""Many browser stand-ins in one trio run: each holds a call, says its line, then streams audio.

A browser in a call sends a 20 ms PCM16 frame (960 bytes, base64 in ``input_audio_buffer.append``)
every 20 ms and reads whatever the relay sends.  `Caller` does the same over a trio-websocket
connection on a TCP stream it owns (so it can also vanish without a close frame), and records how
the call ended for it.  A `Countdown` lets the test wait until every caller reached a point
("has spoken", "has streamed half a second of audio") without polling.

Used by tests/process/test_fault_matrix.py and bench/soak.py.  The callers' pacing sleeps are
the shape
of the load, not waits for something: a caller that falls behind (a busy machine) sends its next
frame at once and carries on from there, never a burst to catch up, so it stays below the relay's
``MAX_FRAME_RATE`` like a browser would.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio
import trio_websocket

from tests.support.harness import IO_TIMEOUT, Client

FRAME_SECONDS = 0.02
FRAME_SAMPLES = 480  # 20 ms at 24 kHz
# Received messages trio-websocket holds for a caller that is busy sending.
MESSAGE_QUEUE = 64


def _append(samples: list[int]) -> str:
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    audio = base64.b64encode(pcm).decode()
    # "type" first, as the voice client sends it: the relay's audio fast path expects that layout.
    return '{"type":"input_audio_buffer.append","audio":"' + audio + '"}'


#: A frame of silence: the simulator's voice detection hears nothing in it.
SILENCE = _append([0] * FRAME_SAMPLES)
#: A frame of a 440 Hz tone, loud enough for the simulator to hear it as speech.
TONE = _append(
    [round(6000 * math.sin(2 * math.pi * 440 * n / 24000)) for n in range(FRAME_SAMPLES)]
)


@attrs.define(eq=False)
class Countdown:
    """An event that is set once ``tick`` was called ``count`` times."""

    count: int
    reached: trio.Event = attrs.field(factory=trio.Event)

    def __attrs_post_init__(self) -> None:
        if self.count <= 0:
            self.reached.set()

    def tick(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.reached.set()

    async def wait(self) -> None:
        await self.reached.wait()


@asynccontextmanager
async def open_call(port: int, customer_id: str) -> AsyncIterator[Client]:
    """A call to the relay on 127.0.0.1:``port``; the TCP stream is closed on the way out."""
    async with trio.open_nursery() as nursery:
        with trio.fail_after(IO_TIMEOUT):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,
                f"127.0.0.1:{port}",
                f"/api/realtime?customer_id={customer_id}",
                message_queue_size=MESSAGE_QUEUE,
            )
        try:
            yield Client(ws, stream)
        finally:
            await stream.aclose()
            nursery.cancel_scope.cancel()


@attrs.define(eq=False)
class AudioPattern:
    """What a caller streams: ``speech_frames`` of tone, then silence, every ``cycle_frames``.

    ``speech_frames=0`` streams only silence (the call stays quiet: no turns, no replies).
    """

    cycle_frames: int = 1
    speech_frames: int = 0

    def frame(self, index: int) -> str:
        return TONE if index % self.cycle_frames < self.speech_frames else SILENCE


QUIET = AudioPattern()


@attrs.define(eq=False)
class Caller:
    """One browser stand-in: connect, say ``line`` (a typed turn), then stream and listen.

    ``close_code`` is the code of the relay's close frame (1006 when the connection ended
    without one), or None while the call lasts or when the caller left by itself.
    """

    customer_id: str
    line: str
    frames_sent: int = 0
    received: int = 0
    close_code: int | None = None

    async def talk(self, client: Client, *, wait_reply: bool = True) -> None:
        """Say ``line``: with the model's whole reply, or only until the relay passed it on."""
        if wait_reply:
            await client.say(self.line)
            return
        await client.type_text(self.line)
        # The model echoes the item: the relay has observed and forwarded the line by then.
        await client.receive_until("conversation.item.added")

    async def stream_until_closed(
        self,
        client: Client,
        *,
        pattern: AudioPattern = QUIET,
        streaming: Countdown | None = None,
        threshold: int = 25,
        hang_up: trio.Event | None = None,
    ) -> None:
        """Stream audio and read every event until the call ends.

        ``streaming`` is ticked once this caller has sent ``threshold`` frames.  The relay ends
        the call, or this caller does (close 1000) once ``hang_up`` is set.
        """
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._stream, client, pattern, streaming, threshold)
            if hang_up is not None:
                nursery.start_soon(self._hang_up_on, client, hang_up)
            await self._read_until_closed(client)
            nursery.cancel_scope.cancel()

    async def _hang_up_on(self, client: Client, hang_up: trio.Event) -> None:
        await hang_up.wait()
        await client.hang_up(1000)

    async def _stream(
        self, client: Client, pattern: AudioPattern, streaming: Countdown | None, threshold: int
    ) -> None:
        next_at = trio.current_time()
        try:
            while True:
                await client.ws.send_message(pattern.frame(self.frames_sent))
                self.frames_sent += 1
                if streaming is not None and self.frames_sent == threshold:
                    streaming.tick()
                next_at = max(next_at + FRAME_SECONDS, trio.current_time())
                await trio.sleep_until(next_at)
        except trio_websocket.ConnectionClosed:
            return  # the reader reports how the call ended

    async def _read_until_closed(self, client: Client) -> None:
        try:
            while True:
                await client.ws.get_message()
                self.received += 1
        except trio_websocket.ConnectionClosed as exc:
            self.close_code = exc.reason.code if exc.reason is not None else None
