"""The recording readers behind one interface: local files and Blob Storage (Azurite, real HTTP).

Each reader answers the same questions the same way: a recording's size and validator, a byte
range of it (short only at the end), `RecordingMissing` for a name that is not there or is not a
recording's name, `RecordingUnavailable` when the storage does not answer."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from azure.core.credentials import AccessToken

from app.recording.readers import (
    BlobRecordings,
    LocalRecordings,
    RecordingMissing,
    RecordingReader,
    RecordingUnavailable,
    open_reader,
)
from tests.support.azurite import Azurite, entra_token
from tests.support.credentials import FakeCredential
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


@attrs.define(eq=False)
class StorageCredential(FakeCredential):
    """The fake Entra credential, handing out a token Azurite's OAuth accepts."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        super().get_token(*scopes, **kwargs)
        return AccessToken(entra_token(), int(time.time()) + 3600)


async def test_the_blob_reader_with_an_entra_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AZURE_STORAGE_ACCOUNT_URL``: Azurite over HTTPS checks the bearer token's claims."""
    import trustme
    from azure.storage.blob import BlobServiceClient

    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    cert, key, bundle = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))  # the SDK's requests trusts the CA
    server = await trio.to_thread.run_sync(
        lambda: Azurite.start(tmp_path / "azurite", tls=(cert, key))
    )
    credential = StorageCredential()
    try:

        def upload() -> None:
            with BlobServiceClient(server.account_url, credential=credential) as service:
                service.create_container("recordings").upload_blob(NAME, AUDIO)

        await trio.to_thread.run_sync(upload)
        credential.scopes.clear()
        settings = relay_settings(tmp_path, azure_storage_account_url=server.account_url)
        reader = open_reader(settings, credential_factory=lambda: credential)
        assert isinstance(reader, BlobRecordings)
        info = await reader.info(NAME)
        piece = await reader.read(NAME, 44, 100)
        await reader.aclose()
    finally:
        await trio.to_thread.run_sync(server.stop)
    assert info.size == len(AUDIO)
    assert piece == AUDIO[44:144]
    assert ("https://storage.azure.com/.default",) in credential.scopes
    assert threading.get_ident() not in credential.used_in  # tokens are fetched in threads
