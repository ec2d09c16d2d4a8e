"""Workers benchmark: how evenly ``SO_REUSEPORT`` spreads calls, and how long start and drain take.

    .venv/bin/python bench/workers_bench.py [--workers 1,2] [--calls 40] [--connections 200]

For each ``WORKERS`` value it starts ``python -m app`` (SQLite in a temporary ``DATA_DIR``, the
built-in simulator), times start-up until every worker listens, opens N plain TCP connections and
counts which worker owns each (``/proc``, Linux only), opens ``--calls`` calls that each say one
line, then sends SIGTERM and times the drain until the process exits (every call saved).  It
prints the figures; nothing here asserts a speed.  Every process it starts, it stops.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.app_process import call  # noqa: E402
from tests.support.harness import Client  # noqa: E402
from tests.support.workers import connection_owner  # noqa: E402

STARTED = re.compile(r"Started worker \d+ \(pid (\d+)\)")


def start(workers: int, data_dir: Path) -> tuple[subprocess.Popen[str], int, list[int], float]:
    env = {
        **os.environ,
        "PORT": "0",
        "DATA_DIR": str(data_dir),
        "WORKERS": str(workers),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("COSMOSDB_ENDPOINT", None)
    env.pop("REALTIME_UPSTREAM_URL", None)
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    pids, listening, port = [], 0, 0
    while listening < workers:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the relay exited")
        if match := STARTED.search(line):
            pids.append(int(match[1]))
        if "relay listening on http://" in line:
            listening += 1
            port = int(line.rsplit(":", 1)[1])
    return process, port, pids or [process.pid], time.perf_counter() - began


def spread(port: int, pids: list[int], connections: int) -> Counter[int]:
    owners: Counter[int] = Counter()
    for _ in range(connections):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            client_port = sock.getsockname()[1]
            owner = None
            for _attempt in range(100):  # the owner shows once the worker has accepted
                owner = connection_owner(pids, port, client_port)
                if owner is not None:
                    break
                time.sleep(0.01)
            owners[owner or 0] += 1
    return owners


async def calls_then_drain(process: subprocess.Popen[str], port: int, calls: int) -> float:
    async with AsyncExitStack() as stack:
        clients: list[Client] = []
        for n in range(calls):
            client = await stack.enter_async_context(call(port, f"bench{n}"))
            await client.say("Hello.")
            clients.append(client)
        began = time.perf_counter()
        os.kill(process.pid, signal.SIGTERM)
        await trio.to_thread.run_sync(process.wait)
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()
    for workers in (int(w) for w in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as data_dir:
            process, port, pids, started = start(workers, Path(data_dir))
            try:
                owners = spread(port, pids, args.connections)
                drained = trio.run(calls_then_drain, process, port, args.calls)
                print(
                    f"WORKERS={workers}: all listening after {started:.2f} s; "
                    f"{args.connections} connections per worker: "
                    f"{sorted(owners.values(), reverse=True)}; "
                    f"SIGTERM with {args.calls} live calls -> exit {process.returncode} "
                    f"after {drained:.2f} s",
                    flush=True,
                )
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


if __name__ == "__main__":
    main()
