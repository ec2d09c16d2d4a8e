"""Reading stored recordings back, a byte range at a time: local files or Azure Blob Storage.

The admin route that streams a recording to a player (`app.web.recording_api`) needs three
things of wherever recordings are kept: whether one is there and how long it is (with a
validator for ``If-Range``), and a byte range of it.  `RecordingReader` is that interface;
`LocalRecordings` reads ``DATA_DIR/recordings/<name>`` and `BlobRecordings` reads blob
``<name>`` in the container ``recordings``.  `open_reader` picks the one the settings name, the
same rule the writer follows: a connection string or an account URL means Blob, neither means
local files.

Nothing is read whole: a range is read in pieces of at most the length the caller asks for, so
a player seeking through an hour-long call costs the relay one piece of memory per request.

Resource handling: both readers run their blocking work (file I/O, the azure-storage-blob sync
client: its aio client needs asyncio) in worker threads, at most `READ_THREADS` at once per
reader, abandoned when their caller is cancelled.  The Blob client is made on first use in a
worker thread (the Entra ID credential probes the environment, which blocks) and closed by
`aclose`.  The SDK's own connect and read timeouts bound how long an abandoned request keeps its
thread; `OPERATION_TIMEOUT` bounds how long a caller waits.

Error handling: a recording that is not there is `RecordingMissing`; storage that fails, refuses
or times out is `RecordingUnavailable` with the reason (the route answers 404 and 503).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import attrs
import trio

from app.settings import Settings

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from app.model.azure_credential import CredentialFactory

__all__ = [
    "CONTAINER",
    "BlobRecordings",
    "LocalRecordings",
    "RecordingInfo",
    "RecordingMissing",
    "RecordingReader",
    "RecordingUnavailable",
    "local_directory",
    "open_reader",
]

T = TypeVar("T")

#: The Blob container every recording is a blob in (created by infra/recordings.bicep).
CONTAINER = "recordings"
#: Blocking reads one reader runs at once (the SDK's connection pool is larger).
READ_THREADS = 8
#: Seconds a caller waits for one size or range request, the SDK's retries included.
OPERATION_TIMEOUT = 30.0
#: The SDK's own limits on connecting and on waiting for bytes; they bound an abandoned thread.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
#: A recording's name: ``<document id>.wav``, a plain file name (no folder, no leading dot).
_NAME = re.compile(r"[A-Za-z0-9_:@-][A-Za-z0-9_.:@-]{0,250}\.wav")


class RecordingMissing(LookupError):
    """No recording by that name (never written, not committed yet, or expired)."""


class RecordingUnavailable(Exception):
    """The storage could not answer now (unreachable, refused, timed out); ``str()`` says why."""


@attrs.frozen
class RecordingInfo:
    """What a player's conditional range request is checked against."""

    size: int
    #: A strong validator of these bytes: the blob's ETag, or the file's size and mtime.
    etag: str
    last_modified: datetime


