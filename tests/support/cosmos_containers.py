"""Cosmos DB containers the relay did not create, made as the original deployment made them.

The original call-center deployment created ``AI_Conversations`` with the SDK and no indexing
policy, so the local server gives it the default one (every path range-indexed, no composite
index).  These helpers make such a container, read or replace its policy as an operator would,
and open a store on it whose replace of the container is refused (403).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import trio
from azure.cosmos import PartitionKey

from app.settings import Settings
from app.store.cosmos import CosmosStore
from app.store.cosmos_connect import CosmosAccount, CosmosTimeouts
from tests.support.cosmos_server import CosmosServer

#: Seconds each step here may take: a local server, so this is generous.
GUARD = 20
CONTAINER = "AI_Conversations"
#: What the local server (like Cosmos DB) gives a container created without a policy.
DEFAULT_POLICY = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": '/"_etag"/?'}],
}
REFUSE_REPLACE = f"PUT:/colls/{CONTAINER}"


async def admin_account(server: CosmosServer, database: str) -> CosmosAccount:
    """A keyed client of ``database``, as the deployment that made the container had."""
    settings = Settings(**server.settings(database))
    connect = partial(CosmosAccount.connect, settings, None, CosmosTimeouts())
    return await trio.to_thread.run_sync(connect)


async def made_elsewhere(
    server: CosmosServer,
    database: str,
    docs: Iterable[dict[str, Any]] = (),
    *,
    default_ttl: int | None = None,
) -> None:
    """``AI_Conversations`` created without an indexing policy, holding ``docs``."""
    account = await admin_account(server, database)

    def make() -> None:
        db = account.client.create_database_if_not_exists(database)
        container = db.create_container(
            CONTAINER, PartitionKey("/customer_id"), default_ttl=default_ttl
        )
        for doc in docs:
            container.upsert_item(doc)

    try:
        with trio.fail_after(GUARD):
            await trio.to_thread.run_sync(make)
    finally:
        await trio.to_thread.run_sync(account.close)


async def container_properties(server: CosmosServer, database: str) -> dict[str, Any]:
    account = await admin_account(server, database)
    try:
        container = account.client.get_database_client(database).get_container_client(CONTAINER)
        with trio.fail_after(GUARD):
            properties: dict[str, Any] = await trio.to_thread.run_sync(container.read)
            return properties
    finally:
        await trio.to_thread.run_sync(account.close)


async def set_policy(server: CosmosServer, database: str, policy: dict[str, Any]) -> None:
    """Replace the container's indexing policy, as an operator (or another deployment) would."""
    account = await admin_account(server, database)
    try:
        db = account.client.get_database_client(database)
        replace = partial(
            db.replace_container, CONTAINER, PartitionKey("/customer_id"), indexing_policy=policy
        )
        with trio.fail_after(GUARD):
            await trio.to_thread.run_sync(replace)
    finally:
        await trio.to_thread.run_sync(account.close)


async def open_store(settings: Settings, **kwargs: Any) -> CosmosStore:
    with trio.fail_after(GUARD):
        return await CosmosStore.open(settings, **kwargs)


async def refused_store(server: CosmosServer, database: str) -> CosmosStore:
    """A keyed store whose replace of the container is refused (403), as on an account with
    ``disableKeyBasedMetadataWriteAccess``."""
    await trio.to_thread.run_sync(server.fail, 1, 403, REFUSE_REPLACE)
    try:
        return await open_store(Settings(**server.settings(database)))
    finally:
        await trio.to_thread.run_sync(server.fail, 0, 0)
