"""A Cosmos DB container the relay did not create: Cosmos DB's default indexing policy.

Each test makes ``AI_Conversations`` the way the original call-center deployment did -- with the
SDK and no indexing policy, so the local server gives it the default one (every path
range-indexed, no composite index) and refuses the relay's three-property ``ORDER BY`` exactly as
Cosmos DB does.  Then:

- with the account key the store adds the composite index (an online update) and keeps the
  container's documents and settings;
- when it may not change the container (Entra ID, or an account that refuses the replace with
  403), the listings use the fallback queries -- the store contract runs against such a store
  too (tests/store/test_store_contract.py) -- and the store says which command adds the index.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
import trio
from azure.cosmos.exceptions import CosmosHttpResponseError

from app.settings import Settings
from app.store.cosmos import CosmosStore
from app.store.cosmos_indexing import LISTING_INDEX
from tests.support.cosmos_containers import (
    CONTAINER,
    DEFAULT_POLICY,
    GUARD,
    admin_account,
    container_properties,
    made_elsewhere,
    open_store,
    refused_store,
    set_policy,
)
from tests.support.cosmos_server import CosmosServer, unique_database
from tests.support.credentials import FakeCredential
from tests.support.documents import BASE, make_document


def tied_docs() -> list[dict[str, Any]]:
    """Documents as the original deployment wrote them, with ties on session_start."""
    docs = [
        make_document(f"cust-{n % 3}", f"ai_conv_{n:02d}", BASE + timedelta(minutes=n))
        for n in range(7)
    ]
    docs += [
        make_document(f"cust-{n}", f"ai_conv_tie_{n}", BASE + timedelta(minutes=3))
        for n in range(4)
    ]
    docs.append(make_document("cust-9", "ai_conv_tie_1", BASE + timedelta(minutes=3)))
    return docs


def newest_first(docs: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
    keys = [(d["session_start"], d["id"], d["customer_id"]) for d in docs]
    return sorted(keys, reverse=True)


async def listed(store: CosmosStore, limit: int, **kwargs: Any) -> list[tuple[str, str, str]]:
    """Every document of the newest-first listing, ``limit`` at a time."""
    keys: list[tuple[str, str, str]] = []
    token: str | None = None
    with trio.fail_after(GUARD):
        while True:
            page = await store.recent(limit=limit, continuation=token, **kwargs)
            keys += [(d["session_start"], d["id"], d["customer_id"]) for d in page.items]
            token = page.continuation
            if token is None:
                return keys


def query_requests(server: CosmosServer, database: str) -> list[dict[str, Any]]:
    return [r for r in server.requests(database) if r["query"]]


def container_writes(server: CosmosServer, database: str) -> list[dict[str, Any]]:
    url = f"/dbs/{database}/colls/{CONTAINER}/"
    return [r for r in server.requests(database) if r["method"] == "PUT" and r["url"] == url]


async def test_a_default_policy_container_refuses_the_listing_query_as_cosmos_does(
    cosmos_server: CosmosServer,
) -> None:
    database = unique_database()
    await made_elsewhere(cosmos_server, database, [make_document("c", "ai_conv_1", BASE)])
    properties = await container_properties(cosmos_server, database)
    assert properties["indexingPolicy"] == DEFAULT_POLICY
    account = await admin_account(cosmos_server, database)
    container = account.client.get_database_client(database).get_container_client(CONTAINER)
    query = "SELECT * FROM c ORDER BY c.session_start DESC, c.id DESC, c.customer_id DESC"
    try:
        items = container.query_items(query, enable_cross_partition_query=True)
        with trio.fail_after(GUARD), pytest.raises(CosmosHttpResponseError) as raised:
            await trio.to_thread.run_sync(list, items)
    finally:
        await trio.to_thread.run_sync(account.close)
    assert raised.value.status_code == 400
    assert (
        "The order by query does not have a corresponding composite index that it can be "
        "served from." in str(raised.value)
    )


async def test_with_the_key_the_store_adds_the_composite_index_and_keeps_the_container(
    cosmos_server: CosmosServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.store.cosmos_index_check")
    database = unique_database()
    docs = tied_docs()
    await made_elsewhere(cosmos_server, database, docs, default_ttl=86400)
    settings = Settings(**cosmos_server.settings(database))
    store = await open_store(settings)
    try:
        assert store.indexing.state == "added"
        assert store.indexing.listing_queries == "composite"
        health = store.health()["indexing"]
        assert health["state"] == "added" and "fix" not in health
        assert "composite index (/session_start ascending" in health["detail"]
        properties = await container_properties(cosmos_server, database)
        assert properties["indexingPolicy"] == {
            **DEFAULT_POLICY,
            "compositeIndexes": [LISTING_INDEX],
        }
        assert properties["defaultTtl"] == 86400  # the replace kept what it did not change
        with trio.fail_after(GUARD):
            assert await store.count() == len(docs)  # the documents stayed

        before = len(query_requests(cosmos_server, database))
        assert await listed(store, limit=3) == newest_first(docs)
        pages = (len(docs) + 2) // 3
        assert len(query_requests(cosmos_server, database)) - before == pages  # one query each
    finally:
        await store.aclose()
    logged = [r for r in caplog.records if "added to the indexing policy" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING
    assert f"{database}/{CONTAINER}" in logged[0].getMessage()
    assert len(container_writes(cosmos_server, database)) == 1

    again = await open_store(settings)  # the next start finds it done
    try:
        assert again.indexing.state == "ok"
    finally:
        await again.aclose()
    assert len(container_writes(cosmos_server, database)) == 1


async def test_a_refused_update_leaves_the_fallback_queries_and_the_command_that_fixes_it(
    cosmos_server: CosmosServer, caplog: pytest.LogCaptureFixture
) -> None:
    database = unique_database()
    docs = tied_docs()
    await made_elsewhere(cosmos_server, database, docs)
    store = await refused_store(cosmos_server, database)
    try:
        status = store.indexing
        assert (status.state, status.listing_queries) == ("missing", "fallback")
        assert "the account refused to change the indexing policy (403 " in status.detail
        assert status.fix is not None
        words = shlex.split(status.fix)
        assert words[:5] == ["az", "cosmosdb", "sql", "container", "update"]
        assert words[words.index("-d") + 1] == database
        assert words[words.index("-n") + 1] == CONTAINER
        completed = json.loads(words[words.index("--idx") + 1])
        assert completed == {**DEFAULT_POLICY, "compositeIndexes": [LISTING_INDEX]}
        assert store.health() == {"indexing": status.as_json()}
        assert store.health()["indexing"]["fix"] == status.fix

        before = len(cosmos_server.requests(database))
        for limit in (1, 3, 5, 100):
            assert await listed(store, limit=limit) == newest_first(docs)
        mine = [k for k in newest_first(docs) if k[2] == "cust-1"]
        assert await listed(store, limit=1, customer_id="cust-1") == mine
        sent = cosmos_server.requests(database)[before:]
        assert sent and all(r["query"] for r in sent)  # no composite attempt, no re-check
    finally:
        await store.aclose()
    [warning] = [r for r in caplog.records if status.fix in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert len(container_writes(cosmos_server, database)) == 1  # the one refused


async def test_with_entra_id_nothing_is_changed_until_an_operator_runs_the_command(
    cosmos_server: CosmosServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.store.cosmos_index_check")
    database = unique_database()
    docs = tied_docs()
    await made_elsewhere(cosmos_server, database, docs)
    settings = Settings(**{**cosmos_server.settings(database), "cosmos_key": None})
    store = await open_store(
        settings, credential_factory=FakeCredential, index_recheck_interval=0.0
    )
    try:
        status = store.indexing
        assert (status.state, status.listing_queries) == ("missing", "fallback")
        assert "with Entra ID the relay cannot change" in status.detail
        assert status.fix is not None
        assert await listed(store, limit=2) == newest_first(docs)
        assert container_writes(cosmos_server, database) == []  # not even tried

        # The operator runs the command the store printed.
        words = shlex.split(status.fix)
        await set_policy(cosmos_server, database, json.loads(words[words.index("--idx") + 1]))
        before = len(query_requests(cosmos_server, database))
        assert await listed(store, limit=100) == newest_first(docs)
        assert len(query_requests(cosmos_server, database)) - before == 1  # the composite query
        assert store.indexing.state == "ok"
        assert store.health()["indexing"]["listing_queries"] == "composite"
    finally:
        await store.aclose()
    assert any("serves the relay" in r.getMessage() for r in caplog.records)


async def test_a_listing_query_refused_later_falls_back_while_the_index_is_rebuilt(
    cosmos_server: CosmosServer, caplog: pytest.LogCaptureFixture
) -> None:
    database = unique_database()
    settings = Settings(**cosmos_server.settings(database))
    store = await open_store(settings, index_recheck_interval=0.0)  # creates the container
    docs = tied_docs()
    try:
        assert store.indexing.state == "ok"
        with trio.fail_after(GUARD):
            for doc in docs:
                await store.save(doc)
        # Someone puts the default policy back while the relay runs.
        await set_policy(cosmos_server, database, DEFAULT_POLICY)
        with trio.fail_after(GUARD):
            page = await store.recent(limit=4)
        assert newest_first(page.items) == newest_first(docs)[:4]
        assert str(store.indexing.state) == "building"  # str(): mypy kept the "ok" above
        assert store.indexing.listing_queries == "fallback"
        assert len(container_writes(cosmos_server, database)) == 2  # theirs, then the relay's
        # The next listing reads the policy again: the index is there and serves it.
        assert await listed(store, limit=4) == newest_first(docs)
        assert store.indexing.state == "ok"
    finally:
        await store.aclose()
    assert any("still refuses queries" in r.getMessage() for r in caplog.records)
