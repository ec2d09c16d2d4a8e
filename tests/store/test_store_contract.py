"""The store contract: what every ``ConversationStore`` promises, held against each back end.

Each test takes the ``store`` fixture, which runs it against SQLite (a file under tmp_path), Cosmos
DB (the session's local server, a fresh database: the container the relay provisions) and Cosmos
DB on a container made elsewhere whose indexing policy the store may not change (the listings then
run on the fallback queries).  What only one back end has lives in its own module:
test_store_sqlite.py (files, WAL, reopening) and test_store_cosmos.py (request charges, partition
keys, throttling), test_cosmos_made_elsewhere.py (indexing policies).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import trio

from app.rules.reasons import DisconnectReason
from app.settings import Settings
from app.store import ConversationStore, InvalidDocumentError, SQLiteStore
from app.store.cosmos import CosmosStore
from tests.support.cosmos_containers import made_elsewhere, refused_store
from tests.support.cosmos_server import CosmosServer, unique_database
from tests.support.documents import BASE, EXCHANGE, conversation, make_document

GUARD = 20  # seconds any test here may take: local files or a local server, so this is generous

BACK_ENDS = ["sqlite", "cosmos", "cosmos-made-elsewhere"]


@pytest.fixture(params=BACK_ENDS)
def back_end(request: pytest.FixtureRequest) -> tuple[str, CosmosServer | None]:
    """The back end to hold to the contract, with the session's Cosmos DB server if it needs it
    (looked up only then, so the SQLite runs start no server)."""
    name: str = request.param
    if name == "sqlite":
        return name, None
    server: CosmosServer = request.getfixturevalue("cosmos_server")
    return name, server


async def open_back_end(
    name: str, server: CosmosServer | None, tmp_path: Path
) -> ConversationStore:
    if server is None:
        return await SQLiteStore.open(tmp_path / "db" / "conversations.sqlite3")
    if name == "cosmos":
        return await CosmosStore.open(Settings(**server.settings()))
    database = unique_database()
    await made_elsewhere(server, database)
    fallback = await refused_store(server, database)
    assert fallback.indexing.listing_queries == "fallback"
    return fallback


@pytest.fixture
async def store(
    back_end: tuple[str, CosmosServer | None], tmp_path: Path
) -> AsyncIterator[ConversationStore]:
    """An empty store of the back end under test, closed after the test."""
    with trio.fail_after(GUARD):
        opened = await open_back_end(*back_end, tmp_path)
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


async def test_overwrite_false_inserts_only_if_absent(store: ConversationStore) -> None:
    with trio.fail_after(GUARD):
        # The final document of a call, then a checkpoint of it recovered after a crash.
        longer = conversation([*EXCHANGE, ("user", "thanks"), ("assistant", "Goodbye!")])
        complete = make_document("c", "ai_conv_s_1", BASE, record=longer)
        partial = make_document("c", "ai_conv_s_1", BASE, reason=DisconnectReason.SERVER_CRASH)
        await store.save(complete)
        await store.save(partial, overwrite=False)
        assert await store.get("c", "ai_conv_s_1") == complete

        fresh = make_document("c", "ai_conv_s_2", BASE, reason=DisconnectReason.SERVER_CRASH)
        await store.save(fresh, overwrite=False)
        assert await store.get("c", "ai_conv_s_2") == fresh
        assert await store.count() == 2


async def test_recent_pages_newest_first_without_gaps_or_duplicates(
    store: ConversationStore,
) -> None:
    docs = [
        make_document(f"cust-{i % 3}", f"ai_conv_{i:02d}", BASE + timedelta(minutes=i))
        for i in range(17)
    ]
    # Ties on session_start, and one id shared by two customers: the order must still be total.
    docs += [
        make_document("cust-0", f"ai_conv_tie_{i}", BASE + timedelta(minutes=5)) for i in range(4)
    ]
    docs.append(make_document("cust-9", "ai_conv_tie_1", BASE + timedelta(minutes=5)))
    with trio.fail_after(GUARD):
        for doc in docs:
            await store.save(doc)
        for limit in (1, 4, 11, len(docs), 100):
            pages = await all_recent(store, limit=limit)
            assert all(0 < len(page) <= limit for page in pages)
            listed = [doc for page in pages for doc in page]
            assert keys_of(listed) == newest_first(docs)


async def test_recent_last_page_has_no_token_when_rows_divide_evenly(
    store: ConversationStore,
) -> None:
    with trio.fail_after(GUARD):
        for i in range(6):
            await store.save(make_document("c", f"ai_conv_{i}", BASE + timedelta(seconds=i)))
        first = await store.recent(limit=3)
        assert first.continuation is not None
        second = await store.recent(limit=3, continuation=first.continuation)
        assert [d["id"] for d in second.items] == ["ai_conv_2", "ai_conv_1", "ai_conv_0"]
        assert second.continuation is None


async def test_recent_by_customer(store: ConversationStore) -> None:
    docs = [
        make_document(f"cust-{i % 2}", f"ai_conv_{i}", BASE + timedelta(hours=i)) for i in range(9)
    ]
    with trio.fail_after(GUARD):
        for doc in docs:
            await store.save(doc)
        pages = await all_recent(store, limit=2, customer_id="cust-1")
        listed = [doc for page in pages for doc in page]
        assert keys_of(listed) == newest_first([d for d in docs if d["customer_id"] == "cust-1"])
        empty = await store.recent(limit=5, customer_id="nobody")
        assert empty.items == ()
        assert empty.continuation is None


async def test_export_range_is_half_open_oldest_first_and_spans_pages(
    store: ConversationStore,
) -> None:
    docs = [make_document("c", f"ai_conv_{i:02d}", BASE + timedelta(hours=i)) for i in range(12)]
    docs.append(make_document("d", "ai_conv_05", BASE + timedelta(hours=5)))  # a tie on the bound
    docs.append(make_document("c", "ai_conv_micro", BASE + timedelta(hours=2, microseconds=1)))
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


async def test_export_stops_early_and_rejects_naive_bounds(store: ConversationStore) -> None:
    with trio.fail_after(GUARD):
        for i in range(5):
            await store.save(make_document("c", f"ai_conv_{i}", BASE + timedelta(minutes=i)))
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
    store: ConversationStore, token: str
) -> None:
    with trio.fail_after(GUARD), pytest.raises(ValueError, match="invalid continuation token"):
        await store.recent(limit=5, continuation=token)


async def test_invalid_documents_are_rejected(store: ConversationStore) -> None:
    with trio.fail_after(GUARD):
        # Malformed on purpose, so written by hand: no id, then no session_start.
        with pytest.raises(InvalidDocumentError, match="id"):
            await store.save({"customer_id": "c", "session_start": BASE.isoformat()})
        with pytest.raises(InvalidDocumentError, match="session_start"):
            await store.save({"customer_id": "c", "id": "x"})
        with pytest.raises(InvalidDocumentError, match="not JSON"):
            await store.save(make_document("c", "x", BASE, metadata={"when": BASE}))
        with pytest.raises(InvalidDocumentError, match="not JSON"):
            await store.save(make_document("c", "x", BASE, metadata={"score": float("nan")}))
        assert await store.count() == 0
