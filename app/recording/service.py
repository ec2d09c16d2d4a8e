"""The relay-wide part of call recording: where recordings go, the flusher, crash recovery.

`RecordingService` is built from the settings when ``RECORD_CALLS`` is on and lives with the
relay (`app.relay.Relay`): `start` opens the sink (Blob Storage or ``DATA_DIR/recordings``) and
runs `run_flusher` in the relay's services nursery; `for_call` gives each call its
`CallRecording`; `amend_checkpoint` is the crash recovery's hook.

Crash-proof: a call's blocks are on local disk (and, for Blob Storage, staged there) every
`BLOCK_SECONDS`.  After a SIGKILL, the recovery that turns the dead process's checkpoints into
documents calls `amend_checkpoint` for each: the recording is sealed as cut by a crash, with
the length of the blocks that made it, and the document says so; the flusher then commits it.
An outage of the storage leaves sealed recordings in staging; the flusher retries them with
backoff until they land (each commit is idempotent, see `app.recording.sinks`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import attrs
import trio

from app.recording.field import recording_field
from app.recording.sinks import LocalSink, RecordingSink, StorageUnavailable, open_blob_sink
from app.recording.staging import Seal, StagingArea
from app.recording.stats import RecordingStats
from app.recording.tap import RECORDING_BUFFER_BYTES
from app.recording.writer import BLOCK_SECONDS, CallRecording, Encoding

__all__ = ["BLOB_THREADS", "RecordingService"]

log = logging.getLogger(__name__)

#: Blob Storage requests in flight at once (threads), across the process's calls.
BLOB_THREADS: Final = 8
BACKOFF_INITIAL: Final = 1.0
BACKOFF_MAX: Final = 60.0
#: Beyond the longest call, how long unsealed staging is kept before it counts as abandoned.
ABANDON_MARGIN: Final = 3600.0


@attrs.define(eq=False)
class RecordingService:
    """Recording for one relay process."""

    directory: Path
    #: Makes the sink, in a worker thread (a credential may probe the environment).
    open_sink: Callable[[], RecordingSink]
    block_seconds: float = BLOCK_SECONDS
    #: Each call's tap bound (`RECORDING_BUFFER_BYTES`; tests make it small).
    buffer_bytes: int = RECORDING_BUFFER_BYTES
    #: Unsealed staging older than this (wall-clock seconds) is abandoned: the longest call
    #: (CALL_MAX_DURATION) and a margin.  Its audio belongs to no document and is deleted.
    abandon_after: float = 3600.0 + ABANDON_MARGIN
    stats: RecordingStats = attrs.field(factory=RecordingStats)
    staging: StagingArea = attrs.field(init=False)
    sink: RecordingSink | None = attrs.field(default=None, init=False)
    limiter: trio.CapacityLimiter = attrs.field(init=False)
    _wake: trio.Event = attrs.field(factory=trio.Event, init=False)
    _in_flight: set[str] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        self.staging = StagingArea(self.directory)
        self.limiter = trio.CapacityLimiter(BLOB_THREADS)

    @classmethod
    def from_settings(
        cls,
        *,
        data_dir: Path,
        account_url: str | None,
        connection_string: str | None,
        credential_factory: Callable[[], Any] | None = None,
        max_call_seconds: float = 3600.0,
    ) -> RecordingService:
        """Blob Storage when an account URL or connection string is given, else local files.
        ``max_call_seconds`` is CALL_MAX_DURATION (what staging may be and still be live)."""
        directory = data_dir / "recordings"
        abandon_after = max_call_seconds + ABANDON_MARGIN
        if account_url is None and connection_string is None:

            def local() -> RecordingSink:
                return LocalSink(directory)

            return cls(directory, local, abandon_after=abandon_after)

        def blob() -> RecordingSink:
            return open_blob_sink(
                account_url=account_url,
                connection_string=connection_string,
                credential_factory=credential_factory,
            )

        return cls(directory, blob, abandon_after=abandon_after)

    @property
    def where(self) -> str:
        return self.sink.where if self.sink is not None else "?"

    async def start(self, nursery: trio.Nursery) -> None:
        """`open`, then run the flusher in ``nursery``.

        Raises ``OSError`` when the recordings directory cannot be made.
        """
        await self.open()
        await nursery.start(self.run_flusher)

    async def open(self) -> None:
        """Make the recordings directory and the sink (no flusher: `flush` is then yours).

        Raises ``OSError`` when the directory cannot be made.
        """
        self.sink = await trio.to_thread.run_sync(self._open)

    def _open(self) -> RecordingSink:
        self.staging.directory.mkdir(parents=True, exist_ok=True)
        return self.open_sink()

    def _sink(self) -> RecordingSink:
        return self.sink if self.sink is not None else LocalSink(self.directory)

    def for_call(
        self,
        name: str,
        *,
        clock: Callable[[], float] = trio.current_time,
        encoding: Encoding | None = None,
    ) -> CallRecording:
        """The recording of one call, named ``name``; its writer runs in the call's nursery."""
        return CallRecording(
            name=name,
            staging=self.staging,
            sink=self._sink(),
            stats=self.stats,
            blob_limiter=self.limiter,
            encoding=encoding or Encoding.pcm16(),
            clock=clock,
            block_seconds=self.block_seconds,
            buffer_bytes=self.buffer_bytes,
            on_sealed=self.wake,
            in_flight=self._in_flight,
        )

    def wake(self) -> None:
        """Make the flusher look at staging now."""
        self._wake.set()

    # -- after a crash ---------------------------------------------------------------------------

    def amend_checkpoint(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The recovery's hook for one checkpoint of a dead call (blocking: a worker thread).

        Seals the call's recording as cut by a crash, with the length of the blocks it left,
        and returns the document with its ``recording`` field saying so.  A checkpoint without
        the field (not recorded) is returned unchanged.
        """
        field = doc.get("recording")
        if not isinstance(field, Mapping) or not isinstance(field.get("name"), str):
            return doc
        name = field["name"]
        where: Literal["blob", "local"] = "blob" if field.get("where") == "blob" else "local"
        gaps = field["gaps"] if isinstance(field.get("gaps"), int) else 0
        seal = Seal(0.0, gaps, cut_by_crash=True)
        try:
            if self.staging.exists(name):
                found = self.staging.seal_of(name)
                if found is None:
                    fmt, _ = self.staging.format_of(name)
                    size = sum(block.size for block in self.staging.blocks(name))
                    found = Seal(fmt.seconds(size), gaps, cut_by_crash=True)
                    self.staging.seal(name, found)
                    self.stats.recovered += 1
                seal = found
        except (OSError, ValueError, KeyError) as exc:
            log.error("Recording %s of a crashed call could not be recovered: %s", name, exc)
        amended = dict(doc)
        amended["recording"] = recording_field(
            name=name,
            where=where,
            seconds=seal.seconds,
            cut_by_crash=seal.cut_by_crash,
            gaps=seal.gaps,
        )
        return amended

    # -- the flusher -----------------------------------------------------------------------------

    async def run_flusher(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Commit sealed recordings until cancelled (the relay's services nursery).

        After a failure it waits `BACKOFF_INITIAL` seconds, doubling up to `BACKOFF_MAX`, or
        until a call seals a new recording.
        """
        task_status.started()
        delay = BACKOFF_INITIAL
        while True:
            self._wake = trio.Event()
            if await self.flush():
                delay = BACKOFF_INITIAL
                await self._wake.wait()
                continue
            with trio.move_on_after(delay * (1 - 0.1 * random.random())):
                await self._wake.wait()
            delay = min(delay * 2, BACKOFF_MAX)

    async def flush(self) -> bool:
        """One pass over the sealed recordings; True if none is left.  Abandoned staging (see
        `StagingArea.abandoned`) is deleted on the way."""
        try:
            await trio.to_thread.run_sync(self._forget_abandoned)
            names = await trio.to_thread.run_sync(self.staging.sealed)
        except OSError as exc:
            log.error("Could not read the recordings' staging: %s", exc)
            return False
        names = [name for name in names if name not in self._in_flight]
        self.stats.pending = len(names)
        for name in names:
            try:
                await trio.to_thread.run_sync(self._commit, name, limiter=self.limiter)
            except (StorageUnavailable, OSError) as exc:
                self.stats.upload_failures += 1
                log.warning("Recording %s still not committed: %s", name, exc)
                return False
            self.stats.committed += 1
            self.stats.pending -= 1
            log.info("Recording %s committed from staging", name)
        return True

    def _forget_abandoned(self) -> None:
        for name in self.staging.abandoned(time.time(), self.abandon_after):
            log.warning("Recording %s was never sealed (its call left no document): deleted", name)
            self.staging.remove(name)

    def _commit(self, name: str) -> None:
        self._sink().commit(self.staging, name)
