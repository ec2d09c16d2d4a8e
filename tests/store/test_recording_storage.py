"""Recordings in storage: blocks staged on disk and in Blob Storage (Azurite), committed as one
WAV file, after a crash, and after an outage -- each block written once."""

from __future__ import annotations

import io
import threading
import time
import wave
from array import array
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from azure.core.credentials import AccessToken

from app.recording.service import RecordingService
from app.recording.sinks import CONTAINER, BlobSink, LocalSink, StorageUnavailable, block_id
from app.recording.staging import Seal, StagingArea
from app.recording.wav import WavFormat
from tests.support.azurite import Azurite, connection_string, entra_token, free_port
from tests.support.credentials import FakeCredential

FMT = WavFormat(rate=24_000)
NAME = "ai_conv_s1_20261206T120000Z.wav"


def blocks_of(seconds: list[float]) -> list[bytes]:
    """Distinct blocks of stereo audio, ``seconds`` long each."""
    return [bytes([n + 1, 0]) * int(s * FMT.bytes_per_second / 2) for n, s in enumerate(seconds)]


def read_wav(data: bytes) -> tuple[int, int, bytes]:
    with wave.open(io.BytesIO(data)) as reader:
        frames = reader.readframes(reader.getnframes())
        return reader.getnchannels(), reader.getframerate(), frames


def blob_service(port: int) -> Any:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(connection_string(port))


def blob_sink(port: int) -> BlobSink:
    sink = blob_service(port).get_container_client(CONTAINER)
    return BlobSink(sink)


def test_a_local_recording_is_assembled_into_one_wav_file(tmp_path: Path) -> None:
    staging = StagingArea(tmp_path / "recordings")
    staging.begin(NAME, FMT, "local")
    audio = blocks_of([0.5, 0.5, 0.25])
    for seq, block in enumerate(audio):
        staging.write_block(NAME, seq, block)
    staging.seal(NAME, Seal(1.25, 0, cut_by_crash=False))
    sink = LocalSink(tmp_path / "recordings")
    assert sink.commit(staging, NAME) == sum(map(len, audio))
    assert read_wav((tmp_path / "recordings" / NAME).read_bytes()) == (2, 24_000, b"".join(audio))
    assert not staging.exists(NAME) and staging.sealed() == []
    # No temporary file is left beside it.
    assert sorted(p.name for p in (tmp_path / "recordings").iterdir()) == [".staging", NAME]


def test_blocks_staged_in_blob_storage_are_committed_behind_the_header(
    tmp_path: Path, azurite: Azurite
) -> None:
    staging = StagingArea(tmp_path / "recordings")
    staging.begin(NAME, FMT, "blob")
    sink = blob_sink(azurite.port)
    sink.ensure_container()
    audio = blocks_of([0.5, 0.5, 0.3])
    for seq, block in enumerate(audio[:2]):  # uploaded while the call ran
        staging.write_block(NAME, seq, block)
        assert sink.stage(NAME, seq, block)
        staging.mark_sent(NAME, seq, len(block))
    staging.write_block(NAME, 2, audio[2])  # the last block, written at the end of the call
    staging.seal(NAME, Seal(1.3, 0, cut_by_crash=False))
    assert sink.commit(staging, NAME) == sum(map(len, audio))
    blob = blob_service(azurite.port).get_blob_client(CONTAINER, NAME)
    assert read_wav(blob.download_blob().readall()) == (2, 24_000, b"".join(audio))
    assert blob.get_blob_properties().content_settings.content_type == "audio/wav"
    committed, uncommitted = blob.get_block_list("all")
    assert [b.id for b in committed] == ["rec-header", block_id(0), block_id(1), block_id(2)]
    assert uncommitted == []
    assert not staging.exists(NAME)


async def test_after_a_crash_the_staged_blocks_become_a_recording_marked_cut(
    tmp_path: Path, azurite: Azurite
) -> None:
    service = RecordingService.from_settings(
        data_dir=tmp_path, account_url=None, connection_string=azurite.connection_string
    )
    await service.open()  # the flusher's passes are the test's own
    staging = service.staging
    staging.begin(NAME, FMT, "blob")
    audio = blocks_of([5.0, 5.0])
    assert service.sink is not None
    for seq, block in enumerate(audio):
        staging.write_block(NAME, seq, block)
        await trio.to_thread.run_sync(service.sink.stage, NAME, seq, block)
        staging.mark_sent(NAME, seq, len(block))
    # The process died here; the next one recovers the call's checkpoint.
    checkpoint = {"id": NAME[:-4], "recording": {"name": NAME, "where": "blob", "gaps": 0}}
    amended = service.amend_checkpoint(checkpoint)
    assert amended["recording"] == {
        "name": NAME, "where": "blob", "format": "audio/wav", "seconds": 10.0,
        "complete": False, "cut_by_crash": True, "gaps": 0,
    }  # fmt: skip
    assert service.amend_checkpoint(checkpoint) == amended  # a second recovery: the same
    assert await service.flush()
    blob = blob_service(azurite.port).get_blob_client(CONTAINER, NAME)
    assert read_wav(blob.download_blob().readall())[2] == b"".join(audio)
    assert service.stats.committed == 1 and service.stats.recovered == 1


