"""``python -m app`` as a real process: SIGTERM drains and saves, SIGKILL is recovered on restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio_websocket

from app.store.sqlite import SQLiteStore
from tests.harness import IO_TIMEOUT, Client

pytestmark = pytest.mark.slow
START_TIMEOUT = 20.0


@attrs.define(eq=False)
class RelayProcess:
    process: trio.Process
    port: int
    output: list[str]


@asynccontextmanager
async def relay_process(data_dir: Path, **env: str) -> AsyncIterator[RelayProcess]:
    environ = {
        **os.environ,
        "PORT": "0",
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    environ.pop("REALTIME_UPSTREAM_URL", None)
    environ.pop("COSMOSDB_ENDPOINT", None)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "app"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        with trio.fail_after(START_TIMEOUT):
            port = await _read_port(process.stdout, output)
        yield RelayProcess(process, port, output)
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(IO_TIMEOUT):
            await process.wait()


async def _read_port(stdout: trio.abc.ReceiveStream, output: list[str]) -> int:
    buffer = b""
    while True:
        chunk = await stdout.receive_some(4096)
        if not chunk:
            raise AssertionError("the relay exited before listening:\n" + buffer.decode())
        buffer += chunk
        *lines, rest = buffer.split(b"\n")
        buffer = rest
        for line in lines:
            text = line.decode(errors="replace")
            output.append(text)
            if text.startswith("relay listening on http://"):
                return int(text.rsplit(":", 1)[1])


@asynccontextmanager
async def call(port: int, customer: str) -> AsyncIterator[Client]:
    async with trio.open_nursery() as nursery:
        with trio.fail_after(IO_TIMEOUT):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, f"127.0.0.1:{port}", f"/api/realtime?customer_id={customer}"
            )
        try:
            yield Client(ws, stream)
        finally:
            await stream.aclose()
            nursery.cancel_scope.cancel()


async def stored_documents(data_dir: Path) -> list[dict[str, Any]]:
    store = await SQLiteStore.open(data_dir / "conversations.sqlite3")
    try:
        return list((await store.recent(limit=100)).items)
    finally:
        await store.aclose()


async def wait_exit(process: trio.Process) -> int:
    with trio.fail_after(START_TIMEOUT):
        return await process.wait()


@pytest.mark.parametrize("to_group", [False, True], ids=["pid", "process-group"])
async def test_sigterm_saves_live_calls_as_server_shutdown(tmp_path: Path, to_group: bool) -> None:
    async with relay_process(tmp_path) as relay, trio.open_nursery() as nursery:
        closes: dict[str, int] = {}
        both_talking = trio.Event()
        talking = 0

        async def caller(customer: str) -> None:
            nonlocal talking
            async with call(relay.port, customer) as client:
                await client.say(f"This is {customer}.")
                talking += 1
                if talking == 2:
                    both_talking.set()
                closes[customer] = (await client.wait_closed()).code

        nursery.start_soon(caller, "alice")
        nursery.start_soon(caller, "bob")
        with trio.fail_after(IO_TIMEOUT):
            await both_talking.wait()
        if to_group:
            os.killpg(relay.process.pid, signal.SIGTERM)
        else:
            relay.process.send_signal(signal.SIGTERM)
        assert await wait_exit(relay.process) == 0, "\n".join(relay.output)
    assert closes == {"alice": 1001, "bob": 1001}
    documents = await stored_documents(tmp_path)
    assert sorted(doc["customer_id"] for doc in documents) == ["alice", "bob"]
    for doc in documents:
        assert doc["disconnect_reason"] == "server_shutdown"
        assert doc["graceful_disconnect"] is False
        assert doc["messages"][0]["message"] == f"This is {doc['customer_id']}."
        assert doc["messages"][1]["sender"] == "assistant"


async def test_sigkill_then_restart_recovers_a_server_crash_document(tmp_path: Path) -> None:
    live = tmp_path / "spool" / "live"
    async with relay_process(tmp_path, CHECKPOINT_INTERVAL="0.2") as relay:
        async with call(relay.port, "carol") as client:
            await client.say("Please remember this.")
            # Wait (bounded) for the checkpoint task to write the partial record.
            with trio.fail_after(IO_TIMEOUT):
                while not (live.exists() and any(live.iterdir())):
                    await trio.sleep(0.05)
            relay.process.kill()
            assert await wait_exit(relay.process) == -signal.SIGKILL
    assert await stored_documents(tmp_path) == []

    async with relay_process(tmp_path) as relay:
        with trio.fail_after(IO_TIMEOUT):
            while not (documents := await stored_documents(tmp_path)):
                await trio.sleep(0.05)
        relay.process.send_signal(signal.SIGTERM)
        assert await wait_exit(relay.process) == 0
    assert len(documents) == 1
    doc = documents[0]
    assert doc["disconnect_reason"] == "server_crash"
    assert doc["customer_id"] == "carol"
    assert doc["messages"][0]["message"] == "Please remember this."
    assert not any(live.iterdir())
