"""``WORKERS=2 python -m app`` as processes: drain, crash replacement, own spools, summed metrics.

Which worker holds a call is up to the kernel (``SO_REUSEPORT`` hashes each connection), so the
tests open calls until every worker holds one (`calls_on_every_worker`) and find each call's
worker by the process that owns the server side of its TCP connection (`/proc`, Linux only, as
``SO_REUSEPORT`` load balancing is).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio

from tests.support.app_process import (
    stored_documents,
    wait_exit,
)
from tests.support.workers import (
    WORKERS,
    LiveCall,
    calls_on_every_worker,
    checkpoints,
    eventually,
    get_json,
    get_metrics,
    relay_workers,
    running,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT and /proc"),
]


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
