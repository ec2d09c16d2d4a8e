"""Save latency and request charge against the local Cosmos DB server.

    .venv/bin/python bench/cosmos_save.py [--saves 500] [--calls 200] [--concurrent 20]

Starts tests/cosmos/server.js (install it first: scripts/install-cosmos-server) and measures:

1. ``CosmosStore.save`` of conversation documents of three sizes, one at a time and
   ``--concurrent`` at a time: p50 / p99 / max, and the request charge the server reported;
2. hang-up (close 1000) to document stored, through a relay in-process on Cosmos DB, like
   bench/save_latency.py does for SQLite.

The local server charges 1 RU for every request, so the charges printed say only that the
relay reads ``x-ms-request-charge``; what Azure charges is discussed in docs/store.md.  With
``--use-env`` the same measurements run against the account the ``COSMOSDB_*`` variables name
(it writes ``--saves`` x 6 + ``--calls`` x 2 documents into that container), which gives real
request charges.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.settings import Settings
from app.store.cosmos import CosmosStore
from bench.timing import hang_up_to_stored, summary, timed_batches
from tests.support.cosmos_server import CosmosServer
from tests.support.harness import relay_settings, running_relay

TURN = "I ordered a blue kettle last week and it still has not arrived, can you check it?"


def conversation(n: int, messages: int) -> dict[str, Any]:
    """A conversation document shaped like the relay's, with ``messages`` messages."""
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
    return {
        "id": f"ai_conv_bench{n}_{start:%Y%m%dT%H%M%SZ}",
        "conversation_id": f"bench{n}",
        "customer_id": f"cust-{n % 50}",
        "agent_type": "AI",
        "session_start": start.isoformat(),
        "session_end": (start + timedelta(minutes=3)).isoformat(),
        "duration_seconds": 180.0,
        "disconnect_reason": "user_hangup",
        "graceful_disconnect": True,
        "messages": [
            {"sender": ("user", "assistant")[i % 2], "message": TURN, "interrupted": False}
            for i in range(messages)
        ],
        "metadata": {
            "total_messages": messages,
            "user_messages": (messages + 1) // 2,
            "assistant_messages": messages // 2,
            "interruptions": 0,
            "agents_used": ["root"],
            "tools_called": [],
            "initial_agent": "root",
        },
        "schema_version": 1,
    }


async def timed_saves(
    store: CosmosStore, messages: int, saves: int, width: int
) -> tuple[list[float], list[float]]:
    """Latencies and request charges of ``saves`` saves, ``width`` at a time."""
    charges: list[float] = []

    async def save(n: int) -> float:
        started = trio.current_time()
        outcome = await store.save(conversation(n, messages))
        charges.append(outcome.request_charge or 0.0)
        return trio.current_time() - started

    return await timed_batches(saves, width, save), charges


async def store_saves(cosmos: dict[str, Any], saves: int, concurrent: int) -> None:
    store = await CosmosStore.open(Settings(**cosmos))
    try:
        for messages in (2, 10, 60):
            size = len(json.dumps(conversation(0, messages)).encode())
            for width in (1, concurrent):
                latencies, charges = await timed_saves(store, messages, saves, width)
                print(
                    f"store.save, {messages} messages ({size} bytes), {saves} saves "
                    f"({width} at a time): {summary(latencies)}; "
                    f"request charge {statistics.mean(charges):g} RU"
                )
    finally:
        await store.aclose()


async def relay_hang_ups(cosmos: dict[str, Any], calls: int, concurrent: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = relay_settings(Path(data_dir), **cosmos)
        for width in (1, concurrent):
            async with running_relay(settings) as relay:

                async def one_call(n: int, relay: Any = relay, width: int = width) -> float:
                    return await hang_up_to_stored(relay, f"latency-{width}-{n}", TURN)

                latencies = await timed_batches(calls, width, one_call)
                recorder = relay.app.relay.recorder
                assert recorder is not None
                print(
                    f"hang-up -> document stored, {calls} calls ({width} at a time), Cosmos DB: "
                    f"{summary(latencies)}; {recorder.request_units / recorder.saved:g} RU per save"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=500)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument(
        "--use-env", action="store_true", help="measure the account COSMOSDB_* point at"
    )
    args = parser.parse_args()
    if args.use_env:
        env = Settings.from_env()
        cosmos = {
            name: getattr(env, name)
            for name in (
                "cosmos_endpoint",
                "cosmos_database",
                "cosmos_container",
                "cosmos_key",
                "cosmos_verify_tls",
            )
        }
        trio.run(store_saves, cosmos, args.saves, args.concurrent)
        trio.run(relay_hang_ups, cosmos, args.calls, args.concurrent)
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        server = CosmosServer.start(Path(workdir))
        try:
            trio.run(store_saves, server.settings("bench-store"), args.saves, args.concurrent)
            trio.run(relay_hang_ups, server.settings("bench-relay"), args.calls, args.concurrent)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
