"""SQLiteStore against real database files under tmp_path."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import trio

from app.store import ConversationStore, InvalidDocumentError, SQLiteStore, StoreError

BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GUARD = 10  # seconds any test here may take: local files only, so this is generous


def make_doc(customer_id: str, doc_id: str, start: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": doc_id,
        "customer_id": customer_id,
        "session_start": start.isoformat(),
        "session_end": (start + timedelta(minutes=1)).isoformat(),
        "disconnect_reason": "user_hangup",
        "messages": [{"role": "user", "content": "hello"}],
        "metadata": {},
        "schema_version": 1,
        **extra,
    }


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    with trio.fail_after(GUARD):
        opened = await SQLiteStore.open(tmp_path / "db" / "conversations.sqlite3")
    try:
        yield opened
    finally:
        with trio.move_on_after(GUARD, shield=True):
            await opened.aclose()


async def all_recent(
    store: ConversationStore, *, limit: int, customer_id: str | None = None
) -> list[list[dict[str, Any]]]:
    """Every page of the newest-first listing."""
    pages: list[list[dict[str, Any]]] = []
    token: str | None = None
    while True:
        page = await store.recent(limit=limit, customer_id=customer_id, continuation=token)
        pages.append(list(page.items))
        token = page.continuation
        if token is None:
            return pages
        assert len(pages) < 100, "continuation tokens do not terminate"


def newest_first(docs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    keys = [(d["session_start"], d["id"], d["customer_id"]) for d in docs]
    return sorted(keys, reverse=True)


def keys_of(docs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(d["session_start"], d["id"], d["customer_id"]) for d in docs]


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
        first = make_doc("cust-1", "ai_conv_s1_1", BASE)
        outcome = await store.save(first)
        assert outcome.request_charge is None
        assert await store.get("cust-1", "ai_conv_s1_1") == first

        second = make_doc("cust-1", "ai_conv_s1_1", BASE, disconnect_reason="client_gone")
        await store.save(second)
        await store.save(second)
        assert await store.count() == 1
        assert await store.get("cust-1", "ai_conv_s1_1") == second
        assert await store.get("cust-1", "missing") is None
        assert await store.get("cust-2", "ai_conv_s1_1") is None


async def test_overwrite_false_inserts_only_if_absent(store: SQLiteStore) -> None:
    with trio.fail_after(GUARD):
        complete = make_doc("c", "ai_conv_s_1", BASE, messages=[{"n": 1}, {"n": 2}])
        partial = make_doc("c", "ai_conv_s_1", BASE, disconnect_reason="server_crash")
        await store.save(complete)
        await store.save(partial, overwrite=False)
        assert await store.get("c", "ai_conv_s_1") == complete

        fresh = make_doc("c", "ai_conv_s_2", BASE, disconnect_reason="server_crash")
        await store.save(fresh, overwrite=False)
        assert await store.get("c", "ai_conv_s_2") == fresh
        assert await store.count() == 2


async def test_recent_pages_newest_first_without_gaps_or_duplicates(store: SQLiteStore) -> None:
    docs = [
        make_doc(f"cust-{i % 3}", f"ai_conv_{i:02d}", BASE + timedelta(minutes=i))
        for i in range(17)
    ]
    # Ties on session_start, and one id shared by two customers: the order must still be total.
    docs += [make_doc("cust-0", f"ai_conv_tie_{i}", BASE + timedelta(minutes=5)) for i in range(4)]
    docs.append(make_doc("cust-9", "ai_conv_tie_1", BASE + timedelta(minutes=5)))
    with trio.fail_after(GUARD):
        for doc in docs:
            await store.save(doc)
        for limit in (1, 4, 11, len(docs), 100):
            pages = await all_recent(store, limit=limit)
            assert all(0 < len(page) <= limit for page in pages)
            listed = [doc for page in pages for doc in page]
            assert keys_of(listed) == newest_first(docs)


async def test_recent_last_page_has_no_token_when_rows_divide_evenly(store: SQLiteStore) -> None:
    with trio.fail_after(GUARD):
        for i in range(6):
            await store.save(make_doc("c", f"ai_conv_{i}", BASE + timedelta(seconds=i)))
        first = await store.recent(limit=3)
        assert first.continuation is not None
        second = await store.recent(limit=3, continuation=first.continuation)
        assert [d["id"] for d in second.items] == ["ai_conv_2", "ai_conv_1", "ai_conv_0"]
        assert second.continuation is None


async def test_recent_by_customer(store: SQLiteStore) -> None:
    docs = [make_doc(f"cust-{i % 2}", f"ai_conv_{i}", BASE + timedelta(hours=i)) for i in range(9)]
    with trio.fail_after(GUARD):
        for doc in docs:
            await store.save(doc)
        pages = await all_recent(store, limit=2, customer_id="cust-1")
        listed = [doc for page in pages for doc in page]
        assert keys_of(listed) == newest_first([d for d in docs if d["customer_id"] == "cust-1"])
        empty = await store.recent(limit=5, customer_id="nobody")
        assert empty.items == ()
        assert empty.continuation is None


async def test_export_range_is_half_open_oldest_first_and_spans_pages(store: SQLiteStore) -> None:
    docs = [make_doc("c", f"ai_conv_{i:02d}", BASE + timedelta(hours=i)) for i in range(12)]
    docs.append(make_doc("d", "ai_conv_05", BASE + timedelta(hours=5)))  # a tie on the bound
    docs.append(make_doc("c", "ai_conv_micro", BASE + timedelta(hours=2, microseconds=1)))
    with trio.fail_after(GUARD):
        for doc in reversed(docs):
            await store.save(doc)

        since = BASE + timedelta(hours=2)
        until = BASE + timedelta(hours=9)
        exported = [doc async for doc in store.export(since=since, until=until, page_size=3)]
        expected = sorted(
            (d["session_start"], d["id"], d["customer_id"])
            for d in docs
            if since.isoformat() <= d["session_start"] < until.isoformat()
        )
        assert keys_of(exported) == expected
        assert exported[0]["session_start"] == since.isoformat()  # since is included
        assert all(d["session_start"] < until.isoformat() for d in exported)  # until is not
        assert len(exported) == 9

        # Bounds in another timezone mean the same instants.
        cest = since.astimezone(timezone(timedelta(hours=2)))
        assert cest.isoformat() != since.isoformat()
        shifted = [d async for d in store.export(since=cest, until=until, page_size=100)]
        assert keys_of(shifted) == expected

        everything = [d async for d in store.export(page_size=5)]
        assert keys_of(everything) == sorted(keys_of(docs))


async def test_export_stops_early_and_rejects_naive_bounds(store: SQLiteStore) -> None:
    with trio.fail_after(GUARD):
        for i in range(5):
            await store.save(make_doc("c", f"ai_conv_{i}", BASE + timedelta(minutes=i)))
        async with aclosing(store.export(page_size=2)) as docs:
            async for doc in docs:
                assert doc["id"] == "ai_conv_0"
                break
        with pytest.raises(ValueError, match="timezone-aware"):
            async for _ in store.export(since=datetime(2024, 1, 1)):
                pass
        with pytest.raises(ValueError, match="page_size"):
            async for _ in store.export(page_size=0):
                pass


@pytest.mark.parametrize(
    "token",
    ["", "not base64 !!", "bm9wZQ", "WzEsImEiLCJiIl0", "WzIsImEiLCJiIiwiYyJd", "é"],
    ids=["empty", "garbage", "not-json", "short", "wrong-version", "non-ascii"],
)
async def test_bad_continuation_token_is_a_clear_value_error(
    store: SQLiteStore, token: str
) -> None:
    with trio.fail_after(GUARD), pytest.raises(ValueError, match="invalid continuation token"):
        await store.recent(limit=5, continuation=token)


async def test_invalid_documents_are_rejected(store: SQLiteStore) -> None:
    with trio.fail_after(GUARD):
        with pytest.raises(InvalidDocumentError, match="id"):
            await store.save({"customer_id": "c", "session_start": BASE.isoformat()})
        with pytest.raises(InvalidDocumentError, match="session_start"):
            await store.save({"customer_id": "c", "id": "x"})
        with pytest.raises(InvalidDocumentError, match="not JSON"):
            await store.save(make_doc("c", "x", BASE, metadata={"when": BASE}))
        with pytest.raises(InvalidDocumentError, match="not JSON"):
            await store.save(make_doc("c", "x", BASE, metadata={"score": float("nan")}))
        assert await store.count() == 0


async def test_reopen_persists(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite3"
    doc = make_doc("c", "ai_conv_s_1", BASE)
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
            await store.save(make_doc("c", "x", BASE))


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
            await store.save(make_doc("c", "x", BASE))
            assert await store.count() == 1
        finally:
            await store.aclose()
