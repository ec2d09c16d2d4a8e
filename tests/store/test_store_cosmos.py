"""CosmosStore against the local Cosmos DB server (tests/support/cosmos_server.py).

What only Cosmos has: the container it provisions, request charges, the queries it sends and their
partition keys, throttling, server errors and the ids it refuses.  The behaviours every store
promises are test_store_contract.py, run against Cosmos too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from azure.cosmos import PartitionKey

from app.settings import Settings
from app.store import InvalidDocumentError, StoreError
from app.store.cosmos import CosmosStore
from app.store.cosmos_connect import CosmosTimeouts, NotProvisionedError
from app.store.cosmos_schema import INDEXING_POLICY
from app.store.factory import open_store
from tests.support.cosmos_server import CosmosServer
from tests.support.documents import BASE, make_document

GUARD = 20  # seconds any test here may take: a local server, so this is generous


def settings_for(server: CosmosServer, **overrides: Any) -> Settings:
    return Settings(**{**server.settings(), **overrides})


async def opened(settings: Settings, **kwargs: Any) -> CosmosStore:
    with trio.fail_after(GUARD):
        return await CosmosStore.open(settings, **kwargs)


@pytest.fixture
async def store(cosmos_server: CosmosServer) -> AsyncIterator[CosmosStore]:
    cosmos = await opened(settings_for(cosmos_server))
    try:
        yield cosmos
    finally:
        with trio.move_on_after(GUARD, shield=True):
            await cosmos.aclose()


def doc_requests(server: CosmosServer, store: CosmosStore) -> list[dict[str, Any]]:
    """The requests the server got for documents of ``store``'s container."""
    return [r for r in server.requests(store.account.database) if "/docs" in r["url"]]


async def test_factory_opens_a_cosmos_store_that_provisions_its_container(
    cosmos_server: CosmosServer,
) -> None:
    settings = settings_for(cosmos_server)
    with trio.fail_after(GUARD):
        store = await open_store(settings)
        try:
            assert isinstance(store, CosmosStore)
            assert store.name == "cosmos"
            await store.ping()
            assert await store.count() == 0
            container = await trio.to_thread.run_sync(store.account.container)
            properties = await trio.to_thread.run_sync(container.read)
        finally:
            await store.aclose()
    assert properties["id"] == "AI_Conversations"
    assert properties["partitionKey"]["paths"] == ["/customer_id"]
    assert properties["indexingPolicy"]["compositeIndexes"] == INDEXING_POLICY["compositeIndexes"]
    assert settings.cosmos_database.startswith("test-")
    posted = [r["url"] for r in cosmos_server.requests(settings.cosmos_database)]
    assert f"/dbs/{settings.cosmos_database}/colls/" in posted  # the container was created


async def test_opening_twice_reuses_the_container(cosmos_server: CosmosServer) -> None:
    settings = settings_for(cosmos_server)
    doc = make_document("c", "ai_conv_s_1", BASE)
    first = await opened(settings)
    try:
        with trio.fail_after(GUARD):
            await first.save(doc)
    finally:
        await first.aclose()
    second = await opened(settings)
    try:
        with trio.fail_after(GUARD):
            assert await second.get("c", "ai_conv_s_1") == doc
    finally:
        await second.aclose()


async def test_save_is_an_upsert_that_reports_its_request_charge(
    store: CosmosStore, cosmos_server: CosmosServer
) -> None:
    first = make_document("cust-1", "ai_conv_s1_1", BASE)
    second = make_document("cust-1", "ai_conv_s1_1", BASE, disconnect_reason="client_gone")
    with trio.fail_after(GUARD):
        outcome = await store.save(first)
        assert outcome.request_charge == 1.0  # the local server charges 1 RU for everything
        await store.save(second)
        await store.save(second)
        assert await store.count() == 1
        stored = await store.get("cust-1", "ai_conv_s1_1")
        assert stored == second  # Cosmos's system properties (_rid, _etag, _ts...) are stripped
        assert await store.get("cust-1", "missing") is None
        assert await store.get("cust-2", "ai_conv_s1_1") is None
    writes = [r for r in doc_requests(cosmos_server, store) if r["method"] == "POST"]
    writes = [r for r in writes if not r["query"]]
    assert len(writes) == 3
    assert all(r["upsert"] and r["partitionKey"] == '["cust-1"]' for r in writes)


async def test_reads_by_customer_stay_in_the_partition_and_the_rest_cross_it(
    store: CosmosStore, cosmos_server: CosmosServer
) -> None:
    with trio.fail_after(GUARD):
        for n in range(3):
            start = BASE + timedelta(minutes=n)
            await store.save(make_document(f"cust-{n}", f"ai_conv_{n}", start))
        assert await store.count() == 3
        mine = await store.recent(limit=10, customer_id="cust-1")
        everyone = await store.recent(limit=10)
    assert [d["id"] for d in mine.items] == ["ai_conv_1"]
    assert [d["id"] for d in everyone.items] == ["ai_conv_2", "ai_conv_1", "ai_conv_0"]
    queries = [r for r in doc_requests(cosmos_server, store) if r["query"]]
    assert [(r["partitionKey"], r["crossPartition"]) for r in queries] == [
        (None, True),  # SELECT VALUE COUNT(1) FROM c
        ('["cust-1"]', False),  # the by-customer listing: one partition
        (None, True),  # the newest-first listing across customers
    ]