async def test_an_outage_keeps_the_recording_staged_until_storage_is_back(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet: Blob Storage is down
    service = RecordingService.from_settings(
        data_dir=tmp_path, account_url=None, connection_string=connection_string(port)
    )
    await service.open()  # the flusher's passes are the test's own
    assert service.sink is not None
    staging = service.staging
    staging.begin(NAME, FMT, "blob")
    audio = blocks_of([1.0, 0.5])
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await trio.to_thread.run_sync(service.sink.stage, NAME, 0, audio[0])
    assert time.monotonic() - started < 10  # fails fast: the SDK retries once
    for seq, block in enumerate(audio):
        staging.write_block(NAME, seq, block)
    staging.seal(NAME, Seal(1.5, 0, cut_by_crash=False))
    assert not await service.flush()
    assert staging.sealed() == [NAME]
    server = await trio.to_thread.run_sync(Azurite.start, tmp_path / "azurite", port)
    try:
        assert await service.flush()  # the container is made on the way
        assert await service.flush()  # nothing left: nothing uploaded again
        blob = blob_service(port).get_blob_client(CONTAINER, NAME)
        assert read_wav(blob.download_blob().readall())[2] == b"".join(audio)
        committed, _ = blob.get_block_list("all")
        assert len(committed) == 3
    finally:
        await trio.to_thread.run_sync(server.stop)
    assert service.stats.committed == 1


async def test_a_phone_calls_ulaw_audio_is_recorded_as_8_khz_pcm(tmp_path: Path) -> None:
    import base64

    from app.recording.stats import RecordingStats
    from app.recording.writer import CallRecording, Encoding

    now = [0.0]
    recording = CallRecording(
        name=NAME,
        staging=StagingArea(tmp_path / "recordings"),
        sink=LocalSink(tmp_path / "recordings"),
        stats=RecordingStats(),
        blob_limiter=trio.CapacityLimiter(1),
        encoding=Encoding.g711_ulaw(),
        clock=lambda: now[0],
    )
    (tmp_path / "recordings").mkdir()
    # 20 ms frames of u-law (160 bytes at 8 kHz): the caller's 0x80 (+32124), the agent's 0x00.
    for n in range(50):
        now[0] = 0.02 * (n + 1)
        recording.tap.caller_audio(base64.b64encode(b"\x80" * 160).decode(), now[0])
    recording.tap.agent_audio("item1", base64.b64encode(b"\x00" * 800).decode(), 1.0)
    field = await recording.finish(2.0)
    assert field["seconds"] == 2.0 and field["complete"] is True
    data = (tmp_path / "recordings" / NAME).read_bytes()
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getframerate()) == (2, 8_000)
        frames = array("h", reader.readframes(reader.getnframes()))
    left, right = frames[0::2], frames[1::2]
    assert set(left[:8_000]) == {32124} and set(left[8_000:]) == {0}
    assert set(right[:8_000]) == {0} and set(right[8_000:8_800]) == {-32124}


@attrs.define(eq=False)
class StorageCredential(FakeCredential):
    """The fake Entra credential, handing out a token Azurite's OAuth accepts."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        super().get_token(*scopes, **kwargs)
        return AccessToken(entra_token(), int(time.time()) + 3600)


async def test_recordings_reach_blob_storage_with_an_entra_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key, bundle = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))  # the SDK's requests trusts the CA
    server = await trio.to_thread.run_sync(
        lambda: Azurite.start(tmp_path / "azurite", tls=(cert, key))
    )
    credential = StorageCredential()
    try:
        service = RecordingService.from_settings(
            data_dir=tmp_path,
            account_url=server.account_url,
            connection_string=None,
            credential_factory=lambda: credential,
        )
        await service.open()
        service.staging.begin(NAME, FMT, "blob")
        service.staging.write_block(NAME, 0, blocks_of([0.5])[0])
        service.staging.seal(NAME, Seal(0.5, 0, cut_by_crash=False))
        assert await service.flush()
    finally:
        await trio.to_thread.run_sync(server.stop)
    assert service.stats.committed == 1
    assert ("https://storage.azure.com/.default",) in credential.scopes
    assert threading.get_ident() not in credential.used_in  # tokens are fetched in threads


async def test_staging_no_document_will_ever_name_is_deleted_after_the_longest_call(
    tmp_path: Path,
) -> None:
    import os

    service = RecordingService.from_settings(
        data_dir=tmp_path, account_url=None, connection_string=None, max_call_seconds=60.0
    )
    await service.open()
    staging = service.staging
    now = time.time()
    for name, age, sealed in (
        ("ai_conv_live_1.wav", 30.0, False),  # a call still going on
        ("ai_conv_orphan_1.wav", 60.0 + 3600.0 + 5.0, False),  # died before any checkpoint
        ("ai_conv_sealed_1.wav", 60.0 + 3600.0 + 5.0, True),  # waits for storage: kept
    ):
        staging.begin(name, FMT, "local")
        staging.write_block(name, 0, blocks_of([0.1])[0])
        if sealed:
            staging.seal(name, Seal(0.1, 0, cut_by_crash=False))
        meta = staging.directory / name.removesuffix(".wav") / "recording.json"
        os.utime(meta, (now - age, now - age))
    assert staging.abandoned(now, service.abandon_after) == ["ai_conv_orphan_1.wav"]
    assert await service.flush()
    assert sorted(p.name for p in staging.directory.iterdir()) == ["ai_conv_live_1"]
    assert (tmp_path / "recordings" / "ai_conv_sealed_1.wav").exists()  # committed, not lost
