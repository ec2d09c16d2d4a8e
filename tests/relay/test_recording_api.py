"""``GET /api/admin/conversations/{customer}/{id}/recording`` through a real hypercorn socket:
who may read, what is not there, the whole file, byte ranges a player asks for, signed links.
Local recordings here; the same route over Blob Storage (Azurite) is at the end."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trio

from app.recording.links import link_key, sign_link
from app.recording.readers import RecordingInfo, RecordingMissing
from app.web.recording_api import CHUNK, RecordingBody
from tests.support.azurite import Azurite
from tests.support.harness import IO_TIMEOUT, RunningRelay, relay_settings, running_relay
from tests.support.recordings import recorded_document, wav_bytes, write_local_recording

TOKEN = "admin-secret"
AUDIO = wav_bytes(2.5)  # 240 044 bytes: more than one CHUNK would be for a longer call
SIZE = len(AUDIO)


def path_of(doc: dict[str, Any]) -> str:
    return f"/api/admin/conversations/{doc['customer_id']}/{doc['id']}/recording"


def admin_client(port: int, token: str | None = TOKEN) -> httpx.AsyncClient:
    """An HTTP client of the relay on ``port``, with the admin token unless ``token`` is None."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=IO_TIMEOUT
    )


@asynccontextmanager
async def relay_with_recording(
    tmp_path: Path, audio: bytes = AUDIO, **settings: Any
) -> AsyncIterator[tuple[RunningRelay, httpx.AsyncClient, dict[str, Any]]]:
    """A relay (admin token set) whose store holds one recorded conversation, and a client."""
    data_dir = tmp_path / "relay"
    async with running_relay(relay_settings(data_dir, admin_token=TOKEN, **settings)) as relay:
        doc = recorded_document(2.5, customer_id="cust-7")
        write_local_recording(data_dir, doc, audio)
        await relay.store.save(doc)
        async with admin_client(relay.port) as client:
            yield relay, client, doc


async def test_the_whole_recording_with_the_admin_token(tmp_path: Path) -> None:
    async with relay_with_recording(tmp_path) as (_, client, doc):
        whole = await client.get(path_of(doc))
        head = await client.head(path_of(doc))
    assert whole.status_code == 200
    assert whole.content == AUDIO
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["content-length"] == str(SIZE)
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["etag"]
    assert whole.headers["cache-control"] == "no-store"
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(SIZE)


async def test_refused_without_the_admin_token_or_with_a_bad_link(tmp_path: Path) -> None:
    async with relay_with_recording(tmp_path) as (_, client, doc):
        del client.headers["Authorization"]
        bare = await client.get(path_of(doc))
        wrong = await client.get(path_of(doc), headers={"Authorization": "Bearer nope"})
        forged = await client.get(
            path_of(doc), params={"expires": "9999999999", "signature": "x" * 43}
        )
        link = await client.post(path_of(doc) + "/link")
    assert bare.status_code == 401
    assert wrong.status_code == 401
    assert forged.status_code == 403
    assert "expired or is not valid" in forged.json()["error"]
    assert link.status_code == 401  # links are handed out to the admin only
    for answer in (bare, wrong, forged):
        assert b"RIFF" not in answer.content


async def test_404_for_no_conversation_no_recording_or_no_file(tmp_path: Path) -> None:
    async with relay_with_recording(tmp_path) as (relay, client, doc):
        plain = recorded_document(1.0, customer_id="cust-7", session_id="s2")
        del plain["recording"]
        await relay.store.save(plain)
        gone = recorded_document(1.0, customer_id="cust-7", session_id="s3")
        await relay.store.save(gone)  # its file was never written (or has expired)
        unknown = await client.get("/api/admin/conversations/cust-7/ai_conv_nope/recording")
        other_customer = await client.get(path_of({**doc, "customer_id": "cust-8"}))
        not_recorded = await client.get(path_of(plain))
        no_file = await client.get(path_of(gone))
        no_link = await client.post(path_of(plain) + "/link")
    assert unknown.status_code == 404 and unknown.json()["error"] == "no such conversation"
    assert other_customer.status_code == 404
    assert not_recorded.status_code == 404
    assert not_recorded.json()["error"] == "this conversation was not recorded"
    assert no_file.status_code == 404
    assert "not in storage" in no_file.json()["error"]
    assert no_link.status_code == 404