async def test_throttled_saves_are_retried_by_the_sdk(
    private_cosmos_server: CosmosServer,
) -> None:
    server = private_cosmos_server
    timeouts = CosmosTimeouts(throttle_retries=3, throttle_max_wait=5)
    store = await opened(settings_for(server), timeouts=timeouts)
    doc = make_document("c", "ai_conv_throttled", BASE)
    try:
        await trio.to_thread.run_sync(server.fail, 2, 429)
        with trio.fail_after(GUARD):
            outcome = await store.save(doc)
            assert outcome.request_charge == 1.0
            assert await store.get("c", "ai_conv_throttled") == doc

        # Throttled beyond the retries allowed: the save fails as "not now", to be spooled.
        await trio.to_thread.run_sync(server.fail, 100, 429)
        with trio.fail_after(GUARD), pytest.raises(StoreError, match="429"):
            await store.save(make_document("c", "ai_conv_never", BASE))
    finally:
        await trio.to_thread.run_sync(server.fail, 0, 0)
        await store.aclose()
    attempts = [r for r in doc_requests(server, store) if r["method"] == "POST"]
    assert len([r for r in attempts if r["upsert"]]) == 3 + 4  # 2 throttled + 1, then 1 + 3


async def test_server_errors_are_store_errors_and_bad_requests_are_invalid_documents(
    private_cosmos_server: CosmosServer,
) -> None:
    server = private_cosmos_server
    store = await opened(settings_for(server))
    try:
        await trio.to_thread.run_sync(server.fail, 1000, 503)
        with trio.fail_after(GUARD):
            with pytest.raises(StoreError, match="503"):
                await store.save(make_document("c", "ai_conv_503", BASE))
            with pytest.raises(StoreError, match="503"):
                await store.count()
        await trio.to_thread.run_sync(server.fail, 1, 400)
        with trio.fail_after(GUARD), pytest.raises(InvalidDocumentError, match="400"):
            await store.save(make_document("c", "ai_conv_400", BASE))
        with trio.fail_after(GUARD):
            await store.save(make_document("c", "ai_conv_ok", BASE))
            assert [d["id"] for d in (await store.recent(limit=5)).items] == ["ai_conv_ok"]
    finally:
        await trio.to_thread.run_sync(server.fail, 0, 0)
        await store.aclose()


async def test_ids_cosmos_refuses_are_invalid_documents(store: CosmosStore) -> None:
    with trio.fail_after(GUARD):
        for bad in ("a/b", "a\\b", "a?b", "a#b", "x" * 256):
            with pytest.raises(InvalidDocumentError, match="not a valid Cosmos DB id"):
                await store.save(make_document("c", bad, BASE))
        assert await store.count() == 0


async def test_unreachable_account_fails_to_open_with_a_store_error(tmp_path: Path) -> None:
    # Port 1 on the loopback refuses connections.
    settings = Settings(
        cosmos_endpoint="https://127.0.0.1:1/",
        cosmos_key="a2V5",
        cosmos_verify_tls=False,
        data_dir=tmp_path,
    )
    with trio.fail_after(GUARD), pytest.raises(StoreError, match=r"127\.0\.0\.1:1"):
        await CosmosStore.open(settings)


async def test_closed_store_raises_store_error_and_aclose_is_idempotent(
    cosmos_server: CosmosServer,
) -> None:
    store = await opened(settings_for(cosmos_server))
    with trio.fail_after(GUARD):
        await store.aclose()
        await store.aclose()
        with pytest.raises(StoreError, match="closed"):
            await store.ping()
        with pytest.raises(StoreError, match="closed"):
            await store.save(make_document("c", "x", BASE))


async def test_a_container_with_another_partition_key_is_reported(
    cosmos_server: CosmosServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(cosmos_server, cosmos_container="Wrongly_Partitioned")
    # Someone made the container before, partitioned by something else.
    other = await opened(attrs.evolve(settings, cosmos_container="AI_Conversations"))
    try:
        database = other.account.client.get_database_client(settings.cosmos_database)
        await trio.to_thread.run_sync(
            database.create_container, "Wrongly_Partitioned", PartitionKey("/session_id")
        )
    finally:
        await other.aclose()
    store = await opened(settings)
    try:
        assert "partitioned by /session_id" in caplog.text
        with trio.fail_after(GUARD), pytest.raises(NotProvisionedError, match="/customer_id"):
            await store.save(make_document("c", "ai_conv_x", BASE))
    finally:
        await store.aclose()


async def test_a_malformed_key_fails_to_open_with_a_store_error(
    cosmos_server: CosmosServer,
) -> None:
    settings = settings_for(cosmos_server, cosmos_key="not base64!")
    with trio.fail_after(GUARD), pytest.raises(StoreError, match="base64"):
        await CosmosStore.open(settings)
