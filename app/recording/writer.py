"""One call's recording: the writer task in the call's nursery, and its shielded last steps.

`CallRecording.run` (a task of the call) receives what the hot path handed over (`RecordingTap`),
decodes the base64 audio, feeds the `AsHeardMixer`, and every `BLOCK_SECONDS` writes the
finished audio as one block to local staging and, for Blob Storage, uploads it
(``stage_block``).  A failed upload is not retried during the call: the blocks stay on disk
and go up with the commit (or the flusher's, later), so a Blob outage never slows the writer.

`CallRecording.finish` runs in the call's shielded, time-bounded shutdown before the document
is saved: it stops the writer, mixes what is left up to the call's end, writes the last block,
seals the recording and commits it within `COMMIT_TIMEOUT`; what does not finish in time is
committed by the flusher.  It returns the document's ``recording`` field.  `checkpoint_field`
is what a crash checkpoint says (``cut_by_crash``: the recovery makes it true).

Resource handling: the writer's blocking file and storage work runs in worker threads it
awaits (never abandoned while the call runs, so blocks are written in order).  Error handling:
a disk error loses that block (logged once per call, counted as a gap), never the call.
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
from collections.abc import Callable
from typing import Any, Final

import attrs
import trio

from app.recording.field import recording_field
from app.recording.mixer import AsHeardMixer
from app.recording.sinks import RecordingSink, StorageUnavailable
from app.recording.staging import Seal, StagingArea
from app.recording.stats import RecordingStats
from app.recording.tap import (
    AGENT,
    AGENT_B64,
    CALLER,
    CALLER_B64,
    HEARD_UNTIL,
    LOST,
    RECORDING_BUFFER_BYTES,
    Item,
    RecordingTap,
    base64_of,
)
from app.recording.wav import WavFormat
from app.rules import g711
from app.settings import RECORDING_MARGIN

__all__ = ["BLOCK_SECONDS", "COMMIT_TIMEOUT", "FINISH_TIMEOUT", "CallRecording", "Encoding"]

log = logging.getLogger(__name__)

#: Seconds of audio per staged block: what a crash may lose at most (plus the mixer's hold).
BLOCK_SECONDS: Final = 5.0
#: How long the call's shutdown waits for the commit before leaving it to the flusher.
COMMIT_TIMEOUT: Final = 3.0
#: How often the writer mixes what the hot path queued (a short fraction of the buffer's ~8 s).
DRAIN_INTERVAL: Final = 0.2
#: How long `finish` waits for the writer task to put down a block it is writing.
WRITER_STOP_TIMEOUT: Final = 2.0
#: The most `finish` takes in all (the writer, the last block, the seal, the commit): the
#: call's shutdown must go on to save the document whatever the disk or the storage do.
#: `app.settings.RECORDING_MARGIN` (SHUTDOWN_GRACE covers it).
FINISH_TIMEOUT: Final = RECORDING_MARGIN


@attrs.frozen
class Encoding:
    """The call's audio: PCM16 24 kHz on the web; G.711 u-law 8 kHz on phone lines."""

    rate: int
    bytes_per_sample: int
    decode: Callable[[bytes], bytes] | None = None

    @classmethod
    def pcm16(cls, rate: int = 24_000) -> Encoding:
        return cls(rate, 2)

    @classmethod
    def g711_ulaw(cls) -> Encoding:
        return cls(g711.SAMPLE_RATE, 1, g711.to_pcm16)


