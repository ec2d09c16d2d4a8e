"""Local recordings expire with their documents: a pass deletes the recordings older than the
grace whose document the store no longer has, and nothing else (a real SQLite store, real files)."""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import pytest
import trio

from app.store.base import StoreError
from app.store.recording_retention import keep_pruning, prune_recordings
from app.store.sqlite import SQLiteStore
from tests.support.polling import eventually
from tests.support.recordings import recorded_document, wav_bytes, write_local_recording

DAY = 86400.0
AUDIO = wav_bytes(0.1)


def aged(path: Path, days: float) -> Path:
    """Make ``path`` look last written ``days`` ago."""
    then = time.time() - days * DAY
    os.utime(path, (then, then))
    return path


async def test_a_pass_deletes_only_old_recordings_whose_document_is_gone(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    try:
        kept_doc = recorded_document(1.0, session_id="kept")
        await store.save(kept_doc)
        kept = aged(write_local_recording(tmp_path, kept_doc, AUDIO), 30)
        expired = aged(
            write_local_recording(tmp_path, recorded_document(1.0, session_id="gone"), AUDIO), 8
        )
        young = aged(
            write_local_recording(tmp_path, recorded_document(1.0, session_id="new"), AUDIO), 1
        )
        other = tmp_path / "recordings" / "notes.txt"
        other.write_text("not a recording")
        aged(other, 30)
        result = await prune_recordings(
            tmp_path / "recordings", store, now=time.time(), grace=7 * DAY
        )
    finally:
        await store.aclose()
    assert result.deleted == (expired.name,)
    assert result.candidates == 2 and result.kept == 1
    assert not expired.exists()
    assert kept.exists() and young.exists() and other.exists()


async def test_a_store_that_cannot_be_read_deletes_nothing(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    orphan = aged(write_local_recording(tmp_path, recorded_document(1.0), AUDIO), 30)
    await store.aclose()  # a closed store answers StoreError, as an unreachable one does
    with pytest.raises(StoreError):
        await prune_recordings(tmp_path / "recordings", store, now=time.time(), grace=7 * DAY)
    assert orphan.exists()


async def test_no_folder_is_no_work(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    try:
        result = await prune_recordings(tmp_path / "recordings", store, now=time.time())
    finally:
        await store.aclose()
    assert result.candidates == 0 and result.deleted == ()


async def test_the_relay_prunes_pass_after_pass(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    folder = tmp_path / "recordings"
    try:
        first = aged(
            write_local_recording(tmp_path, recorded_document(1.0, session_id="a"), AUDIO), 9
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(keep_pruning, folder, store, interval=0.05, first_delay=0.01)
            )
            await eventually(lambda: not first.exists(), deadline=10)
            second = aged(
                write_local_recording(tmp_path, recorded_document(1.0, session_id="b"), AUDIO), 9
            )
            await eventually(lambda: not second.exists(), deadline=10)
            nursery.cancel_scope.cancel()
    finally:
        await store.aclose()
