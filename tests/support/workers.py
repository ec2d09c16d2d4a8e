"""``WORKERS=n python -m app``: the supervisor and its workers, which worker owns a call
(``/proc``, Linux only), their metrics and their checkpoints."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from tests.support.app_process import (
    START_TIMEOUT,
    RelayProcess,
    call,
    open_relay,
    relay_environment,
)
from tests.support.harness import IO_TIMEOUT, Client
from tests.support.polling import eventually_async

WORKERS = 2
# More calls than this and all of them still on one worker: odds of 2**-15 with two workers.
MAX_CALLS_TO_SPREAD = 16
_STARTED = re.compile(r"Started worker (\d+) \(pid (\d+)\)")


@attrs.define(eq=False)
class Workers:
    relay: RelayProcess
    pids: dict[int, int]  # worker index -> pid of its current process

    @property
    def supervisor(self) -> trio.Process:
        return self.relay.process

    async def wait_started(self, index: int) -> int:
        """Read output until worker ``index`` is (re)started; its new pid."""
        while True:
            match = _STARTED.search(await self.relay.wait_for_line("Started worker"))
            assert match is not None
            self.pids[int(match[1])] = int(match[2])
            if int(match[1]) == index:
                return int(match[2])


@asynccontextmanager
async def relay_workers(
    data_dir: Path, env: Mapping[str, str] | None = None, *, cosmos: bool = False
) -> AsyncIterator[Workers]:
    """``python -m app`` (``WORKERS`` workers unless ``env`` says otherwise), once all listen.

    Without ``cosmos`` the relay uses SQLite under ``data_dir`` whatever this environment says.
    """
    defaults = {
        "WORKERS": str(WORKERS),
        # The supervisor's metrics directory: a supervisor killed by a test leaves it here.
        "TMPDIR": str(data_dir),
    }
    environ = relay_environment(data_dir, {**defaults, **(env or {})}, cosmos=cosmos)
    relay = await open_relay(environ)
    process = relay.process
    try:
        workers = Workers(relay, {})
        for _ in range(int(environ["WORKERS"])):
            listening = await relay.wait_for_line("relay listening on http://")
            relay.port = int(listening.rsplit(":", 1)[1])
        workers.pids.update(
            {int(m[1]): int(m[2]) for line in relay.output if (m := _STARTED.search(line))}
        )
        if int(environ["WORKERS"]) > 1:
            assert len(workers.pids) == int(environ["WORKERS"]), "\n".join(relay.output)
        yield workers
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
        with trio.move_on_after(IO_TIMEOUT):
            await process.wait()


def connection_owner(pids: list[int], server_port: int, client_port: int) -> int | None:
    """The pid among ``pids`` whose socket is the server side of the connection from
    ``client_port`` (both on 127.0.0.1)."""
    wanted = f"0100007F:{server_port:04X} 0100007F:{client_port:04X} 01"
    inode = None
    with open("/proc/net/tcp") as table:
        for line in table:
            fields = line.split()
            if " ".join(fields[1:4]) == wanted:
                inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
        except FileNotFoundError:  # that process or descriptor is gone
            continue
    return None


@attrs.frozen
class LiveCall:
    customer: str
    client: Client
    worker_pid: int


async def calls_on_every_worker(stack: AsyncExitStack, workers: Workers) -> list[LiveCall]:
    """Open talking calls until every worker holds at least one; all of them, in order."""
    pids = list(workers.pids.values())
    calls: list[LiveCall] = []
    for n in range(MAX_CALLS_TO_SPREAD):
        customer = f"caller{n}"
        client = await stack.enter_async_context(call(workers.relay.port, customer))
        await client.say(f"This is {customer}.")
        client_port = client.stream.socket.getsockname()[1]
        owner = connection_owner(pids, workers.relay.port, client_port)
        assert owner is not None, "no worker holds the connection"
        calls.append(LiveCall(customer, client, owner))
        if {c.worker_pid for c in calls} == set(pids):
            return calls
    raise AssertionError(f"{MAX_CALLS_TO_SPREAD} calls all landed on one worker")


async def get_json(port: int, path: str) -> Any:
    """GET on a new connection each time, so that any worker may answer."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=IO_TIMEOUT) as api:
        response = await api.get(path, headers={"Connection": "close"})
        response.raise_for_status()
        return response.json()


async def get_metrics(port: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=IO_TIMEOUT) as api:
        text = (await api.get("/metrics", headers={"Connection": "close"})).text
    return {
        name: float(value)
        for line in text.splitlines()
        if line and not line.startswith("#")
        for name, value in [line.rsplit(" ", 1)]
    }


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def checkpoints(data_dir: Path) -> int:
    return sum(1 for spool in data_dir.glob("spool*") for _ in spool.glob("live/*.json"))


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds, within ``START_TIMEOUT``: other processes' state has no
    event this process could wait on."""
    await eventually_async(check, START_TIMEOUT)
