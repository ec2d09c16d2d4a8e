"""What only SQLiteStore has, against real database files under tmp_path: the file, its WAL
journal, reopening, and a path that cannot be used.  The contract every store keeps is
test_store_contract.py, run against SQLite too."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from app.store import ConversationStore, SQLiteStore, StoreError
from tests.support.documents import BASE, make_document

GUARD = 10  # seconds any test here may take: local files only, so this is generous


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    with trio.fail_after(GUARD):
        opened = await SQLiteStore.open(tmp_path / "db" / "conversations.sqlite3")
    try:
        yield opened
    finally:
        with trio.move_on_after(GUARD, shield=True):
            await opened.aclose()


async def test_open_creates_parent_dir_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "conversations.sqlite3"
    with trio.fail_after(GUARD):
        store: ConversationStore = await SQLiteStore.open(path)
        try:
            assert store.name == "sqlite"
            await store.ping()
            assert await store.count() == 0
        finally:
            await store.aclose()

    def journal_mode() -> str:
        with sqlite3.connect(path) as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])

    assert await trio.to_thread.run_sync(journal_mode) == "wal"


async def test_save_get_and_upsert_is_idempotent(store: SQLiteStore) -> None:
    with trio.fail_after(GUARD):
        first = make_document("cust-1", "ai_conv_s1_1", BASE)
        outcome = await store.save(first)
        assert outcome.request_charge is None
        assert await store.get("cust-1", "ai_conv_s1_1") == first

        second = make_document("cust-1", "ai_conv_s1_1", BASE, disconnect_reason="client_gone")
        await store.save(second)
        await store.save(second)
        assert await store.count() == 1
        assert await store.get("cust-1", "ai_conv_s1_1") == second
        assert await store.get("cust-1", "missing") is None
        assert await store.get("cust-2", "ai_conv_s1_1") is None


async def test_reopen_persists(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite3"
    doc = make_document("c", "ai_conv_s_1", BASE)
    with trio.fail_after(GUARD):
        first = await SQLiteStore.open(path)
        await first.save(doc)
        await first.aclose()
        second = await SQLiteStore.open(path)
        try:
            assert await second.count() == 1
            assert await second.get("c", "ai_conv_s_1") == doc
        finally:
            await second.aclose()


async def test_closed_store_raises_store_error_and_aclose_is_idempotent(
    tmp_path: Path,
) -> None:
    with trio.fail_after(GUARD):
        store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
        await store.aclose()
        await store.aclose()
        with pytest.raises(StoreError, match="closed"):
            await store.ping()
        with pytest.raises(StoreError, match="closed"):
            await store.save(make_document("c", "x", BASE))


async def test_unusable_path_is_a_store_error_and_recovers_once_fixed(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the database directory should be")
    store = SQLiteStore(blocker / "conversations.sqlite3")
    with trio.fail_after(GUARD):
        with pytest.raises(StoreError):
            await store.ping()
        with pytest.raises(StoreError):
            await SQLiteStore.open(blocker / "conversations.sqlite3")
        blocker.unlink()
        try:
            await store.ping()  # the connection is opened lazily, so the store recovers
            await store.save(make_document("c", "x", BASE))
            assert await store.count() == 1
        finally:
            await store.aclose()
