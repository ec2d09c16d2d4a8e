"""``python -m app`` as a real process: SIGTERM drains and saves; SIGKILL is recovered on restart.

The tests learn what the process did from its log lines (read as they are written), so they
wait on events rather than polling files or sleeping.
"""

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
from tests.support.harness import IO_TIMEOUT, Client

pytestmark = pytest.mark.slow
START_TIMEOUT = 20.0


@attrs.define(eq=False)
class RelayProcess:
    process: trio.Process
    port: int
    output: list[str]
    _stdout: trio.abc.ReceiveStream
    _buffer: bytes = b""

    async def next_line(self) -> str:
        while b"\n" not in self._buffer:
            chunk = await self._stdout.receive_some(4096)
            if not chunk:
                raise AssertionError("the relay exited:\n" + "\n".join(self.output))
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        text = line.decode(errors="replace")
        self.output.append(text)
        return text

    async def wait_for_line(self, fragment: str) -> str:
        """Read the process's output until a line contains ``fragment``."""
        with trio.fail_after(START_TIMEOUT):
            while fragment not in (line := await self.next_line()):
                pass
        return line


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
    try:
        assert process.stdout is not None
        relay = RelayProcess(process, 0, [], process.stdout)
        listening = await relay.wait_for_line("relay listening on http://")
        relay.port = int(listening.rsplit(":", 1)[1])
        yield relay
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(IO_TIMEOUT):
            await process.wait()


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
    crashing = relay_process(tmp_path, CHECKPOINT_INTERVAL="0.2", LOG_LEVEL="DEBUG")
    async with crashing as relay, call(relay.port, "carol") as client:
        await client.say("Please remember this.")
        await relay.wait_for_line("Checkpointed session")
        relay.process.kill()
        assert await wait_exit(relay.process) == -signal.SIGKILL
    assert await stored_documents(tmp_path) == []
    assert any(live.iterdir())

    async with relay_process(tmp_path) as relay:
        await relay.wait_for_line("from the spool")
        relay.process.send_signal(signal.SIGTERM)
        assert await wait_exit(relay.process) == 0
    documents = await stored_documents(tmp_path)
    assert len(documents) == 1
    doc = documents[0]
    assert doc["disconnect_reason"] == "server_crash"
    assert doc["customer_id"] == "carol"
    assert doc["messages"][0]["message"] == "Please remember this."
    assert not any(live.iterdir())
