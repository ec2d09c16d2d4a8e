"""Relay capacity benchmark: how many voice calls one core carries, as a ratio to a baseline.

    .venv/bin/python bench/relay_bench.py [--calls 50,100,150,200] [--seconds 10] [--runs 3]
        [--workers 1,2] [--no-baseline] [--no-burst] [--syscalls] [--compression] [--no-offer]
        [--recording]

The relay under test (``python -m app`` with WORKERS=N) runs pinned to CPU 0.  A Node process
pinned to CPU 1 (bench/loadgen.mjs) plays N browsers — each sends a 20 ms PCM16 frame every 20 ms
— and the model, which answers every frame with one audio delta and sends each call a burst of
transcript and tool events every 2 s.  In every run the baseline relay (bench/baseline_relay.py,
aiohttp, the style of Azure's RTMiddleTier) takes turns with it at every step, so each
figure comes with its ratio to a peer measured under the same load from the neighbours.

Per step it prints the round trip (browser send -> delta back) p50/p99, frames lost, the relay's
CPU share, and two figures that resist a busy machine better than latency does: the relay's CPU
milliseconds per 1000 echoes (one echo = a frame in and its delta back) and its context switches
per echo.  Capacity = the most calls with p99 < 50 ms and no frame lost.  ``--recording`` adds
``relay-rec``: the same relay with RECORD_CALLS=true (recordings under its data directory), whose
CPU per echo is then also given as a ratio to the recording-off relay of the same run.
``--syscalls`` adds a short step under ``strace -c -f`` per relay: system calls per echo.  All
traffic stays on 127.0.0.1; every process it starts, it stops.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procstat import context_switches, cpu_seconds, descendants, free_port
from bench.report import Step, print_step_header, print_summary, step_line
from bench.syscalls import count_syscalls

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
START_TIMEOUT = 30.0
P99_LIMIT_MS = 50.0
#: The target that records every call (``--recording``).
RECORDING = "relay-rec"


def ensure_node_deps() -> None:
    if not (BENCH / "node_modules" / "ws").is_dir():
        npm = ["npm", "install", "--no-audit", "--no-fund", "--silent"]
        subprocess.run([*npm, "--prefix", str(BENCH), "ws@8"], check=True)


def pinned(cpus: str, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpus, *argv]
    return argv


def read_json_line(stream: IO[str]) -> dict[str, Any]:
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed


def start_target(
    target: str, echo_port: int, data_dir: str, args: argparse.Namespace
) -> subprocess.Popen[str]:
    """Start ``baseline`` or ``relay-wN`` on a fresh port; returns once it listens."""
    port = free_port()
    cwd = ROOT
    upstream = f"ws://127.0.0.1:{echo_port}/v1/realtime?model=bench"
    if target == "baseline":
        argv = [sys.executable, str(BENCH / "baseline_relay.py"), "--upstream", upstream]
        argv += ["--port", str(port)]
        env = dict(os.environ)
    else:
        argv = [sys.executable, "-m", "app"]
        cwd = Path(args.reference) if target == "reference" else ROOT
        env = {
            **os.environ,
            "PORT": str(port),
            "DATA_DIR": data_dir,
            "LOG_LEVEL": "WARNING",
            "REALTIME_UPSTREAM_URL": upstream,
            "WS_COMPRESSION": "true" if args.compression else "false",
            "MAX_CALLS": "2000",
            "WORKERS": (
                target.removeprefix("relay-w")
                if target.startswith("relay-w")
                else args.workers.split(",")[0] if target == RECORDING else "1"
            ),
            "RECORD_CALLS": "true" if target == RECORDING else "false",
        }
    process = subprocess.Popen(
        pinned(args.relay_cpus, argv), cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("relay listening on http://"):
            process.port = int(line.strip().rsplit(":", 1)[1])  # type: ignore[attr-defined]
            return process
        if not line:
            break
    stop(process)
    raise RuntimeError(f"{target} did not start")


def stop(process: subprocess.Popen[str] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class LoadGenerator:
    """The Node process: browsers and the echoing model."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            pinned("1", ["node", str(BENCH / "loadgen.mjs")]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.echo_port = int(read_json_line(self.stdout)["echo_port"])

    def step(
        self, port: int, calls: int, args: argparse.Namespace, pids: list[int], seconds: float
    ) -> dict[str, Any]:
        command = {
            "url": f"ws://127.0.0.1:{port}/api/realtime",
            "calls": calls,
            "seconds": seconds,
            "deflate": not args.no_offer,
            "burst": not args.no_burst,
        }
        self.stdin.write(json.dumps(command) + "\n")
        self.stdin.flush()
        assert read_json_line(self.stdout)["phase"] == "sending"
        cpu0, switches0, started = cpu_seconds(pids), context_switches(pids), time.monotonic()
        assert read_json_line(self.stdout)["phase"] == "sent"
        elapsed = time.monotonic() - started
        cpu, switches = cpu_seconds(pids) - cpu0, context_switches(pids) - switches0
        result = read_json_line(self.stdout)
        result.update(cpu_s=cpu, elapsed_s=elapsed, switches=switches)
        return result

    def quit(self) -> None:
        self.stdin.write(json.dumps({"quit": True}) + "\n")
        self.stdin.flush()
        self.process.wait(timeout=10)


