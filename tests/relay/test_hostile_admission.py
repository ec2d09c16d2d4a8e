"""Who may call and who may read, attacked through real sockets: DNS rebinding and cross-site
requests to the tokenless admin, odd bearer tokens, long-lived or foreign call tokens, and an
upstream URL with credentials in it.  Each attack fails and the server stays healthy.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import trio

from tests.support.harness import (
    IO_TIMEOUT,
    connect,
    expect_refusal,
    relay_settings,
    running_relay,
)


async def test_the_tokenless_admin_refuses_a_rebound_name_and_answers_localhost(
    tmp_path: Path,
) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay:
        base = f"http://127.0.0.1:{relay.port}"
        path = "/api/admin/dashboard"
        async with httpx.AsyncClient(base_url=base, timeout=IO_TIMEOUT) as http:
            rebound = await http.get(path, headers={"Host": f"evil.example:{relay.port}"})
            cross_site = await http.get(
                path, headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
            )
            from_elsewhere = await http.get(path, headers={"Sec-Fetch-Site": "cross-site"})
            live = await http.get("/api/admin/live", headers={"Host": "evil.example"})
            by_address = await http.get(path)
            by_name = await http.get(path, headers={"Host": f"localhost:{relay.port}"})
            same_origin = await http.get(
                path,
                headers={
                    "Origin": f"http://localhost:{relay.port}",
                    "Sec-Fetch-Site": "same-origin",
                },
            )
            health = await http.get("/healthz", headers={"Host": "evil.example"})
    assert rebound.status_code == 403 and "loopback name" in rebound.json()["error"]
    assert cross_site.status_code == 403 and "cross-site" in cross_site.json()["error"]
    assert from_elsewhere.status_code == 403
    assert live.status_code == 403
    assert by_address.status_code == 200 and "ai_conversations_count" in by_address.json()
    assert by_name.status_code == 200
    assert same_origin.status_code == 200
    assert health.status_code == 200  # health is not admin


async def test_odd_bearer_tokens_are_a_plain_401(tmp_path: Path) -> None:
    token = "t" * 32
    async with running_relay(relay_settings(tmp_path, admin_token=token)) as relay:
        url = f"http://127.0.0.1:{relay.port}/api/admin/dashboard"
        async with httpx.AsyncClient(timeout=IO_TIMEOUT) as http:
            answers = [
                await http.get(url, headers=[(b"Authorization", value)])
                for value in (
                    b"Bearer \xc3\xa9t\xc3\xa9",
                    b"Bearer \xff\xfe",
                    b"Bearer " + b"t" * 31,
                )
            ]
            good = await http.get(url, headers={"Authorization": f"Bearer {token}"})
            health = await http.get(f"http://127.0.0.1:{relay.port}/healthz")
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert good.status_code == 200
    assert health.status_code == 200


async def test_call_tokens_are_short_lived_and_may_be_bound_to_an_issuer_and_audience(
    tmp_path: Path,
) -> None:
    secret = "call-secret-" + "s" * 32
    settings = relay_settings(
        tmp_path,
        call_token_secret=secret,
        call_token_max_lifetime=600.0,
        call_token_issuer="https://shop.example",
        call_token_audience="voice-relay",
    )
    now = int(time.time())
    good_claims = {"sub": "cust-7", "iss": "https://shop.example", "aud": "voice-relay"}

    def token(**claims: object) -> str:
        return jwt.encode({**good_claims, "exp": now + 60, **claims}, secret, "HS256")

    async with running_relay(settings) as relay:
        forever = token(exp=now + 10 * 365 * 86400)
        assert "too long" in await expect_refusal(relay.port, f"/api/realtime?token={forever}", 401)
        foreign = token(iss="https://evil.example")
        assert "invalid" in await expect_refusal(relay.port, f"/api/realtime?token={foreign}", 401)
        elsewhere = token(aud="another-service")
        assert "invalid" in await expect_refusal(
            relay.port, f"/api/realtime?token={elsewhere}", 401
        )
        async with connect(relay, token=token()) as client:
            await client.say("Signed in.")
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    assert doc["customer_id"] == "cust-7"


async def test_credentials_in_the_upstream_url_are_shown_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens: the call's model is unavailable
    url = f"ws://relay-user:hunter2-secret@127.0.0.1:{port}/v1/realtime?model=m&api-key=k3y"
    async with running_relay(relay_settings(tmp_path, upstream_url=url)) as relay:
        async with connect(relay, customer_id="c") as client:
            await client.type_text("Hello?")
            events: list[dict[str, Any]] = []
            with trio.fail_after(IO_TIMEOUT):
                while not [e for e in events if e["type"] == "error"]:
                    events.append(await client.receive())
        await relay.wait_calls_ended()
        async with httpx.AsyncClient(timeout=IO_TIMEOUT) as http:
            dashboard = (await http.get(f"http://127.0.0.1:{relay.port}/api/admin/dashboard")).text
    seen = json.dumps(events) + dashboard + "\n".join(r.getMessage() for r in caplog.records)
    assert "hunter2" not in seen and "relay-user" not in seen and "k3y" not in seen
    assert f"ws://127.0.0.1:{port}/v1/realtime" in dashboard
    assert events[-1]["error"]["message"] == (
        "The model is unavailable right now; please try again later."
    )


async def test_the_data_directory_is_the_relays_alone(tmp_path: Path) -> None:
    """The SQLite file (and its WAL), the spool and its lock: 0600 files in 0700 directories."""
    data = tmp_path / "data" / "relay"
    previous = os.umask(0o022)  # the usual umask, which would make them world-readable
    try:
        async with running_relay(relay_settings(data, checkpoint_interval=0.05)) as relay:
            async with connect(relay, customer_id="private") as client:
                await client.say("My account number is private.")
                await client.hang_up()
            await relay.wait_calls_ended()
            assert await relay.documents()
            modes = {path.name: path.stat().st_mode & 0o777 for path in [data, *data.rglob("*")]}
    finally:
        os.umask(previous)
    assert any(name.endswith("-wal") for name in modes)
    assert any(name.endswith(".sqlite3") for name in modes)
    assert {name: oct(mode) for name, mode in modes.items() if mode & 0o077} == {}
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700  # a parent it created, too


async def test_an_export_at_the_edge_of_the_calendar_is_refused_before_streaming(
    tmp_path: Path,
) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay:
        async with connect(relay, customer_id="c") as client:
            await client.say("Something to export.")
            await client.hang_up()
        await relay.wait_calls_ended()
        base = f"http://127.0.0.1:{relay.port}/api/admin/export"
        async with httpx.AsyncClient(timeout=IO_TIMEOUT) as http:
            refused = [
                await http.get(base, params=params)
                for params in (
                    {"since": "0001-01-01T00:00:00+14:00"},
                    {"until": "9999-12-31T23:59:59-14:00"},
                    {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
                )
            ]
            everything = await http.get(
                base, params={"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"}
            )
            health = await http.get(f"http://127.0.0.1:{relay.port}/healthz")
    assert [answer.status_code for answer in refused] == [400, 400, 400]
    assert "outside the years 1 to 9999" in refused[0].json()["error"]
    assert everything.status_code == 200 and len(everything.text.splitlines()) == 1
    assert health.status_code == 200


async def test_double_slash_paths_do_not_redirect_to_the_host_header(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay:
        base = f"http://127.0.0.1:{relay.port}"
        async with httpx.AsyncClient(base_url=base, timeout=IO_TIMEOUT) as http:
            answers = [
                await http.get(path, headers={"Host": "evil.example"})
                for path in ("/static//js/voice.mjs", "/api//admin/dashboard")
            ]
    assert [answer.status_code for answer in answers] == [404, 404]
    assert all("location" not in answer.headers for answer in answers)
