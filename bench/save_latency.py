"""How long from the browser's hang-up to the conversation document being stored.

    .venv/bin/python bench/save_latency.py [--calls 200] [--concurrent 1]

Serves the relay in-process on 127.0.0.1 (built-in simulator, SQLite in a temporary directory),
holds each call for one typed turn, hangs up (close 1000) and times until the relay reports the
call finished, which is after
its shielded save returned (the call's own `ended` event).  Prints p50 / p99 / max.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import hang_up_to_stored, summary, timed_batches
from tests.support.harness import relay_settings, running_relay


async def measure(calls: int, concurrent: int) -> list[float]:
    with tempfile.TemporaryDirectory() as data_dir:
        async with running_relay(relay_settings(Path(data_dir))) as relay:

            async def one_call(n: int) -> float:
                return await hang_up_to_stored(relay, f"latency-{n}", f"Measure call {n}")

            latencies = await timed_batches(calls, concurrent, one_call)
            stored = await relay.store.count()
            assert stored == calls, stored
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=1)
    args = parser.parse_args()
    latencies = trio.run(measure, args.calls, args.concurrent)
    print(
        f"hang-up -> document stored, {args.calls} calls ({args.concurrent} at a time), SQLite: "
        f"{summary(latencies)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
