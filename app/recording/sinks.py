"""Where committed recordings live: files under ``DATA_DIR/recordings``, or Azure Blob Storage.

Both take the same blocks from `StagingArea` and commit them the same way: the WAV header,
built from the blocks' total size, first, then the blocks in order.

* `LocalSink` keeps blocks on disk until the commit, then writes header + blocks to a
  temporary file and renames it to ``<name>`` (atomic: a reader sees no file or a whole one).
* `BlobSink` stages each block in the blob ``<name>`` of container ``recordings`` while the
  call runs (``stage_block``) and commits ``[header] + blocks`` at the end
  (``commit_block_list``).  Block ids are fixed-length names of the call's blob and sequence
  number, so a retry after a lost answer re-stages the same bytes under the same id, and a
  second commit of the same list rewrites the same blob: nothing is written twice.

azure-storage-blob's async client needs asyncio, so the sync client runs in worker threads
(like the Cosmos DB client); its own timeouts and a short retry policy bound each request,
since a thread cannot be interrupted.  Every method here blocks.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

import attrs

from app.recording.staging import StagingArea
from app.recording.wav import MAX_DATA_BYTES, header

__all__ = [
    "CONTAINER",
    "BlobSink",
    "LocalSink",
    "RecordingSink",
    "StorageUnavailable",
    "block_id",
    "open_blob_sink",
]

log = logging.getLogger(__name__)

#: The blob container recordings go to.
CONTAINER = "recordings"
HEADER_BLOCK_ID = "rec-header"
#: Seconds to open a connection to Blob Storage, and to wait for an answer.
CONNECTION_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
#: Retries of one request inside the SDK, and the pause before each: few and short, so that an
#: outage fails fast and is retried by the flusher instead of holding a thread (the SDK's own
#: default waits 15 s, then 45 s).
SDK_RETRIES = 1
SDK_BACKOFF = 1


class StorageUnavailable(Exception):
    """The storage did not take a block or a commit; the recording stays staged."""


def block_id(seq: int) -> str:
    """Block ``seq``'s id: every id of a blob has the same length (the header's too)."""
    return f"rec-{seq:06d}"


class RecordingSink(Protocol):
    @property
    def where(self) -> Literal["blob", "local"]: ...

    def stage(self, name: str, seq: int, data: bytes) -> bool:
        """Upload block ``seq`` now if the sink takes blocks early; False if it keeps them
        local until the commit.  Raises `StorageUnavailable`."""
        ...

    def commit(self, staging: StagingArea, name: str) -> int:
        """Commit ``name``'s staged blocks; the audio bytes committed.  Idempotent.
        Raises `StorageUnavailable` (or ``OSError`` for the local disk)."""
        ...


@attrs.frozen
class LocalSink:
    """Recordings as files: ``directory/<name>``."""

    directory: Path
    where: Literal["blob", "local"] = "local"

    def stage(self, name: str, seq: int, data: bytes) -> bool:
        return False

    def commit(self, staging: StagingArea, name: str) -> int:
        fmt, _ = staging.format_of(name)
        blocks = staging.blocks(name)
        size = min(sum(block.size for block in blocks), MAX_DATA_BYTES)
        size -= size % fmt.frame_bytes
        target = self.directory / name
        temporary = self.directory / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            with open(temporary, "wb") as file:
                file.write(header(fmt, size))
                left = size
                for block in blocks:
                    if block.path is None:  # uploaded elsewhere: a blob recording's block
                        raise OSError(f"block {block.seq} of {name} is not on this disk")
                    data = block.path.read_bytes()[:left]
                    file.write(data)
                    left -= len(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        staging.remove(name)
        return size


@attrs.define(eq=False)
class BlobSink:
    """Recordings as block blobs in ``container`` (an azure-storage-blob ``ContainerClient``)."""

    container: Any
    where: Literal["blob", "local"] = "blob"
    _container_checked: bool = attrs.field(default=False, init=False)

    def stage(self, name: str, seq: int, data: bytes) -> bool:
        self._call(lambda: self.container.get_blob_client(name).stage_block(block_id(seq), data))
        return True

    def commit(self, staging: StagingArea, name: str) -> int:
        from azure.storage.blob import BlobBlock, ContentSettings

        fmt, _ = staging.format_of(name)
        blob = self.container.get_blob_client(name)
        blocks = staging.blocks(name)
        for block in blocks:
            if block.path is not None:  # staged while the storage was down, or never sent
                data = block.path.read_bytes()
                self._stage(blob, block.seq, data)
                staging.mark_sent(name, block.seq, len(data))
        size = sum(block.size for block in blocks)
        if size > MAX_DATA_BYTES or size % fmt.frame_bytes:
            raise StorageUnavailable(f"{name}: {size} bytes cannot be one WAV file")
        ids = [BlobBlock(block_id=HEADER_BLOCK_ID)]
        ids += [BlobBlock(block_id=block_id(block.seq)) for block in blocks]
        self._call(lambda: blob.stage_block(HEADER_BLOCK_ID, header(fmt, size)))
        self._call(
            lambda: blob.commit_block_list(
                ids, content_settings=ContentSettings(content_type="audio/wav")
            )
        )
        staging.remove(name)
        return size

    def _stage(self, blob: Any, seq: int, data: bytes) -> None:
        self._call(lambda: blob.stage_block(block_id(seq), data))

    def ensure_container(self) -> None:
        """Create the container if it is missing (Azurite, a first deployment)."""
        from azure.core.exceptions import ResourceExistsError

        try:
            self._call(self.container.create_container)
        except StorageUnavailable as exc:
            if not isinstance(exc.__cause__, ResourceExistsError):
                raise
        self._container_checked = True

    def _call(self, request: Callable[[], object]) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            request()
        except ResourceNotFoundError as exc:
            if self._container_checked or getattr(exc, "error_code", None) != "ContainerNotFound":
                raise StorageUnavailable(str(exc).splitlines()[0]) from exc
            self.ensure_container()
            self._call(request)
        except AzureError as exc:
            raise StorageUnavailable(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc


def open_blob_sink(
    *,
    account_url: str | None,
    connection_string: str | None,
    credential_factory: Callable[[], Any] | None = None,
) -> BlobSink:
    """The Blob Storage sink the settings describe.  Blocking (a credential may probe)."""
    from azure.storage.blob import BlobServiceClient, LinearRetry

    options: dict[str, Any] = {
        "connection_timeout": CONNECTION_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "retry_policy": LinearRetry(
            backoff=SDK_BACKOFF, retry_total=SDK_RETRIES, random_jitter_range=0
        ),
    }
    if connection_string is not None:
        service = BlobServiceClient.from_connection_string(connection_string, **options)
    else:
        assert account_url is not None
        if credential_factory is None:
            from app.model.azure_credential import default_credential

            credential_factory = default_credential
        service = BlobServiceClient(account_url, credential=credential_factory(), **options)
    return BlobSink(service.get_container_client(CONTAINER))