class RecordingReader(Protocol):
    """Where recordings are read from; every method may raise `RecordingUnavailable`."""

    #: ``"local"`` or ``"blob"``: the document's ``recording.where`` this reader serves.
    where: str

    async def info(self, name: str) -> RecordingInfo:
        """Size and validator of recording ``name``; `RecordingMissing` when there is none."""
        ...

    async def read(self, name: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes of ``name`` from ``offset`` (fewer only at the end)."""
        ...

    async def aclose(self) -> None:
        """Release the reader's client.  Idempotent."""
        ...


def checked_name(name: str) -> str:
    """``name`` if it is a recording's plain file name; `RecordingMissing` otherwise.

    The name comes from a stored document: it must never reach outside the recordings."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise RecordingMissing(f"{name!r} is not a recording's name")
    return name


def local_directory(settings: Settings) -> Path:
    """Where local recordings are: ``DATA_DIR/recordings``."""
    return settings.data_dir / "recordings"


def open_reader(
    settings: Settings, *, credential_factory: CredentialFactory | None = None
) -> RecordingReader:
    """The reader for where ``settings`` put recordings (nothing is connected yet)."""
    connection_string = settings.azure_storage_connection_string
    account_url = settings.azure_storage_account_url
    if connection_string or account_url:
        return BlobRecordings(
            connection_string=connection_string,
            account_url=account_url,
            credential_factory=credential_factory,
        )
    return LocalRecordings(local_directory(settings))


@attrs.define(eq=False)
class LocalRecordings:
    """Recordings as files in one folder (``DATA_DIR/recordings``)."""

    directory: Path
    where: str = attrs.field(default="local", init=False)
    _limiter: trio.CapacityLimiter = attrs.field(
        factory=lambda: trio.CapacityLimiter(READ_THREADS), init=False, repr=False
    )

    async def info(self, name: str) -> RecordingInfo:
        return await self._run(self._info, self.directory / checked_name(name))

    async def read(self, name: str, offset: int, length: int) -> bytes:
        return await self._run(self._read, self.directory / checked_name(name), offset, length)

    async def aclose(self) -> None:
        return None

    @staticmethod
    def _info(path: Path) -> RecordingInfo:
        try:
            status = path.stat()
        except FileNotFoundError:
            raise RecordingMissing(f"no recording {path.name}") from None
        except OSError as exc:
            raise RecordingUnavailable(f"{path}: {exc.strerror or exc}") from None
        return RecordingInfo(
            size=status.st_size,
            etag=f"{status.st_size:x}-{status.st_mtime_ns:x}",
            last_modified=datetime.fromtimestamp(status.st_mtime, UTC),
        )

    @staticmethod
    def _read(path: Path, offset: int, length: int) -> bytes:
        try:
            with path.open("rb") as file:
                file.seek(offset)
                return file.read(length)
        except FileNotFoundError:
            raise RecordingMissing(f"no recording {path.name}") from None
        except OSError as exc:
            raise RecordingUnavailable(f"{path}: {exc.strerror or exc}") from None

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        try:
            with trio.fail_after(OPERATION_TIMEOUT):
                return await trio.to_thread.run_sync(
                    partial(fn, *args), limiter=self._limiter, abandon_on_cancel=True
                )
        except trio.TooSlowError:
            raise RecordingUnavailable(
                f"reading {self.directory} took longer than {OPERATION_TIMEOUT:g} s"
            ) from None


@attrs.define(eq=False)
class BlobRecordings:
    """Recordings as block blobs in the container ``recordings`` of a storage account.

    Auth: ``AZURE_STORAGE_CONNECTION_STRING`` when set (a key or SAS; Azurite in the tests),
    otherwise ``AZURE_STORAGE_ACCOUNT_URL`` with Entra ID (the relay's managed identity needs
    Storage Blob Data Reader or Contributor on the account or container).
    """

    connection_string: str | None = attrs.field(default=None, repr=False)
    account_url: str | None = None
    credential_factory: CredentialFactory | None = None
    where: str = attrs.field(default="blob", init=False)
    _container: ContainerClient | None = attrs.field(default=None, init=False, repr=False)
    _closed: bool = attrs.field(default=False, init=False, repr=False)
    _limiter: trio.CapacityLimiter = attrs.field(
        factory=lambda: trio.CapacityLimiter(READ_THREADS), init=False, repr=False
    )
    _opening: trio.Lock = attrs.field(factory=trio.Lock, init=False, repr=False)

    async def info(self, name: str) -> RecordingInfo:
        blob = checked_name(name)

        def properties(container: ContainerClient) -> RecordingInfo:
            found = container.get_blob_client(blob).get_blob_properties(
                timeout=int(OPERATION_TIMEOUT)
            )
            modified = found.last_modified
            return RecordingInfo(
                size=int(found.size),
                etag=str(found.etag).strip('"'),
                last_modified=modified if modified.tzinfo else modified.replace(tzinfo=UTC),
            )

        return await self._run(properties, blob)

    async def read(self, name: str, offset: int, length: int) -> bytes:
        blob = checked_name(name)

        def download(container: ContainerClient) -> bytes:
            stream = container.get_blob_client(blob).download_blob(
                offset=offset, length=length, timeout=int(OPERATION_TIMEOUT)
            )
            return stream.readall()

        return await self._run(download, blob)

    async def aclose(self) -> None:
        """Close the client once the reads in flight have returned (or been abandoned)."""
        if self._closed:
            return
        self._closed = True
        container, self._container = self._container, None
        if container is not None:
            await trio.to_thread.run_sync(container.close, abandon_on_cancel=True)

    async def _run(self, fn: Callable[[ContainerClient], T], blob: str) -> T:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        if self._closed:
            raise RecordingUnavailable("the recording reader is closed")
        try:
            with trio.fail_after(OPERATION_TIMEOUT):
                container = await self._open()
                return await trio.to_thread.run_sync(
                    fn, container, limiter=self._limiter, abandon_on_cancel=True
                )
        except trio.TooSlowError:
            raise RecordingUnavailable(
                f"Blob Storage did not answer for {blob} within {OPERATION_TIMEOUT:g} s"
            ) from None
        except ResourceNotFoundError:
            raise RecordingMissing(f"no blob {CONTAINER}/{blob}") from None
        except AzureError as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise RecordingUnavailable(f"Blob Storage failed for {blob}: {reason}") from None

    async def _open(self) -> ContainerClient:
        async with self._opening:
            if self._container is None:
                self._container = await trio.to_thread.run_sync(
                    self._make_client, abandon_on_cancel=True
                )
            return self._container

    def _make_client(self) -> ContainerClient:
        # In a worker thread: the credential may probe the environment.
        from azure.storage.blob import BlobServiceClient, LinearRetry

        # One quick retry: a player waiting on a seek is better told "unavailable" in seconds
        # than after the SDK's default backoff (15 s, then 45 s).
        retry = LinearRetry(backoff=1, retry_total=1, random_jitter_range=0)
        if self.connection_string:
            service = BlobServiceClient.from_connection_string(
                self.connection_string,
                connection_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                retry_policy=retry,
            )
        elif self.account_url:
            from app.model.azure_credential import default_credential

            factory = self.credential_factory or default_credential
            service = BlobServiceClient(
                self.account_url,
                credential=factory(),
                connection_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                retry_policy=retry,
            )
        else:
            raise RecordingUnavailable("neither a connection string nor an account URL is set")
        return service.get_container_client(CONTAINER)
