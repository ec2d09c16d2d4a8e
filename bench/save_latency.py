"""How long from the browser's hang-up to the conversation document being stored.

    .venv/bin/python bench/save_latency.py [--calls 200] [--concurrent 1]

Serves the relay in-process on 127.0.0.1 (built-in simulator, SQLite in a temporary directory),
holds each call for one typed turn, hangs up (close 1000) and times until the relay reports the
call finished, which is after
its shielded save returned (the call's own `ended` event).  Prints p50 / p99 / max.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import connect, relay_settings, running_relay


async def measure(calls: int, concurrent: int) -> list[float]:
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as data_dir:
        async with running_relay(relay_settings(Path(data_dir))) as relay:
            recorder = relay.app.relay.recorder
            assert recorder is not None

            async def one_call(n: int) -> None:
                customer = f"latency-{n}"
                async with connect(relay, customer_id=customer) as client:
                    await client.say(f"Measure call {n}")
                    [call] = [
                        c for c in relay.app.relay.registry.calls() if c.customer_id == customer
                    ]
                    started = trio.current_time()
                    await client.hang_up()
                    with trio.fail_after(30):
                        await call.ended.wait()
                assert call.outcome == "stored", call.outcome
                latencies.append(trio.current_time() - started)

            for batch in range(0, calls, concurrent):
                async with trio.open_nursery() as nursery:
                    for n in range(batch, min(calls, batch + concurrent)):
                        nursery.start_soon(one_call, n)
            stored = await relay.store.count()
            assert stored == calls, stored
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=1)
    args = parser.parse_args()
    latencies = sorted(trio.run(measure, args.calls, args.concurrent))
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"hang-up -> document stored, {args.calls} calls ({args.concurrent} at a time), SQLite: "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