@attrs.define(eq=False)
class CallRecording:
    """The recording of one call, named ``name`` (``<document id>.wav``)."""

    name: str
    staging: StagingArea
    sink: RecordingSink
    stats: RecordingStats
    blob_limiter: trio.CapacityLimiter
    encoding: Encoding = attrs.field(factory=Encoding.pcm16)
    #: The call's clock and the moment the call started on it (the recording's zero).
    clock: Callable[[], float] = trio.current_time
    started_at: float = 0.0
    block_seconds: float = BLOCK_SECONDS
    #: The tap's byte bound: how far the writer may fall behind before audio becomes a gap.
    buffer_bytes: int = RECORDING_BUFFER_BYTES
    #: Called when the recording was sealed but not committed (wakes the flusher).
    on_sealed: Callable[[], None] | None = None
    #: Names being committed by a call's own shutdown: the flusher leaves them alone.
    in_flight: set[str] = attrs.field(factory=set)

    tap: RecordingTap = attrs.field(init=False)
    mixer: AsHeardMixer = attrs.field(init=False)
    #: Bytes of audio written to blocks so far, and blocks written.
    staged_bytes: int = attrs.field(default=0, init=False)
    blocks: int = attrs.field(default=0, init=False)
    _receive: trio.MemoryReceiveChannel[Item] = attrs.field(init=False)
    _stopped: trio.Event = attrs.field(factory=trio.Event, init=False)
    _begun: bool = attrs.field(default=False, init=False)
    _upload: bool = attrs.field(default=True, init=False)
    #: Held while blocks are written (in order), and while the mixer runs in a thread.
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _mixing: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _next_seq: int = attrs.field(default=0, init=False)
    _disk_failed: bool = attrs.field(default=False, init=False)
    _field: dict[str, Any] | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self.tap, self._receive = RecordingTap.open(
            self.stats, bytes_per_sample=self.encoding.bytes_per_sample, limit=self.buffer_bytes
        )
        self.mixer = AsHeardMixer(self.encoding.rate)

    @property
    def format(self) -> WavFormat:
        return WavFormat(rate=self.encoding.rate, channels=2)

    async def run(self) -> None:
        """The writer task: every `DRAIN_INTERVAL`, mix what arrived; every `block_seconds`,
        write a block.  It sleeps between drains rather than waiting on the channel, so the hot
        path's ``send_nowait`` never wakes a task: a frame costs the call no task switch."""
        self.stats.calls += 1
        try:
            await self._begin()
            # The first block comes after a random share of a block more: calls that began
            # together (a burst of callers, a benchmark) do not write their blocks together.
            deadline = self.clock() + self.block_seconds * (1 + random.random())
            while True:
                await trio.sleep(DRAIN_INTERVAL)
                if not self._drain():
                    return  # the tap closed: the call is finishing
                if self.clock() >= deadline:
                    deadline = self.clock() + self.block_seconds
                    # Interleaving seconds of audio takes milliseconds: in a thread, so the
                    # event loop (every call's voice) gets the GIL back every few ms meanwhile.
                    # Nothing else touches the mixer while this task waits for it.
                    now = self.clock() - self.started_at
                    async with self._mixing:
                        data = await trio.to_thread.run_sync(self.mixer.take, now)
                    await self._write_block(data)
        finally:
            self._stopped.set()

    def _drain(self) -> bool:
        """Mix everything queued; False once the tap is closed and the queue empty."""
        receive, mix = self._receive.receive_nowait, self._mix
        while True:
            try:
                mix(receive())
            except trio.WouldBlock:
                return True
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return False

    def checkpoint_field(self) -> dict[str, Any]:
        """The ``recording`` field of a crash checkpoint: what is staged so far."""
        return recording_field(
            name=self.name,
            where=self.sink.where,
            seconds=self.format.seconds(self.staged_bytes),
            cut_by_crash=True,
            gaps=self.mixer.gaps,
        )

    async def finish(self, end: float) -> dict[str, Any]:
        """Mix up to ``end`` (the call's clock), write, seal and try to commit; the document's
        ``recording`` field.  Call it once, shielded, in the call's shutdown.

        Bounded by `FINISH_TIMEOUT`: a disk that hangs leaves the recording unsealed (a gap is
        counted and the field says what was staged), so the document is saved regardless.
        """
        with trio.move_on_after(FINISH_TIMEOUT):
            return await self._finish(end)
        log.error("Recording %s: not finished within %g s", self.name, FINISH_TIMEOUT)
        self.mixer.gaps += 1
        return recording_field(
            name=self.name,
            where=self.sink.where,
            seconds=self.format.seconds(self.staged_bytes),
            cut_by_crash=False,
            gaps=self.mixer.gaps,
        )

    async def _finish(self, end: float) -> dict[str, Any]:
        if self._field is not None:
            return self._field
        self.tap.close()
        with trio.move_on_after(WRITER_STOP_TIMEOUT):
            await self._stopped.wait()
        async with self._mixing:  # a writer that hung elsewhere is not mixing meanwhile
            self._drain()
            data = self.mixer.finish(end - self.started_at)
        await self._begin()
        await self._write_block(data)
        seal = Seal(self.format.seconds(self.staged_bytes), self.mixer.gaps, cut_by_crash=False)
        self.stats.gaps += self.mixer.gaps
        self._field = recording_field(
            name=self.name,
            where=self.sink.where,
            seconds=seal.seconds,
            cut_by_crash=False,
            gaps=seal.gaps,
        )
        try:
            await trio.to_thread.run_sync(self.staging.seal, self.name, seal)
        except OSError as exc:
            log.error("Recording %s could not be sealed: %s", self.name, exc)
            return self._field
        if not await self._commit_now() and self.on_sealed is not None:
            self.on_sealed()
        return self._field

    async def discard(self) -> None:
        """The call wrote no document (nothing was said): stop, and keep no recording.
        Bounded by `FINISH_TIMEOUT` like `finish`."""
        self.tap.close()
        with trio.move_on_after(FINISH_TIMEOUT):
            with trio.move_on_after(WRITER_STOP_TIMEOUT):
                await self._stopped.wait()
            async with self._mixing:
                self.mixer.finish(0.0)
            async with self._lock:
                try:
                    await trio.to_thread.run_sync(self.staging.remove, self.name)
                except OSError as exc:
                    self._disk_error(exc)

    async def _commit_now(self) -> bool:
        """Commit within `COMMIT_TIMEOUT`; False leaves it to the flusher."""
        self.in_flight.add(self.name)
        try:
            with trio.move_on_after(COMMIT_TIMEOUT):
                # Abandoned at the deadline: the flusher commits it again (idempotent).
                await trio.to_thread.run_sync(
                    self._commit, abandon_on_cancel=True, limiter=self.blob_limiter
                )
                self.stats.committed += 1
                return True
            log.warning(
                "Recording %s not committed within %g s: the flusher will",
                self.name,
                COMMIT_TIMEOUT,
            )
        except (StorageUnavailable, OSError) as exc:
            self.stats.upload_failures += 1
            log.warning("Recording %s not committed yet (retried later): %s", self.name, exc)
        finally:
            self.in_flight.discard(self.name)
        return False

    # -- inside ----------------------------------------------------------------------------------

    def _commit(self) -> None:
        self.sink.commit(self.staging, self.name)

    def _mix(self, item: Item) -> None:
        kind, at, text, item_id, number = item
        self.tap.queued -= len(text) + 64 if kind != LOST else 64
        at -= self.started_at
        mixer = self.mixer
        if kind in (CALLER, CALLER_B64):
            pcm = self._pcm(base64_of(text) if kind == CALLER else text)
            mixer.caller_audio(pcm, at)
        elif kind in (AGENT, AGENT_B64):
            pcm = self._pcm(base64_of(text) if kind == AGENT else text)
            mixer.agent_audio(item_id, pcm, at)
        elif kind == HEARD_UNTIL:
            mixer.heard_until(item_id, number)
        elif kind == LOST:
            mixer.lost(number >> 32, number & 0xFFFFFFFF, at)

    def _pcm(self, b64: str) -> bytes:
        try:
            data = base64.b64decode(b64)
        except (binascii.Error, ValueError):
            return b""
        decode = self.encoding.decode
        return decode(data) if decode is not None else data

    async def _begin(self) -> None:
        if not self._begun:
            self._begun = True
            try:
                await trio.to_thread.run_sync(
                    self.staging.begin, self.name, self.format, self.sink.where
                )
            except OSError as exc:
                self._disk_error(exc)

    async def _write_block(self, data: bytes) -> None:
        if not data:
            return
        seq = self._next_seq  # taken before any checkpoint: block numbers follow the audio
        self._next_seq += 1
        async with self._lock:
            try:
                await trio.to_thread.run_sync(self.staging.write_block, self.name, seq, data)
            except OSError as exc:
                self._disk_error(exc)
                self.mixer.gaps += 1
                return
            self.blocks += 1
            self.staged_bytes += len(data)
            self.stats.blocks_staged += 1
            if self._upload:
                await self._upload_block(seq, data)

    async def _upload_block(self, seq: int, data: bytes) -> None:
        try:
            sent = await trio.to_thread.run_sync(
                self.sink.stage, self.name, seq, data, limiter=self.blob_limiter
            )
            if sent:
                await trio.to_thread.run_sync(self.staging.mark_sent, self.name, seq, len(data))
                self.stats.blocks_uploaded += 1
            else:
                self._upload = False  # a local sink keeps every block until the commit
        except (StorageUnavailable, OSError) as exc:
            self._upload = False
            self.stats.upload_failures += 1
            log.warning(
                "Recording %s: upload failed, the rest waits on disk for the commit: %s",
                self.name,
                exc,
            )

    def _disk_error(self, exc: OSError) -> None:
        if not self._disk_failed:
            self._disk_failed = True
            log.error("Recording %s: could not write to local staging: %s", self.name, exc)
