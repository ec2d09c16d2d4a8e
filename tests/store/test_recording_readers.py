"""The recording readers behind one interface: local files and Blob Storage (Azurite, real HTTP).

Each reader answers the same questions the same way: a recording's size and validator, a byte
range of it (short only at the end), `RecordingMissing` for a name that is not there or is not a
recording's name, `RecordingUnavailable` when the storage does not answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from app.recording.readers import (
    BlobRecordings,
    LocalRecordings,
    RecordingMissing,
    RecordingReader,
    RecordingUnavailable,
    open_reader,
)
from tests.support.azurite import Azurite
from tests.support.harness import relay_settings
from tests.support.recordings import wav_bytes

AUDIO = wav_bytes(0.5)
NAME = "ai_conv_readers_20240501T120000Z.wav"


def upload(azurite: Azurite, name: str, data: bytes) -> None:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        container = service.get_container_client("recordings")
        if not container.exists():
            container.create_container()
        container.upload_blob(name, data, overwrite=True)


@pytest.fixture(params=["local", "blob"])
async def reader(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RecordingReader]:
    if request.param == "local":
        (tmp_path / "recordings").mkdir()
        (tmp_path / "recordings" / NAME).write_bytes(AUDIO)
        found = open_reader(relay_settings(tmp_path))
        assert isinstance(found, LocalRecordings)
    else:
        azurite: Azurite = request.getfixturevalue("azurite")
        await trio.to_thread.run_sync(upload, azurite, NAME, AUDIO)
        settings = relay_settings(
            tmp_path, azure_storage_connection_string=azurite.connection_string
        )
        found = open_reader(settings)
        assert isinstance(found, BlobRecordings)
    try:
        yield found
    finally:
        await found.aclose()
        await found.aclose()  # idempotent


async def test_size_validator_and_ranges(reader: RecordingReader) -> None:
    info = await reader.info(NAME)
    assert info.size == len(AUDIO)
    assert info.etag and info.last_modified.tzinfo is not None
    assert await reader.read(NAME, 0, 44) == AUDIO[:44]
    assert await reader.read(NAME, 1000, 4096) == AUDIO[1000:5096]
    assert await reader.read(NAME, len(AUDIO) - 10, 4096) == AUDIO[-10:]  # short only at the end
    assert (await reader.info(NAME)).etag == info.etag  # the same bytes, the same validator


async def test_missing_and_bad_names(reader: RecordingReader) -> None:
    with pytest.raises(RecordingMissing):
        await reader.info("ai_conv_other_20240501T120000Z.wav")
    with pytest.raises(RecordingMissing):
        await reader.read("ai_conv_other_20240501T120000Z.wav", 0, 10)
    for name in ("../conversations.sqlite3", "a/b.wav", ".hidden.wav", "x.txt", "..wav", ""):
        with pytest.raises(RecordingMissing):
            await reader.info(name)


async def test_blob_storage_that_does_not_answer_is_unavailable(tmp_path: Path) -> None:
    with trio.socket.socket() as holder:
        await holder.bind(("127.0.0.1", 0))  # a port nothing listens on
        port = holder.getsockname()[1]
        connection = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
        reader = BlobRecordings(connection_string=connection)
        with trio.fail_after(60):
            with pytest.raises(RecordingUnavailable, match=NAME):
                await reader.info(NAME)
        await reader.aclose()
    with pytest.raises(RecordingUnavailable, match="closed"):
        await reader.read(NAME, 0, 1)
