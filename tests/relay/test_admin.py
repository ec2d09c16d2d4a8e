"""The admin JSON API, health, metrics and call admission, over real hypercorn sockets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt

from tests.support.harness import (
    IO_TIMEOUT,
    connect,
    expect_refusal,
    relay_settings,
    running_relay,
)

TOKEN = "admin-secret"


def http(port: int, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=IO_TIMEOUT
    )


async def test_dashboard_conversations_and_export(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path, admin_token=TOKEN)) as relay:
        for n in range(3):
            async with connect(relay, customer_id=f"c{n % 2}") as client:
                await client.say(f"Call {n}")
                await client.hang_up()
            await relay.wait_calls_ended()

        async with http(relay.port) as api:
            dashboard = (await api.get("/api/admin/dashboard")).json()
            assert dashboard["ai_conversations_count"] == 3
            assert dashboard["active_calls"] == 0
            assert dashboard["calls_started"] == 3
            assert dashboard["store"] == "sqlite"

            first = (await api.get("/api/admin/conversations", params={"limit": 2})).json()
            assert len(first["items"]) == 2
            assert "messages" not in first["items"][0]
            assert first["continuation"]
            rest = (
                await api.get(
                    "/api/admin/conversations",
                    params={"limit": 2, "continuation": first["continuation"]},
                )
            ).json()
            assert len(rest["items"]) == 1
            assert rest["continuation"] is None
            starts = [item["session_start"] for item in first["items"] + rest["items"]]
            assert starts == sorted(starts, reverse=True)

            mine = (await api.get("/api/admin/conversations", params={"customer_id": "c0"})).json()
            assert {item["customer_id"] for item in mine["items"]} == {"c0"}
            assert len(mine["items"]) == 2

            item = first["items"][0]
            one = await api.get(f"/api/admin/conversations/{item['customer_id']}/{item['id']}")
            assert one.status_code == 200
            assert one.json()["messages"][0]["sender"] == "user"
            missing = await api.get(f"/api/admin/conversations/{item['customer_id']}/nope")
            assert missing.status_code == 404

            export = await api.get("/api/admin/export")
            assert export.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) for line in export.text.splitlines()]
            assert len(lines) == 3
            assert [doc["session_start"] for doc in lines] == sorted(starts)
            empty = await api.get("/api/admin/export", params={"since": "2999-01-01T00:00:00Z"})
            assert empty.text == ""
            bad = await api.get("/api/admin/export", params={"since": "yesterday"})
            assert bad.status_code == 400
            assert "since" in bad.json()["error"]
            bad_limit = await api.get("/api/admin/conversations", params={"limit": "0"})
            assert bad_limit.status_code == 400


async def test_admin_requires_the_token(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path, admin_token=TOKEN)) as relay:
        async with http(relay.port, token=None) as api:
            assert (await api.get("/api/admin/dashboard")).status_code == 401
        async with http(relay.port, token="wrong") as api:
            assert (await api.get("/api/admin/dashboard")).status_code == 401
        async with http(relay.port) as api:
            assert (await api.get("/api/admin/dashboard")).status_code == 200


async def test_admin_without_token_is_loopback_only(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay, http(relay.port, None) as api:
        # The test client is on loopback, so it is let in.
        assert (await api.get("/api/admin/dashboard")).status_code == 200


async def test_health_readiness_and_metrics(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay:
        async with connect(relay) as client:
            await client.say("Count me.")
            await client.hang_up()
        await relay.wait_calls_ended()
        async with http(relay.port) as api:
            assert (await api.get("/healthz")).json() == {"status": "ok"}
            ready = await api.get("/readyz")
            assert ready.status_code == 200
            body = ready.json()
            assert body["ready"] is True
            assert body["store"]["name"] == "sqlite"
            assert (body["store"]["state"], body["store"]["reachable"]) == ("open", True)
            assert body["spool"]["writable"] is True
            assert body["spool"]["pending"] == 0
            metrics = (await api.get("/metrics")).text
            assert "relay_conversations_saved_total 1.0" in metrics
            assert "relay_active_calls 0.0" in metrics
            frames = {
                line.split()[0]: float(line.split()[1])
                for line in metrics.splitlines()
                if line.startswith("relay_frames_from_")
            }
            assert frames["relay_frames_from_browser_total"] >= 2  # item.create, response.create
            assert frames["relay_frames_from_upstream_total"] > 5
            relay.app.relay.registry.draining = True
            draining = await api.get("/readyz")
            assert draining.status_code == 503
            assert draining.json()["reason"] == "draining"


async def test_max_calls_refuses_with_503(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path, max_calls=1)) as relay:
        async with connect(relay):
            body = await expect_refusal(relay.port, "/api/realtime", 503)
            assert "limit of 1 calls" in body
        await relay.wait_calls_ended()
        assert relay.app.relay.registry.calls_refused == 1


async def test_a_full_relay_fails_readyz_but_not_the_platform_probe(tmp_path: Path) -> None:
    """/readyz is for a load balancer over several instances; /readyz/platform for the probe of
    the only replica, which must not take a busy relay's pages and admin API out."""
    settings = relay_settings(tmp_path, max_calls=1)
    async with running_relay(settings) as relay, http(relay.port) as api:
        idle = (await api.get("/readyz"), await api.get("/readyz/platform"))
        assert [answer.status_code for answer in idle] == [200, 200]
        async with connect(relay) as client:
            await client.say("I take the only place.")
            full, platform = await api.get("/readyz"), await api.get("/readyz/platform")
            assert (full.status_code, full.json()["reason"]) == (503, "at its limit of 1 calls")
            assert platform.status_code == 200
            assert platform.json() == {"ready": True, "active_calls": 1, "max_calls": 1}
            assert (await api.get("/api/admin/dashboard")).status_code == 200
            await client.hang_up()
        await relay.wait_calls_ended()
        relay.app.relay.registry.draining = True
        draining = (await api.get("/readyz"), await api.get("/readyz/platform"))
        assert [answer.status_code for answer in draining] == [503, 503]
        assert [answer.json()["reason"] for answer in draining] == ["draining"] * 2


async def test_call_tokens_and_origins(tmp_path: Path) -> None:
    secret = "call-secret-" + "s" * 32
    settings = relay_settings(
        tmp_path, call_token_secret=secret, allowed_origins=("https://shop.example",)
    )
    async with running_relay(settings) as relay:
        await expect_refusal(relay.port, "/api/realtime?customer_id=x", 401)
        expired = jwt.encode({"sub": "c", "exp": int(time.time()) - 10}, secret, "HS256")
        assert "expired" in await expect_refusal(relay.port, f"/api/realtime?token={expired}", 401)
        forged = jwt.encode({"sub": "c", "exp": int(time.time()) + 60}, "o" * 40, "HS256")
        assert "invalid" in await expect_refusal(relay.port, f"/api/realtime?token={forged}", 401)
        good = jwt.encode({"sub": "cust-7", "exp": int(time.time()) + 60}, secret, "HS256")
        await expect_refusal(
            relay.port, f"/api/realtime?token={good}", 403, Origin="https://evil.example"
        )
        async with connect(relay, token=good) as client:
            await client.say("Signed in.")
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
        assert doc["customer_id"] == "cust-7"
