"""``python -m app`` as a child process whose output is read as it is written.

For tests and benchmarks that need the real process: a real SIGTERM or SIGKILL, a restart over the
same data directory, or a relay on a core of its own while the callers run in this process.

A task pumps the child's output into `RelayLog` from the start, so the pipe never fills (a relay
with hundreds of calls writes a lot of log lines, and one blocked on a full pipe would stall every
call), and waiting for something the relay said is waiting on an event, not polling.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

START_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0


@attrs.define(eq=False)
class RelayLog:
    """Every line the relay has written so far, and a way to wait for the ones to come."""

    lines: list[str] = attrs.field(factory=list)
    ended: bool = False
    _grew: trio.Event = attrs.field(factory=trio.Event)

    async def pump(self, stream: trio.abc.ReceiveStream) -> None:
        """Read ``stream`` to its end, line by line."""
        buffer = b""
        try:
            while chunk := await stream.receive_some(65536):
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                if complete:
                    self.lines.extend(line.decode(errors="replace") for line in complete)
                    self._wake()
        finally:
            if buffer:
                self.lines.append(buffer.decode(errors="replace"))
            self.ended = True
            self._wake()

    def _wake(self) -> None:
        self._grew.set()
        self._grew = trio.Event()

    async def wait_until(self, predicate: Callable[[list[str]], bool]) -> None:
        """Return once ``predicate(lines)`` holds; fail if the output ends first.

        Unbounded: the caller puts its deadline around it.
        """
        while not predicate(self.lines):
            if self.ended:
                raise AssertionError("the relay's output ended:\n" + self.tail())
            await self._grew.wait()

    async def wait_for(self, fragment: str) -> str:
        """The first line containing ``fragment``, once it is written (unbounded, as above)."""
        found: list[str] = []

        def seen(lines: list[str]) -> bool:
            found[:] = [line for line in lines if fragment in line][:1]
            return bool(found)

        await self.wait_until(seen)
        return found[0]

    def matching(self, fragment: str) -> list[str]:
        return [line for line in self.lines if fragment in line]

    def tail(self, count: int = 40) -> str:
        return "\n".join(self.lines[-count:])


@attrs.define(eq=False)
class RelayProcess:
    process: trio.Process
    port: int
    log: RelayLog

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_exit(self) -> int:
        """The exit status, within ``EXIT_TIMEOUT``."""
        with trio.fail_after(EXIT_TIMEOUT):
            return await self.process.wait()


@asynccontextmanager
async def relay_process(data_dir: Path, **env: str) -> AsyncIterator[RelayProcess]:
    """Run ``python -m app`` on 127.0.0.1, a free port, SQLite under ``data_dir`` unless ``env``
    says otherwise; yield once it listens; kill it on the way out if it still runs."""
    environ = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": "0",
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    for inherited in ("REALTIME_UPSTREAM_URL", "COSMOSDB_ENDPOINT", "ADMIN_TOKEN"):
        environ.pop(inherited, None)
    environ.update(env)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "app"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log = RelayLog()
    try:
        async with trio.open_nursery() as nursery:
            assert process.stdout is not None
            nursery.start_soon(log.pump, process.stdout)
            try:
                with trio.fail_after(START_TIMEOUT):
                    listening = await log.wait_for("relay listening on http://")
                yield RelayProcess(process, int(listening.rsplit(":", 1)[1]), log)
            finally:
                if process.returncode is None:
                    process.kill()
                with trio.move_on_after(EXIT_TIMEOUT):
                    await process.wait()
                nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
