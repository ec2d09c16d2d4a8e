"""Relay capacity benchmark: how many voice calls one core of the relay carries.

    .venv/bin/python bench/relay_bench.py [--calls 25,50,100,150,200] [--seconds 10] [--compression]

The relay (`python -m app`) runs pinned to CPU 0.  A Node process pinned to CPU 1
(bench/loadgen.mjs) plays N browsers — each sends a 20 ms PCM16 frame every 20 ms — and the model,
which answers every frame with one audio delta.  For each step it prints the round-trip times
(browser send -> delta back), frames lost, and the relay's CPU use.  Capacity = the most calls
with p99 < 50 ms and no frame lost.  All traffic stays on 127.0.0.1; every process it starts, it
stops.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def ensure_node_deps() -> None:
    if not (BENCH / "node_modules" / "ws").is_dir():
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--prefix",
                str(BENCH),
                "ws@8",
            ],
            check=True,
        )


def pinned(cpu: int, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def read_json_line(stream: IO[str]) -> dict[str, Any]:
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start_relay(
    echo_port: int, data_dir: str, compression: bool
) -> tuple[subprocess.Popen[str], int]:
    env = {
        **os.environ,
        "PORT": "0",
        "DATA_DIR": data_dir,
        "LOG_LEVEL": "WARNING",
        "REALTIME_UPSTREAM_URL": f"ws://127.0.0.1:{echo_port}/v1/realtime?model=bench",
        "WS_COMPRESSION": "true" if compression else "false",
        "MAX_CALLS": "2000",
    }
    relay = subprocess.Popen(
        pinned(0, [sys.executable, "-m", "app"]),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert relay.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = relay.stdout.readline()
        if line.startswith("relay listening on http://"):
            return relay, int(line.strip().rsplit(":", 1)[1])
        if not line:
            break
    relay.kill()
    raise RuntimeError("the relay did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="25,50,100,150,200")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--compression", action="store_true", help="WS_COMPRESSION=true")
    parser.add_argument(
        "--no-offer",
        action="store_true",
        help="browsers do not offer permessage-deflate (real browsers always do)",
    )
    args = parser.parse_args()
    steps = [int(n) for n in args.calls.split(",")]
    ensure_node_deps()

    loadgen = subprocess.Popen(
        pinned(1, ["node", str(BENCH / "loadgen.mjs")]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    relay = None
    try:
        assert loadgen.stdin is not None and loadgen.stdout is not None
        echo_port = read_json_line(loadgen.stdout)["echo_port"]
        with tempfile.TemporaryDirectory() as data_dir:
            relay, port = start_relay(echo_port, data_dir, args.compression)
            print(f"relay pid {relay.pid} on CPU 0, compression={args.compression}")
            print(
                f"{'calls':>6} {'sent':>8} {'lost':>6} {'p50 ms':>8} {'p99 ms':>8} "
                f"{'max ms':>8} {'relay CPU':>10}"
            )
            capacity = 0
            for calls in steps:
                command = {
                    "url": f"ws://127.0.0.1:{port}/api/realtime",
                    "calls": calls,
                    "seconds": args.seconds,
                    "deflate": not args.no_offer,
                }
                loadgen.stdin.write(json.dumps(command) + "\n")
                loadgen.stdin.flush()
                assert read_json_line(loadgen.stdout)["phase"] == "sending"
                before, started = cpu_seconds(relay.pid), time.monotonic()
                assert read_json_line(loadgen.stdout)["phase"] == "sent"
                cpu = (cpu_seconds(relay.pid) - before) / (time.monotonic() - started) * 100
                result = read_json_line(loadgen.stdout)
                print(
                    f"{calls:>6} {result['sent']:>8} {result['lost']:>6} "
                    f"{result['p50_ms']:>8} {result['p99_ms']:>8} {result['max_ms']:>8} "
                    f"{cpu:>9.0f}%",
                    flush=True,
                )
                if result["lost"] == 0 and result["p99_ms"] is not None and result["p99_ms"] < 50:
                    capacity = calls
            print(f"capacity (p99 < 50 ms, nothing lost): {capacity} calls on one core")
        loadgen.stdin.write(json.dumps({"quit": True}) + "\n")
        loadgen.stdin.flush()
        loadgen.wait(timeout=10)
    finally:
        for process in (relay, loadgen):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
