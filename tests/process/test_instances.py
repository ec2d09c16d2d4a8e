"""Two relays (``python -m app``, one process each) sharing one store: calls on both, each
conversation stored once, and either relay's dashboard counts all of them.

Across hosts the shared store is Cosmos DB (the local Cosmos server here), each relay with its own
``DATA_DIR``.  SQLite is a file on one host: two relays share it by sharing the ``DATA_DIR``,
which is safe because each takes a spool slot of its own (`app.store.spool_slots`).
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from tests.support.app_process import call, wait_exit
from tests.support.cosmos_server import CosmosServer
from tests.support.workers import Workers, eventually, get_json, relay_workers

pytestmark = pytest.mark.slow
CALLS = {"first": ["ann", "bea", "cy"], "second": ["dee", "ed"]}


@asynccontextmanager
async def two_relays(
    data_dirs: tuple[Path, Path], store_env: dict[str, str]
) -> AsyncIterator[dict[str, Workers]]:
    env = {"WORKERS": "1", **store_env}
    cosmos = "COSMOSDB_ENDPOINT" in store_env
    async with AsyncExitStack() as stack:
        relays = {
            name: await stack.enter_async_context(relay_workers(data_dir, env, cosmos=cosmos))
            for name, data_dir in zip(CALLS, data_dirs, strict=True)
        }
        yield relays
        for relay in relays.values():
            relay.supervisor.send_signal(signal.SIGTERM)
        for relay in relays.values():
            assert await wait_exit(relay.supervisor) == 0, "\n".join(relay.relay.output)


async def calls_on_both_are_counted_once(relays: dict[str, Workers]) -> None:
    for name, customers in CALLS.items():
        for customer in customers:
            async with call(relays[name].relay.port, customer) as client:
                await client.say(f"This is {customer} on the {name} relay.")
                await client.hang_up()
    every = sorted(c for customers in CALLS.values() for c in customers)

    async def both_count_all() -> bool:
        counts = [
            (await get_json(r.relay.port, "/api/admin/dashboard"))["ai_conversations_count"]
            for r in relays.values()
        ]
        return counts == [len(every)] * len(relays)

    await eventually(both_count_all)
    for relay in relays.values():
        listing = await get_json(relay.relay.port, "/api/admin/conversations?limit=50")
        assert sorted(doc["customer_id"] for doc in listing["items"]) == every
        assert len({doc["id"] for doc in listing["items"]}) == len(every)


async def test_two_relays_with_their_own_data_dirs_share_a_cosmos_store(
    tmp_path: Path, cosmos_server: CosmosServer
) -> None:
    settings = cosmos_server.settings()
    store_env = {
        "COSMOSDB_ENDPOINT": settings["cosmos_endpoint"],
        "COSMOSDB_KEY": settings["cosmos_key"],
        "COSMOSDB_VERIFY_TLS": "false",
        "COSMOSDB_DATABASE": settings["cosmos_database"],
    }
    data_dirs = (tmp_path / "first", tmp_path / "second")
    async with two_relays(data_dirs, store_env) as relays:
        await calls_on_both_are_counted_once(relays)
    for data_dir in data_dirs:
        assert not (data_dir / "conversations.sqlite3").exists()


async def test_two_relays_on_one_host_share_sqlite_through_one_data_dir(tmp_path: Path) -> None:
    async with two_relays((tmp_path, tmp_path), {}) as relays:
        await calls_on_both_are_counted_once(relays)
        assert (tmp_path / "spool").is_dir() and (tmp_path / "spool-1").is_dir()