async def test_a_blob_recording_on_a_relay_without_blob_settings_is_503(tmp_path: Path) -> None:
    async with relay_with_recording(tmp_path) as (relay, client, _):
        elsewhere = recorded_document(1.0, where="blob", customer_id="cust-7", session_id="s5")
        await relay.store.save(elsewhere)
        answer = await client.get(path_of(elsewhere))
    assert answer.status_code == 503
    assert "AZURE_STORAGE_ACCOUNT_URL" in answer.json()["error"]


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=44-", 44, SIZE),  # open-ended: from the first sample on
        ("bytes=-1000", SIZE - 1000, SIZE),  # suffix: the last 1000 bytes
        ("bytes=-999999999", 0, SIZE),  # a suffix longer than the file is all of it
        (f"bytes=100000-{SIZE + 5000}", 100000, SIZE),  # an end past the end is the end
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE),
    ],
)
async def test_one_range_is_206_with_content_range(
    tmp_path: Path, header: str, start: int, stop: int
) -> None:
    async with relay_with_recording(tmp_path) as (_, client, doc):
        part = await client.get(path_of(doc), headers={"Range": header})
    assert part.status_code == 206
    assert part.content == AUDIO[start:stop]
    assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{SIZE}"
    assert part.headers["content-length"] == str(stop - start)
    assert part.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}"])
async def test_a_range_past_the_end_is_416_with_the_size(tmp_path: Path, header: str) -> None:
    async with relay_with_recording(tmp_path) as (_, client, doc):
        refused = await client.get(path_of(doc), headers={"Range": header})
    assert refused.status_code == 416
    assert refused.headers["content-range"] == f"bytes */{SIZE}"
    assert b"RIFF" not in refused.content


async def test_if_range_and_several_ranges(tmp_path: Path) -> None:
    async with relay_with_recording(tmp_path) as (_, client, doc):
        etag = (await client.get(path_of(doc), headers={"Range": "bytes=0-0"})).headers["etag"]
        same = await client.get(path_of(doc), headers={"Range": "bytes=10-19", "If-Range": etag})
        changed = await client.get(
            path_of(doc), headers={"Range": "bytes=10-19", "If-Range": '"another"'}
        )
        several = await client.get(path_of(doc), headers={"Range": "bytes=0-9,20-29"})
        cached = await client.get(path_of(doc), headers={"If-None-Match": etag})
    assert same.status_code == 206 and same.content == AUDIO[10:20]
    assert changed.status_code == 200 and changed.content == AUDIO  # the file changed: all of it
    assert several.status_code == 200 and several.content == AUDIO
    assert cached.status_code == 304 and cached.content == b""


async def test_a_signed_link_plays_without_the_header_and_only_that_recording(
    tmp_path: Path,
) -> None:
    async with relay_with_recording(tmp_path) as (relay, client, doc):
        other = recorded_document(1.0, customer_id="cust-7", session_id="s9")
        write_local_recording(tmp_path / "relay", other, wav_bytes(1.0))
        await relay.store.save(other)
        answer = await client.post(path_of(doc) + "/link")
        link = answer.json()
        del client.headers["Authorization"]
        played = await client.get(link["url"], headers={"Range": "bytes=0-43"})
        query = urlsplit(link["url"]).query
        elsewhere = await client.get(f"{path_of(other)}?{query}")
        key = link_key(TOKEN)
        expired = {"expires": "1000", "signature": sign_link(key, "cust-7", doc["id"], 1000)}
        late = await client.get(path_of(doc), params=expired)
    assert answer.status_code == 200
    assert link["recording"] == doc["recording"]
    assert urlsplit(link["url"]).path == path_of(doc)
    assert set(parse_qs(query)) == {"expires", "signature"}
    assert played.status_code == 206 and played.content == AUDIO[:44]
    assert played.content.startswith(b"RIFF") and played.content[8:12] == b"WAVE"
    assert elsewhere.status_code == 403
    assert late.status_code == 403