def run_once(
    targets: list[str], run: int, loadgen: LoadGenerator, args: argparse.Namespace, steps: list[int]
) -> list[Step]:
    """One run: every target up at once (idle ones cost nothing), each step on each in turn.

    Targets take turns at every step, seconds apart, in an order rotated from run to run, so
    the neighbours' load on the machine weighs on each about equally.
    """
    results: list[Step] = []
    order = targets[run % len(targets) :] + targets[: run % len(targets)]
    with tempfile.TemporaryDirectory() as data_dir:
        processes: dict[str, subprocess.Popen[str]] = {}
        try:
            for target in order:
                target_dir = Path(data_dir) / target
                target_dir.mkdir()
                processes[target] = start_target(target, loadgen.echo_port, str(target_dir), args)
            for calls in steps:
                for target in order:
                    process = processes[target]
                    pids = descendants(process.pid)
                    port = process.port  # type: ignore[attr-defined]
                    raw = loadgen.step(port, calls, args, pids, args.seconds)
                    step = Step.from_raw(target, run, calls, raw, P99_LIMIT_MS)
                    results.append(step)
                    print(step_line(step), flush=True)
        finally:
            for process in processes.values():
                stop(process)
    return results


def syscalls_per_echo(
    target: str, loadgen: LoadGenerator, args: argparse.Namespace
) -> dict[str, float]:
    """System calls per echo: ``total`` and each call's name."""
    with tempfile.TemporaryDirectory() as data_dir:
        process = start_target(target, loadgen.echo_port, data_dir, args)
        try:
            pids = descendants(process.pid)
            with count_syscalls(pids) as counted:
                raw = loadgen.step(process.port, args.syscall_calls, args, pids, 5.0)  # type: ignore[attr-defined]
            echoes = raw["received"]
            if not counted.total or not echoes:
                return {}
            per_echo = {name: n / echoes for name, n in counted.by_name.items()}
            return {"total": counted.total / echoes, **per_echo}
        finally:
            stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="50,100,150,200")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3, help="repeat the whole ladder")
    parser.add_argument("--workers", default="1", help="WORKERS values for the relay, e.g. 1,2")
    parser.add_argument("--relay-cpus", default="0", help="taskset CPU list for the relays")
    parser.add_argument("--no-baseline", action="store_true", help="skip the aiohttp baseline")
    parser.add_argument(
        "--reference",
        metavar="DIR",
        help="also run the relay found in DIR (e.g. an older commit: git archive | tar -x)",
    )
    parser.add_argument("--no-burst", action="store_true", help="audio only, no event bursts")
    parser.add_argument("--syscalls", action="store_true", help="strace -c step per relay")
    parser.add_argument("--syscall-calls", type=int, default=20)
    parser.add_argument("--compression", action="store_true", help="WS_COMPRESSION=true")
    parser.add_argument(
        "--recording", action="store_true", help="also a relay with RECORD_CALLS=true"
    )
    parser.add_argument(
        "--no-offer",
        action="store_true",
        help="browsers do not offer permessage-deflate (real browsers always do)",
    )
    args = parser.parse_args()
    steps = [int(n) for n in args.calls.split(",")]
    targets = [f"relay-w{int(n)}" for n in args.workers.split(",")]
    if args.recording:
        targets.append(RECORDING)
    if args.reference:
        targets.insert(0, "reference")
    if not args.no_baseline:
        targets.insert(0, "baseline")
    ensure_node_deps()
    print(
        f"relays on CPU {args.relay_cpus}, load generator on CPU 1; {args.seconds:g} s per step, "
        f"{args.runs} run(s); burst={not args.no_burst}, compression={args.compression}"
    )
    loadgen = LoadGenerator()
    results: list[Step] = []
    syscalls: dict[str, dict[str, float]] = {}
    try:
        print_step_header()
        for run in range(1, args.runs + 1):
            results.extend(run_once(targets, run, loadgen, args, steps))
        if args.syscalls:
            for target in targets:
                syscalls[target] = syscalls_per_echo(target, loadgen, args)
        loadgen.quit()
    finally:
        stop(loadgen.process)
    print_summary(results, targets, syscalls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
