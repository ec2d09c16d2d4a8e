"""Entra ID auth against the local Cosmos DB server, with a fake token credential.

The SDK accepts any ``azure.core.credentials.TokenCredential``; the fake hands out a known token
and records where it was made and used, and the server's request log shows what the SDK sent:
``Authorization: type=aad&ver=1.0&sig=<token>`` (Cosmos DB's form of a bearer token).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import attrs
import httpx
import pytest
import trio

from app.settings import Settings
from app.store import StoreError
from app.store.cosmos import CosmosStore
from app.store.cosmos_connect import NotProvisionedError
from tests.support.cosmos_server import CosmosServer
from tests.support.credentials import TOKEN, FakeCredential
from tests.support.documents import BASE, make_document
from tests.support.harness import IO_TIMEOUT, running_relay

GUARD = 20


def entra_settings(server: CosmosServer, database: str) -> Settings:
    """Settings with no key: the store authenticates with Entra ID."""
    return Settings(**{**server.settings(database), "cosmos_key": None})


async def provision(server: CosmosServer, database: str) -> None:
    """Create the database and container with the key, as infra/ would."""
    with trio.fail_after(GUARD):
        keyed = await CosmosStore.open(Settings(**server.settings(database)))
        await keyed.aclose()


async def test_the_client_is_built_with_the_credential_and_sends_aad_tokens(
    cosmos_server: CosmosServer,
) -> None:
    database = "entra-ok"
    await provision(cosmos_server, database)
    before = len(cosmos_server.requests(database))
    made: list[FakeCredential] = []

    def factory() -> FakeCredential:
        made.append(FakeCredential())
        return made[-1]

    doc = make_document("cust-aad", "ai_conv_aad_1", BASE)
    with trio.fail_after(GUARD):
        store = await CosmosStore.open(
            entra_settings(cosmos_server, database), credential_factory=factory
        )
        try:
            outcome = await store.save(doc)
            assert await store.get("cust-aad", "ai_conv_aad_1") == doc
            assert await store.count() == 1
        finally:
            await store.aclose()

    assert outcome.request_charge == 1.0
    [credential] = made
    requests = cosmos_server.requests(database)[before:]
    assert requests, "the store sent nothing"
    assert {r["authorization"] for r in requests} == {f"type=aad&ver=1.0&sig={TOKEN}"}
    # No attempt to create anything: the data-plane role could not.
    assert not [r for r in requests if r["method"] == "POST" and r["url"].endswith("/colls/")]
    # Made and used in worker threads, never on the event loop; closed with the store.
    loop_thread = threading.get_ident()
    assert credential.made_in != loop_thread
    assert credential.used_in and loop_thread not in credential.used_in
    assert credential.scopes[0] == ("https://127.0.0.1/.default",)
    assert credential.closed


async def test_missing_database_is_explained_and_checked_again_until_created(
    cosmos_server: CosmosServer, caplog: pytest.LogCaptureFixture
) -> None:
    database = "entra-missing-db"
    settings = entra_settings(cosmos_server, database)
    caplog.set_level(logging.ERROR, logger="app.store.cosmos")
    with trio.fail_after(GUARD):
        store = await CosmosStore.open(settings, credential_factory=FakeCredential)
    try:
        [record] = [r for r in caplog.records if r.name == "app.store.cosmos"]
        logged = record.getMessage()
        assert f"database '{database}' does not exist" in logged
        assert "infra/main.bicep" in logged
        create = f"az cosmosdb sql database create -g RESOURCE_GROUP -a ACCOUNT_NAME -n {database}"
        assert create in logged
        with trio.fail_after(GUARD):
            with pytest.raises(NotProvisionedError) as raised:
                await store.ping()
            assert str(raised.value) in logged
            with pytest.raises(StoreError, match="does not exist"):
                await store.save(make_document("c", "ai_conv_early", BASE))

            await provision(cosmos_server, database)  # the operator deploys infra/
            await store.ping()
            await store.save(make_document("c", "ai_conv_later", BASE))
            assert [d["id"] for d in (await store.recent(limit=5)).items] == ["ai_conv_later"]
    finally:
        await store.aclose()


async def test_readyz_says_which_container_is_missing_and_how_to_create_it(
    cosmos_server: CosmosServer, tmp_path: Path
) -> None:
    database = "entra-missing-container"
    await provision(cosmos_server, database)
    settings = attrs.evolve(
        entra_settings(cosmos_server, database),
        cosmos_container="Not_There",
        port=0,
        data_dir=tmp_path,
    )

    async def entra_store(settings: Settings) -> CosmosStore:
        return await CosmosStore.open(settings, credential_factory=FakeCredential)

    async with (
        running_relay(settings, store_factory=entra_store) as relay,
        httpx.AsyncClient(timeout=IO_TIMEOUT) as http,
    ):
        answer = await http.get(f"http://127.0.0.1:{relay.port}/readyz")
    # The relay takes calls (they are spooled); what is missing is in the body.
    assert answer.status_code == 200
    store = answer.json()["store"]
    assert store["reachable"] is False
    reason = store["error"]
    assert f"container 'Not_There' in database '{database}' does not exist" in reason
    assert (
        f"az cosmosdb sql container create -g RESOURCE_GROUP -a ACCOUNT_NAME -d {database} "
        f"-n Not_There -p /customer_id --idx @infra/modules/cosmos/indexing-policy.json"
    ) in reason


async def test_a_refused_identity_is_told_which_role_it_needs(
    private_cosmos_server: CosmosServer,
) -> None:
    server = private_cosmos_server
    database = "entra-refused"
    await provision(server, database)
    # The container read that checks provisioning is refused, as without a role assignment.
    await trio.to_thread.run_sync(server.fail, 1, 403, f"/dbs/{database}/colls/")
    with trio.fail_after(GUARD):
        store = await CosmosStore.open(
            entra_settings(server, database), credential_factory=FakeCredential
        )
    try:
        with trio.fail_after(GUARD):
            await trio.to_thread.run_sync(server.fail, 1, 403, f"/dbs/{database}/colls/")
            with pytest.raises(NotProvisionedError) as raised:
                await store.ping()
            message = str(raised.value)
            assert "Cosmos DB Built-in Data Contributor" in message
            assert "az cosmosdb sql role assignment create" in message
            assert "--role-definition-id 00000000-0000-0000-0000-000000000002" in message
            await store.ping()  # once the role is there, the same store works
            await store.save(make_document("c", "ai_conv_allowed", BASE))
    finally:
        await store.aclose()
