"""Redaction through the real server: a caller reads out a card number, an e-mail address and a
phone number.  The stored document, a checkpoint and a spooled document hold none of them (nor
does any other file the relay wrote), the counts are recorded, and the model still got the text
as the caller typed it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
import trio

from app.store.recorder import DurableRecorder
from app.store.sqlite import SQLiteStore
from tests.support.gated_store import GatedStore, factory_for
from tests.support.harness import (
    IO_TIMEOUT,
    RunningRelay,
    connect,
    copying_into,
    relay_settings,
    running_relay,
)
from tests.support.pii import CARD, COUNTS, EMAIL, PHONE, RAW, REDACTED, SAID


def recorder_of(relay: RunningRelay) -> DurableRecorder:
    recorder = relay.app.relay.recorder
    assert recorder is not None
    return recorder


def assert_redacted(document: dict[str, Any]) -> None:
    [said] = [m["message"] for m in document["messages"] if m["sender"] == "user"]
    assert said == REDACTED
    assert document["redactions"] == COUNTS
    text = json.dumps(document)
    for raw in RAW:
        assert raw not in text


def assert_no_file_holds_raw_values(root: Path) -> None:
    files = [path for path in root.rglob("*") if path.is_file()]
    assert files, "the relay wrote nothing?"
    for path in files:
        data = path.read_bytes()
        for raw in RAW:
            assert raw.encode() not in data, f"{raw!r} in {path}"


async def wait_for_checkpoint(recorder: DurableRecorder) -> dict[str, Any]:
    """Poll (bounded) until a checkpoint holds the caller's turn; its document."""
    with trio.fail_after(IO_TIMEOUT):
        while True:
            for path in recorder.spool.checkpoints():
                entry = recorder.spool.read(path)
                if entry is not None and any(m["sender"] == "user" for m in entry.doc["messages"]):
                    return entry.doc
            await trio.sleep(0.01)


async def test_the_stored_document_and_the_checkpoint_hold_no_raw_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="app")
    settings = relay_settings(tmp_path, checkpoint_interval=0.05)
    assert settings.redact_pii
    sent: list[str] = []
    async with running_relay(settings, wrap_connector=copying_into(sent)) as relay:
        async with connect(relay, customer_id="caller") as client:
            await client.say(SAID)
            checkpoint = await wait_for_checkpoint(recorder_of(relay))
            await client.hang_up()
        await relay.wait_calls_ended()
        [document] = await relay.documents()
    assert_redacted(checkpoint)
    assert_redacted(document)
    assert_no_file_holds_raw_values(tmp_path)
    # The tracker's debug line for the message is redacted too.
    assert f"Tracked user message: {REDACTED}" in caplog.messages
    for raw in RAW:
        assert raw not in caplog.text
    # The model heard the caller as they were: the relay forwards unchanged.
    assert any(CARD in frame and EMAIL in frame and PHONE in frame for frame in sent)


@pytest.fixture
async def failing(tmp_path: Path) -> AsyncGenerator[GatedStore, None]:
    inner = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    try:
        yield GatedStore(inner, mode="fail")
    finally:
        await inner.aclose()


async def test_a_spooled_document_holds_no_raw_values(tmp_path: Path, failing: GatedStore) -> None:
    settings = relay_settings(tmp_path, save_timeout=0.5)
    async with running_relay(settings, store_factory=factory_for(failing)) as relay:
        async with connect(relay, customer_id="spooled") as client:
            await client.say(SAID)
            await client.hang_up()
        await relay.wait_calls_ended()
        recorder = recorder_of(relay)
        assert recorder.spooled == 1
        [path] = recorder.spool.pending()
        entry = recorder.spool.read(path)
    assert entry is not None
    assert_redacted(entry.doc)
    assert_no_file_holds_raw_values(tmp_path)


async def test_with_redaction_off_the_document_keeps_what_was_said(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, redact_pii=False)
    async with running_relay(settings) as relay:
        async with connect(relay, customer_id="unredacted") as client:
            await client.say(SAID)
            await client.hang_up()
        await relay.wait_calls_ended()
        [document] = await relay.documents()
    assert [m["message"] for m in document["messages"] if m["sender"] == "user"] == [SAID]
    assert "redactions" not in document