async def test_without_an_admin_token_loopback_reads_and_links_are_plain(tmp_path: Path) -> None:
    data_dir = tmp_path / "relay"
    async with running_relay(relay_settings(data_dir)) as relay:
        doc = recorded_document(2.5, customer_id="cust-7")
        write_local_recording(data_dir, doc, AUDIO)
        await relay.store.save(doc)
        async with admin_client(relay.port, token=None) as client:
            link = (await client.post(path_of(doc) + "/link")).json()
            whole = await client.get(link["url"])
    assert link["url"] == path_of(doc)
    assert whole.status_code == 200 and whole.content == AUDIO


async def test_the_export_carries_the_reference_not_the_audio(tmp_path: Path) -> None:
    async with relay_with_recording(tmp_path) as (_, client, doc):
        exported = await client.get("/api/admin/export")
        listed = await client.get("/api/admin/conversations")
    [line] = exported.text.splitlines()
    assert '"recording": ' in line and doc["recording"]["name"] in line
    assert "RIFF" not in exported.text and len(line) < 5000
    assert listed.json()["items"][0]["recording"] == doc["recording"]


@pytest.mark.parametrize("start", [0, 44, CHUNK - 1])
async def test_the_body_reads_a_range_in_chunks_never_whole(start: int) -> None:
    audio = bytes(range(256)) * (3 * CHUNK // 256 + 7)

    class CountingReader:
        where = "local"
        asked: list[int] = []

        async def info(self, name: str) -> RecordingInfo:
            raise RecordingMissing(name)

        async def read(self, name: str, offset: int, length: int) -> bytes:
            self.asked.append(length)
            return audio[offset : offset + length]

        async def aclose(self) -> None:
            return None

    reader = CountingReader()
    body = RecordingBody(reader, "x.wav", len(audio))
    assert await body.make_conditional(start, None) == len(audio)
    async with body as chunks:
        got = b"".join([piece async for piece in chunks])
    assert got == audio[start:]
    assert max(reader.asked) <= CHUNK and len(reader.asked) == -(-(len(audio) - start) // CHUNK)


async def test_a_blob_recording_streams_with_ranges(tmp_path: Path, azurite: Azurite) -> None:
    from azure.storage.blob import BlobServiceClient

    doc = recorded_document(2.5, where="blob", customer_id="cust-7", session_id="route-blob")

    def upload() -> None:
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            container = service.get_container_client("recordings")
            if not container.exists():
                container.create_container()
            container.upload_blob(doc["recording"]["name"], AUDIO, overwrite=True)

    await trio.to_thread.run_sync(upload)
    settings = relay_settings(
        tmp_path / "relay",
        admin_token=TOKEN,
        azure_storage_connection_string=azurite.connection_string,
    )
    async with running_relay(settings) as relay:
        await relay.store.save(doc)
        local = recorded_document(1.0, customer_id="cust-7", session_id="s4")
        write_local_recording(tmp_path / "relay", local, wav_bytes(1.0))
        await relay.store.save(local)
        async with admin_client(relay.port) as client:
            whole = await client.get(path_of(doc))
            suffix = await client.get(path_of(doc), headers={"Range": "bytes=-4000"})
            past = await client.get(path_of(doc), headers={"Range": f"bytes={SIZE}-"})
            older_local = await client.get(path_of(local))
    assert whole.status_code == 200 and whole.content == AUDIO
    assert re.fullmatch(r'"[^"]+"', whole.headers["etag"])
    assert suffix.status_code == 206 and suffix.content == AUDIO[-4000:]
    assert suffix.headers["content-range"] == f"bytes {SIZE - 4000}-{SIZE - 1}/{SIZE}"
    assert past.status_code == 416
    # Recordings written before Blob was configured stay playable from DATA_DIR.
    assert older_local.status_code == 200 and older_local.content == wav_bytes(1.0)
