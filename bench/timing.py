"""Shared by the save benchmarks: batches of timed operations, percentiles, and one call timed
from the browser's hang-up to its document being stored."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable

import trio

from tests.support.harness import RunningRelay, connect


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )


async def timed_batches(
    count: int, concurrent: int, one: Callable[[int], Awaitable[float]]
) -> list[float]:
    """Run ``one(n)`` for n in range(count), ``concurrent`` at a time; what each returned."""
    latencies: list[float] = []

    async def run(n: int) -> None:
        latencies.append(await one(n))

    for batch in range(0, count, concurrent):
        async with trio.open_nursery() as nursery:
            for n in range(batch, min(count, batch + concurrent)):
                nursery.start_soon(run, n)
    return latencies


async def hang_up_to_stored(relay: RunningRelay, customer: str, turn: str) -> float:
    """Hold one call for a typed turn, hang up (1000), and time until its save returned.

    "Saved" is the call's own ``ended`` event, set after the shielded save, and the call's
    outcome must be "stored" (not spooled).
    """
    async with connect(relay, customer_id=customer) as client:
        await client.say(turn)
        [call] = [c for c in relay.app.relay.registry.calls() if c.customer_id == customer]
        started = trio.current_time()
        await client.hang_up()
        with trio.fail_after(30):
            await call.ended.wait()
    assert call.outcome == "stored", call.outcome
    return trio.current_time() - started
