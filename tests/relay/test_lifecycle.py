"""Every way a call can end, through real hypercorn sockets: exactly one document, right reason.

Each test runs a relay on 127.0.0.1 port 0 (built-in simulator) twice: with SQLite under tmp_path
and with the local Cosmos DB server (the ``store_backend`` fixture, tests/conftest.py).  It holds a
call with a trio-websocket client, ends it one way, waits for the relay's registry to report the
call finished (an event, not a sleep) and reads the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from wsproto.frame_protocol import CloseReason

from tests.support.harness import Client, connect, relay_settings, running_relay

GREETING = "Hello, can you hear me?"


async def one_turn(client: Client) -> list[dict[str, Any]]:
    events = await client.say(GREETING)
    assert events[-1]["response"]["status"] == "completed"
    return events


def assert_single(documents: list[dict[str, Any]], reason: str) -> dict[str, Any]:
    assert len(documents) == 1, documents
    doc = documents[0]
    assert doc["disconnect_reason"] == reason
    assert doc["graceful_disconnect"] is (reason == "user_hangup")
    return doc


def assert_greeting_turn(doc: dict[str, Any]) -> None:
    senders = [m["sender"] for m in doc["messages"]]
    assert senders == ["user", "assistant"], doc["messages"]
    assert doc["messages"][0]["message"] == GREETING
    assert doc["messages"][1]["message"]
    assert doc["metadata"]["total_messages"] == 2


async def test_hang_up_with_1000_is_user_hangup(
    tmp_path: Path, store_backend: dict[str, Any]
) -> None:
    async with running_relay(relay_settings(tmp_path, **store_backend)) as relay:
        async with connect(relay, customer_id="cust-1") as client:
            await one_turn(client)
            await client.hang_up(1000)
        await relay.wait_calls_ended()
        doc = assert_single(await relay.documents(), "user_hangup")
        assert doc["customer_id"] == "cust-1"
        assert_greeting_turn(doc)


async def test_a_close_frame_without_a_code_is_a_hang_up(tmp_path: Path) -> None:
    # What a browser's ws.close() and the Agents SDK's session.close() send: the client chose
    # to end the call, so it is user_hangup (graceful), not client_gone.
    async with running_relay(relay_settings(tmp_path)) as relay:
        async with connect(relay, customer_id="cust-5") as client:
            await one_turn(client)
            await client.hang_up(CloseReason.NO_STATUS_RCVD)
        await relay.wait_calls_ended()
        assert_greeting_turn(assert_single(await relay.documents(), "user_hangup"))


async def test_tab_closed_1001_is_client_gone(
    tmp_path: Path, store_backend: dict[str, Any]
) -> None:
    async with running_relay(relay_settings(tmp_path, **store_backend)) as relay:
        async with connect(relay, customer_id="cust-2") as client:
            await one_turn(client)
            await client.hang_up(1001)
        await relay.wait_calls_ended()
        assert_greeting_turn(assert_single(await relay.documents(), "client_gone"))


async def test_tcp_dropped_without_close_frame_is_connection_lost(
    tmp_path: Path, store_backend: dict[str, Any]
) -> None:
    async with running_relay(relay_settings(tmp_path, **store_backend)) as relay:
        async with connect(relay) as client:
            await one_turn(client)
            await client.drop()
        await relay.wait_calls_ended()
        doc = assert_single(await relay.documents(), "connection_lost")
        assert doc["customer_id"] == "anonymous"
        assert_greeting_turn(doc)


async def test_frozen_browser_is_idle_timeout(
    tmp_path: Path, store_backend: dict[str, Any]
) -> None:
    settings = relay_settings(tmp_path, **store_backend, call_idle_timeout=0.5)
    async with running_relay(settings) as relay:
        async with connect(relay) as client:
            await one_turn(client)
            # The browser now sends nothing and never closes; the relay must notice by itself.
            reason = await client.wait_closed()
            assert reason.code == 1000
        await relay.wait_calls_ended()
        assert_greeting_turn(assert_single(await relay.documents(), "idle_timeout"))


async def test_max_duration_ends_the_call(tmp_path: Path, store_backend: dict[str, Any]) -> None:
    settings = relay_settings(tmp_path, **store_backend, call_max_duration=1.0)
    async with running_relay(settings) as relay:
        async with connect(relay) as client:
            await one_turn(client)
            reason = await client.wait_closed()
            assert "maximum" in (reason.reason or "")
        await relay.wait_calls_ended()
        assert_greeting_turn(assert_single(await relay.documents(), "max_duration"))


async def test_oversized_frame_is_protocol_error_1009(
    tmp_path: Path, store_backend: dict[str, Any]
) -> None:
    settings = relay_settings(tmp_path, **store_backend, max_frame_bytes=4096)
    async with running_relay(settings) as relay:
        async with connect(relay) as client:
            await one_turn(client)
            await client.send({"type": "conversation.item.create", "padding": "x" * 5000})
            error = (await client.receive_until("error"))[-1]
            assert error["type"] == "error"
            assert error["error"]["code"] == "frame_too_large"
            reason = await client.wait_closed()
            assert reason.code == 1009
        await relay.wait_calls_ended()
        assert_greeting_turn(assert_single(await relay.documents(), "protocol_error"))


async def test_malformed_frames_get_errors_and_the_call_goes_on(
    tmp_path: Path, store_backend: dict[str, Any]
) -> None:
    async with running_relay(relay_settings(tmp_path, **store_backend)) as relay:
        async with connect(relay) as client:
            frames: list[tuple[str | bytes, str]] = [
                ("{not json", "invalid_json"),
                (b"\x00\x01binary", "binary_not_supported"),
                ('["an", "array"]', "invalid_event"),
                ('{"type": 7}', "invalid_event"),
                ("[" * 60_000, "invalid_json"),  # nested deeper than any parser's stack
                ("[" * 200_000, "event_too_large"),  # over MAX_EVENT_BYTES: not even parsed
            ]
            for frame, code in frames:
                await client.ws.send_message(frame)
                error = (await client.receive_until("error"))[-1]
                assert error["error"]["code"] == code
            await one_turn(client)
            await client.hang_up()
        await relay.wait_calls_ended()
        assert_greeting_turn(assert_single(await relay.documents(), "user_hangup"))


async def test_empty_call_writes_nothing(tmp_path: Path, store_backend: dict[str, Any]) -> None:
    async with running_relay(relay_settings(tmp_path, **store_backend)) as relay:
        async with connect(relay) as client:
            await client.hang_up()
        await relay.wait_calls_ended()
        assert await relay.documents() == []
        assert relay.app.relay.registry.calls_without_messages == 1


async def test_fifty_calls_dropped_at_once_give_fifty_documents(
    tmp_path: Path, store_backend: dict[str, Any]
) -> None:
    calls = 50
    async with running_relay(relay_settings(tmp_path, **store_backend)) as relay:
        all_talked = trio.Event()
        talked = 0

        async def caller(n: int) -> None:
            nonlocal talked
            async with connect(relay, customer_id=f"bulk-{n}") as client:
                await client.say(f"Caller number {n} here.")
                talked += 1
                if talked == calls:
                    all_talked.set()
                await all_talked.wait()
                await client.drop()

        async with trio.open_nursery() as nursery:
            for n in range(calls):
                nursery.start_soon(caller, n)
        await relay.wait_calls_ended()
        documents = await relay.store.recent(limit=100)
        assert len(documents.items) == calls
        by_customer = {doc["customer_id"]: doc for doc in documents.items}
        assert set(by_customer) == {f"bulk-{n}" for n in range(calls)}
        for n, doc in enumerate(by_customer[f"bulk-{n}"] for n in range(calls)):
            assert doc["disconnect_reason"] == "connection_lost"
            assert doc["messages"][0] == {
                "sender": "user",
                "message": f"Caller number {n} here.",
                "interrupted": False,
            }
            assert doc["messages"][1]["sender"] == "assistant"
