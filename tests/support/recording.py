"""What the recording tests share: real speech, a caller that talks at a browser's pace and
barges in like one, and measurements made on the recorded audio itself.

The caller sends 20 ms frames of PCM16 24 kHz every 20 ms (real time: the recording places the
caller's audio where it arrived), "plays" the agent's audio from its first delta at real time,
and when the model reports the caller's speech while a reply is still playing, sends the
browser's ``conversation.item.truncate`` with the milliseconds it played.  Every time it notes
is on the test's trio clock, relative to the moment the call was connected.
"""

from __future__ import annotations

import io
import json
import shutil
import wave
from array import array
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio_websocket

from app.recording.sinks import CONTAINER
from tests.support.azurite import Azurite
from tests.support.harness import Client

RATE = 24_000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2
AUDIO_DELTA = "response.output_audio.delta"
TOOL_TIMEOUT = 30.0
#: Mean absolute amplitude above which a 20 ms window holds sound (the simulator's reply tone
#: is about 190, speech several thousand, the silence sent is 0).
VOICED = 50


def require_speech_tools() -> None:
    """Fail (not skip) without espeak-ng and sox: scripts/install-chromium installs them."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/install-chromium")


async def speech(directory: Path, text: str) -> bytes:
    """``text`` spoken by espeak-ng as PCM16 mono 24 kHz, whole frames."""
    require_speech_tools()
    raw = directory / f"espeak-{abs(hash(text))}.wav"
    pcm = raw.with_suffix(".raw")
    with trio.fail_after(TOOL_TIMEOUT):
        await trio.run_process(["espeak-ng", "-w", str(raw), text])
        convert = ["-r", str(RATE), "-b", "16", "-c", "1", "-e", "signed-integer", "-t", "raw"]
        await trio.run_process(["sox", str(raw), *convert, str(pcm)])
    data = pcm.read_bytes()
    return data[: len(data) - len(data) % FRAME_BYTES]


def append(pcm: bytes) -> str:
    """A browser's ``input_audio_buffer.append`` in the usual layout."""
    import base64

    return json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
    )


@attrs.define(eq=False)
class Caller:
    """A browser at a browser's pace, over a harness `Client`."""

    client: Client
    t0: float = attrs.field(factory=trio.current_time)
    #: Agent items: when their first delta arrived, and how much audio came (ms).
    first_delta: dict[str, float] = attrs.field(factory=dict)
    audio_ms: dict[str, float] = attrs.field(factory=dict)
    #: (item id, audio_end_ms, when) of each truncate sent.
    truncates: list[tuple[str, int, float]] = attrs.field(factory=list)
    #: (start, end) of each stretch of speech sent.
    speech: list[tuple[float, float]] = attrs.field(factory=list)
    frames_sent: int = 0
    frames_received: int = 0
    _pending: list[dict[str, Any]] = attrs.field(factory=list)
    _next_frame: float = attrs.field(default=0.0)

    def now(self) -> float:
        return trio.current_time() - self.t0

    def playing(self) -> str | None:
        """The agent item the caller hears now, if any."""
        now = self.now()
        for item, start in self.first_delta.items():
            if start <= now < start + self.audio_ms[item] / 1000:
                return item
        return None

    async def listen(self) -> None:
        """Read events until the relay closes; barge in like a browser."""
        try:
            while True:
                message = await self.client.ws.get_message()
                self.frames_received += 1
                event = json.loads(message)
                kind = event.get("type")
                if kind == AUDIO_DELTA:
                    item = event["item_id"]
                    self.first_delta.setdefault(item, self.now())
                    ms = len(event["delta"]) * 3 / 4 / 2 / RATE * 1000
                    self.audio_ms[item] = self.audio_ms.get(item, 0.0) + ms
                elif kind == "input_audio_buffer.speech_started":
                    item = self.playing()
                    if item is not None:
                        played = round((self.now() - self.first_delta[item]) * 1000)
                        self._pending.append(
                            {"type": "conversation.item.truncate", "item_id": item,
                             "content_index": 0, "audio_end_ms": played}
                        )  # fmt: skip
                        self.truncates.append((item, played, self.now()))
        except trio_websocket.ConnectionClosed:
            return

    async def send(self, pcm: bytes, *, speaking: bool) -> None:
        """``pcm`` in 20 ms frames, one every 20 ms (on schedule, not after each send)."""
        start = self.now()
        for offset in range(0, len(pcm), FRAME_BYTES):
            await self._frame(pcm[offset : offset + FRAME_BYTES])
        if speaking:
            self.speech.append((start, self.now()))

    async def silence_until(self, done: Any, limit: float) -> None:
        """Silent frames until ``done()`` is true (at most ``limit`` seconds)."""
        with trio.fail_after(limit):
            while not done():
                await self._frame(bytes(FRAME_BYTES))

    async def _frame(self, pcm: bytes) -> None:
        while self._pending:
            await self.client.send(self._pending.pop(0))
        if not self._next_frame:
            self._next_frame = trio.current_time()
        self._next_frame += FRAME_MS / 1000
        await self.client.ws.send_message(append(pcm))
        self.frames_sent += 1
        await trio.sleep_until(self._next_frame)  # a microphone's pace, not a wait for an event


def read_wav(data: bytes) -> tuple[wave._wave_params, list[int], list[int]]:
    """The WAV's parameters, and its left and right channels as samples."""
    with wave.open(io.BytesIO(data)) as reader:
        params = reader.getparams()
        samples = array("h", reader.readframes(params.nframes))
    return params, list(samples[0::2]), list(samples[1::2])


def energy(channel: list[int], rate: int = RATE, window_ms: int = FRAME_MS) -> list[float]:
    """Mean absolute amplitude per window."""
    size = rate * window_ms // 1000
    return [
        sum(map(abs, channel[i : i + size])) / size for i in range(0, len(channel) - size + 1, size)
    ]


def voiced_runs(levels: list[float], window_ms: int = FRAME_MS) -> list[tuple[float, float]]:
    """(start, end) in seconds of each run of windows above `VOICED`."""
    runs: list[tuple[float, float]] = []
    for index, level in enumerate(levels):
        start, end = index * window_ms / 1000, (index + 1) * window_ms / 1000
        if level <= VOICED:
            continue
        if runs and abs(runs[-1][1] - start) < 1e-9:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def tone(seconds: float) -> bytes:
    """A tone too quiet for the simulator's voice detection, loud enough to measure."""
    return array("h", [200, -200] * int(seconds * 12_000)).tobytes()


def blob_service(server: Azurite) -> Any:
    """An azure-storage-blob client of ``server`` (blocking: call it from a thread or briefly)."""
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(server.connection_string)


def download(server: Azurite, name: str) -> bytes:
    """The recording ``name`` as ``server`` holds it."""
    blob = blob_service(server).get_blob_client(CONTAINER, name)
    data: bytes = blob.download_blob().readall()
    return data
