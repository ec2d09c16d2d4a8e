"""A relay on Cosmos DB, through real hypercorn sockets: admin API, readiness, request charges."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from tests.support.cosmos_server import CosmosServer
from tests.support.harness import IO_TIMEOUT, connect, relay_settings, running_relay

TOKEN = "admin-secret"


async def test_admin_api_readiness_and_request_charges_on_cosmos(
    cosmos_server: CosmosServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.store.recorder")
    settings = relay_settings(tmp_path, **cosmos_server.settings(), admin_token=TOKEN)
    async with running_relay(settings) as relay:
        for n in range(3):
            async with connect(relay, customer_id=f"c{n % 2}") as client:
                await client.say(f"Call {n}")
                await client.hang_up()
            await relay.wait_calls_ended()

        headers = {"Authorization": f"Bearer {TOKEN}"}
        base = f"http://127.0.0.1:{relay.port}"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=IO_TIMEOUT) as api:
            ready = (await api.get("/readyz")).json()
            dashboard = (await api.get("/api/admin/dashboard")).json()
            first = (await api.get("/api/admin/conversations", params={"limit": 2})).json()
            rest = (
                await api.get(
                    "/api/admin/conversations",
                    params={"limit": 2, "continuation": first["continuation"]},
                )
            ).json()
            mine = (await api.get("/api/admin/conversations", params={"customer_id": "c0"})).json()
            item = first["items"][0]
            one = await api.get(f"/api/admin/conversations/{item['customer_id']}/{item['id']}")
            missing = await api.get("/api/admin/conversations/c0/ai_conv_nope")
            export = await api.get("/api/admin/export")
            metrics = (await api.get("/metrics")).text

    assert ready["ready"] is True
    assert ready["store"]["name"] == "cosmos"
    assert (ready["store"]["state"], ready["store"]["reachable"]) == ("open", True)
    assert dashboard["ai_conversations_count"] == 3
    assert dashboard["store"] == "cosmos"

    listed = first["items"] + rest["items"]
    assert len(first["items"]) == 2 and rest["continuation"] is None
    assert [i["session_start"] for i in listed] == sorted(
        (i["session_start"] for i in listed), reverse=True
    )
    assert {i["customer_id"] for i in mine["items"]} == {"c0"} and len(mine["items"]) == 2
    assert one.status_code == 200 and one.json()["messages"][0]["message"].startswith("Call ")
    assert "_rid" not in one.json() and "_etag" not in one.json()
    assert missing.status_code == 404

    exported = [json.loads(line) for line in export.text.splitlines()]
    assert sorted(d["messages"][0]["message"] for d in exported) == ["Call 0", "Call 1", "Call 2"]

    # Each save's request charge, in the log line and the metrics (the local server: 1 RU).
    logged = [r.getMessage() for r in caplog.records if "Conversation logged" in r.getMessage()]
    assert len(logged) == 3 and all(line.endswith("(2 messages, 1 RU)") for line in logged)
    assert "relay_store_request_units_total 3.0" in metrics
    assert "relay_last_save_request_units 1.0" in metrics
