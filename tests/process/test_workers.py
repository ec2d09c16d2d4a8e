"""``WORKERS=2 python -m app`` as processes: drain, crash replacement, own spools, summed metrics.

Which worker holds a call is up to the kernel (``SO_REUSEPORT`` hashes each connection), so the
tests open calls until every worker holds one (`calls_on_every_worker`) and find each call's
worker by the process that owns the server side of its TCP connection (`/proc`, Linux only, as
``SO_REUSEPORT`` load balancing is).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from tests.process.test_process import (
    START_TIMEOUT,
    RelayProcess,
    call,
    stored_documents,
    wait_exit,
)
from tests.support.harness import IO_TIMEOUT, Client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT and /proc"),
]
WORKERS = 2
# More calls than this and all of them still on one worker: odds of 2**-15 with two workers.
MAX_CALLS_TO_SPREAD = 16
POLL = 0.05
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
    environ = {
        **os.environ,
        "PORT": "0",
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "WORKERS": str(WORKERS),
        # The supervisor's metrics directory: a supervisor killed by a test leaves it here.
        "TMPDIR": str(data_dir),
    }
    environ.pop("REALTIME_UPSTREAM_URL", None)
    if not cosmos:
        environ.pop("COSMOSDB_ENDPOINT", None)
    environ.update(env or {})
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
    with trio.fail_after(START_TIMEOUT):
        while True:
            if await check():
                return
            await trio.sleep(POLL)


@pytest.mark.parametrize("to_group", [False, True], ids=["supervisor", "process-group"])
async def test_sigterm_drains_every_worker(tmp_path: Path, to_group: bool) -> None:
    async with relay_workers(tmp_path) as workers, AsyncExitStack() as stack:
        calls = await calls_on_every_worker(stack, workers)
        closes: dict[str, int] = {}

        async def wait_closed(live: LiveCall) -> None:
            closes[live.customer] = (await live.client.wait_closed()).code

        async with trio.open_nursery() as nursery:
            for live in calls:
                nursery.start_soon(wait_closed, live)
            if to_group:
                os.killpg(workers.supervisor.pid, signal.SIGTERM)
            else:
                workers.supervisor.send_signal(signal.SIGTERM)
            assert await wait_exit(workers.supervisor) == 0, "\n".join(workers.relay.output)
    assert closes == {live.customer: 1001 for live in calls}
    documents = await stored_documents(tmp_path)
    assert sorted(doc["customer_id"] for doc in documents) == sorted(c.customer for c in calls)
    for doc in documents:
        assert doc["disconnect_reason"] == "server_shutdown"
        assert doc["messages"][0]["message"] == f"This is {doc['customer_id']}."


async def test_a_killed_worker_is_replaced_and_only_its_calls_are_recovered(
    tmp_path: Path,
) -> None:
    env = {"CHECKPOINT_INTERVAL": "0.2"}
    async with relay_workers(tmp_path, env) as workers, AsyncExitStack() as stack:
        calls = await calls_on_every_worker(stack, workers)

        async def all_checkpointed() -> bool:
            return checkpoints(tmp_path) == len(calls)

        await eventually(all_checkpointed)
        victim_index, victim = next(iter(workers.pids.items()))
        lost = [c for c in calls if c.worker_pid == victim]
        kept = [c for c in calls if c.worker_pid != victim]

        os.kill(victim, signal.SIGKILL)
        for live in lost:
            assert (await live.client.wait_closed()).code == 1006  # no close frame
        replacement = await workers.wait_started(victim_index)
        assert replacement != victim
        for _ in lost:
            await workers.relay.wait_for_line("from the spool")

        crashed = await stored_documents(tmp_path)
        assert sorted(d["customer_id"] for d in crashed) == sorted(c.customer for c in lost)
        assert {d["disconnect_reason"] for d in crashed} == {"server_crash"}
        for live in kept:  # the sibling's calls were not taken for crashed ones: still talking
            await live.client.say("Still here?")

        workers.supervisor.send_signal(signal.SIGTERM)
        assert await wait_exit(workers.supervisor) == 0, "\n".join(workers.relay.output)

    documents = {doc["customer_id"]: doc for doc in await stored_documents(tmp_path)}
    assert sorted(documents) == sorted(c.customer for c in calls)  # every call, once
    for live in kept:
        doc = documents[live.customer]
        assert doc["disconnect_reason"] == "server_shutdown"
        assert [m["message"] for m in doc["messages"] if m["sender"] == "user"] == [
            f"This is {live.customer}.",
            "Still here?",
        ]
    assert checkpoints(tmp_path) == 0


async def test_metrics_and_the_dashboard_count_every_workers_calls(tmp_path: Path) -> None:
    async with relay_workers(tmp_path) as workers, AsyncExitStack() as stack:
        port = workers.relay.port
        calls = await calls_on_every_worker(stack, workers)

        async def all_counted() -> bool:  # siblings publish every PUBLISH_INTERVAL
            return bool(
                (await get_json(port, "/api/admin/dashboard"))["active_calls"] == len(calls)
            )

        await eventually(all_counted)
        for _ in range(2 * WORKERS):  # whichever worker answers
            assert (await get_json(port, "/api/admin/dashboard"))["active_calls"] == len(calls)
            metrics = await get_metrics(port)
            assert metrics["relay_active_calls"] == len(calls)
            assert metrics["relay_calls_started_total"] == len(calls)

        for live in calls:
            await live.client.hang_up()

        async def all_saved() -> bool:
            metrics = await get_metrics(port)
            return (metrics["relay_conversations_saved_total"], metrics["relay_active_calls"]) == (
                len(calls),
                0,
            )

        await eventually(all_saved)
        dashboard = await get_json(port, "/api/admin/dashboard")
        assert dashboard["ai_conversations_count"] == len(calls)

        workers.supervisor.send_signal(signal.SIGTERM)
        assert await wait_exit(workers.supervisor) == 0


async def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    async with relay_workers(tmp_path) as workers, AsyncExitStack() as stack:
        calls = await calls_on_every_worker(stack, workers)
        workers.supervisor.kill()
        for live in calls:  # every worker drains: the call ends as a shutdown, and is saved
            assert (await live.client.wait_closed()).code == 1001

        async def all_exited() -> bool:
            return not any(running(pid) for pid in workers.pids.values())

        await eventually(all_exited)
    documents = await stored_documents(tmp_path)
    assert sorted(doc["customer_id"] for doc in documents) == sorted(c.customer for c in calls)
    assert {doc["disconnect_reason"] for doc in documents} == {"server_shutdown"}


def test_workers_that_cannot_start_stop_the_supervisor_with_one_clear_line(
    tmp_path: Path,
) -> None:
    # A store that can never work (a key that is not base64) stops start-up; one that is only
    # unreachable, or a data directory that cannot be written, would not (calls go on).
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        env={
            "PATH": "/usr/bin:/bin",
            "PORT": "0",
            "WORKERS": "2",
            "DATA_DIR": str(tmp_path),
            "COSMOSDB_ENDPOINT": "https://127.0.0.1:9/",
            "COSMOSDB_KEY": "not a base64 key",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "the relay could not start" in result.stderr
    assert "could not start (exit status 1): stopping" in result.stderr
    assert "Traceback" not in result.stderr
