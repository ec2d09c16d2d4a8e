"""The admin API of a relay on Cosmos DB, through real hypercorn sockets, when the container was
made elsewhere or a query fails: each dashboard figure stands on its own.

The issue this reproduces: pointed at an ``AI_Conversations`` made with the default indexing
policy, ``GET /api/admin/dashboard`` answered 503 ("The order by query does not have a
corresponding composite index ...") and the conversation count was lost with the averages.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.support.cosmos_containers import REFUSE_REPLACE, made_elsewhere
from tests.support.cosmos_server import CosmosServer, unique_database
from tests.support.documents import make_document
from tests.support.harness import IO_TIMEOUT, relay_settings, running_relay

TOKEN = "admin-secret"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def recent_docs() -> list[dict[str, Any]]:
    """Calls of the last days (inside the dashboard's window), two of them tied on their start."""
    now = datetime.now(UTC).replace(microsecond=0)
    docs = [
        make_document(
            f"cust-{n % 2}",
            f"ai_conv_{n}",
            now - timedelta(hours=n),
            duration=timedelta(seconds=10 * n),
        )
        for n in range(1, 6)
    ]
    tied = now - timedelta(hours=2)
    docs.append(make_document("cust-9", "ai_conv_tied", tied, duration=timedelta(seconds=40)))
    return docs


def average_duration(docs: list[dict[str, Any]]) -> float:
    total: float = sum(d["duration_seconds"] for d in docs)
    return round(total / len(docs), 3)


async def get_json(api: httpx.AsyncClient, path: str, **params: Any) -> Any:
    answer = await api.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("update", ["allowed", "refused"])
async def test_the_admin_api_serves_a_container_made_with_the_default_policy(
    cosmos_server: CosmosServer, tmp_path: Path, update: str
) -> None:
    database = unique_database()
    docs = recent_docs()
    await made_elsewhere(cosmos_server, database, docs)
    settings = relay_settings(tmp_path, **cosmos_server.settings(database), admin_token=TOKEN)
    if update == "refused":
        await trio.to_thread.run_sync(cosmos_server.fail, 1, 403, REFUSE_REPLACE)
    try:
        async with running_relay(settings) as relay:
            base = f"http://127.0.0.1:{relay.port}"
            async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=IO_TIMEOUT) as api:
                dashboard = await get_json(api, "/api/admin/dashboard")
                first = await get_json(api, "/api/admin/conversations", limit=4)
                rest = await get_json(
                    api, "/api/admin/conversations", limit=4, continuation=first["continuation"]
                )
                export = await api.get("/api/admin/export")
                # What the store found is on /readyz (its body; the status is about calls).
                indexing = (await get_json(api, "/readyz"))["store"]["indexing"]
    finally:
        await trio.to_thread.run_sync(cosmos_server.fail, 0, 0)

    assert indexing["state"] == ("added" if update == "allowed" else "missing")
    assert dashboard["ai_conversations_count"] == len(docs)
    assert dashboard["average_duration_seconds"] == average_duration(docs)
    assert dashboard["interruption_rate"] == 0.0
    assert dashboard["unavailable"] == {}
    listed = [
        (i["session_start"], i["id"], i["customer_id"]) for i in first["items"] + rest["items"]
    ]
    keys = sorted(((d["session_start"], d["id"], d["customer_id"]) for d in docs), reverse=True)
    assert listed == keys and rest["continuation"] is None
    exported = [json.loads(line)["id"] for line in export.text.splitlines()]
    assert exported == [key[1] for key in reversed(keys)]


async def test_the_dashboard_keeps_each_figure_that_can_be_computed(
    cosmos_server: CosmosServer, tmp_path: Path
) -> None:
    database = unique_database()
    docs = recent_docs()
    await made_elsewhere(cosmos_server, database, docs)
    settings = relay_settings(tmp_path, **cosmos_server.settings(database), admin_token=TOKEN)
    async with running_relay(settings) as relay:
        base = f"http://127.0.0.1:{relay.port}"
        async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=IO_TIMEOUT) as api:
            try:
                # The stats' pass over the window fails (its sorted query); the count does not.
                await trio.to_thread.run_sync(cosmos_server.fail, 1000, 503, "SQL:ORDER")
                no_stats = await get_json(api, "/api/admin/dashboard")
                # Then the count fails and the stats do not.
                await trio.to_thread.run_sync(cosmos_server.fail, 1000, 503, "SQL:COUNT")
                no_count = await get_json(api, "/api/admin/dashboard")
                await trio.to_thread.run_sync(cosmos_server.fail, 0, 0)
                healthy = await get_json(api, "/api/admin/dashboard")
            finally:
                await trio.to_thread.run_sync(cosmos_server.fail, 0, 0)

    assert no_stats["ai_conversations_count"] == len(docs)
    assert no_stats["average_duration_seconds"] is None
    assert no_stats["interruption_rate"] is None
    assert set(no_stats["unavailable"]) == {"average_duration_seconds", "interruption_rate"}
    for reason in no_stats["unavailable"].values():
        assert reason.startswith("the conversation store failed: ") and "503" in reason
    assert no_stats["store"] == "cosmos" and no_stats["active_calls"] == 0

    assert no_count["ai_conversations_count"] is None
    assert no_count["average_duration_seconds"] == average_duration(docs)
    assert list(no_count["unavailable"]) == ["ai_conversations_count"]
    assert "503" in no_count["unavailable"]["ai_conversations_count"]

    assert healthy["ai_conversations_count"] == len(docs)
    assert healthy["average_duration_seconds"] == average_duration(docs)
    assert healthy["unavailable"] == {}
