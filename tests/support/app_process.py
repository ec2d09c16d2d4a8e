"""``python -m app`` as a child process whose output is read line by line, in order.

`RelayProcess.wait_for_line` reads on from where the last wait stopped, so a test can wait for
the *next* line of a kind (a worker started after a kill); tests/support/relay_process.py keeps
every line instead, for tests that wait on what was said at any time.  Also: a call to a relay
process by its port, the documents in its SQLite store, and a bounded wait for its exit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio_websocket

from app.store.sqlite import SQLiteStore
from tests.support.harness import IO_TIMEOUT, Client

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


def relay_environment(
    data_dir: Path, env: Mapping[str, str] | None = None, *, cosmos: bool = False
) -> dict[str, str]:
    """The environment of a relay under test: any free port, its own data directory, the
    built-in simulator, SQLite unless ``cosmos`` keeps the caller's ``COSMOSDB_ENDPOINT``."""
    environ = {
        **os.environ,
        "PORT": "0",
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    environ.pop("REALTIME_UPSTREAM_URL", None)
    if not cosmos:
        environ.pop("COSMOSDB_ENDPOINT", None)
    environ.update(env or {})
    return environ


async def open_relay(environ: dict[str, str]) -> RelayProcess:
    """Start ``python -m app`` in a session of its own (so a test can signal its group)."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "app"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    return RelayProcess(process, 0, [], process.stdout)


@asynccontextmanager
async def relay_process(data_dir: Path, **env: str) -> AsyncIterator[RelayProcess]:
    relay = await open_relay(relay_environment(data_dir, env))
    process = relay.process
    try:
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
