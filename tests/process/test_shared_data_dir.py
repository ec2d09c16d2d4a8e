"""Two relays on one DATA_DIR with no file locks (SPOOL_LOCKS=false), as during a revision
change on Container Apps: the new replica starts while the old one drains, both on the same
Azure Files share, where flock is not to be trusted.

The store (the local Cosmos server) is down while the old relay drains, so its calls end up
in its spool; the new relay must leave that spool alone while the old one lives, adopt it once
the old one is gone, and deliver it.  Nothing lost, nothing stored twice.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
import trio

from app.settings import Settings
from app.store.spool_leases import RENEW_INTERVAL, spools_dir
from tests.process.test_fault_matrix import (
    assert_one_document_each,
    callers,
    cosmos_documents,
    wait_cosmos_count,
)
from tests.process.test_hung_store import store_is_open
from tests.support.cosmos_server import CosmosServer
from tests.support.fleet import Caller, Countdown, open_call
from tests.support.harness import IO_TIMEOUT
from tests.support.polling import eventually, eventually_async
from tests.support.relay_process import RelayProcess, relay_process

pytestmark = pytest.mark.slow


def spool_files(data_dir: Path, kind: str) -> list[Path]:
    """The finished files of ``kind`` (pending, live) in every named spool."""
    return sorted(spools_dir(data_dir).glob(f"*/{kind}/[!.]*.json"))


async def hang_up(relay: RelayProcess, caller: Caller) -> None:
    async with open_call(relay.port, caller.customer_id) as client:
        await caller.talk(client)
        await client.hang_up()


async def test_two_relays_on_one_data_dir_without_locks_lose_and_repeat_nothing(
    private_cosmos_server: CosmosServer, tmp_path: Path
) -> None:
    server = private_cosmos_server
    settings = Settings(**server.settings())
    env = {
        "COSMOSDB_ENDPOINT": server.endpoint,
        "COSMOSDB_KEY": settings.cosmos_key or "",
        "COSMOSDB_VERIFY_TLS": "false",
        "COSMOSDB_DATABASE": settings.cosmos_database,
        "SPOOL_LOCKS": "false",
        "SAVE_TIMEOUT": "1",
        "SHUTDOWN_GRACE": "6",
        "CALL_IDLE_TIMEOUT": "300",
    }
    early, draining, on_new = callers(2, "early"), callers(3, "old"), callers(2, "new")
    async with relay_process(tmp_path, **env) as old, trio.open_nursery() as nursery:
        old_spool = spools_dir(tmp_path) / f"{socket.gethostname()}-{old.pid}"
        await eventually_async(lambda: store_is_open(old.port), IO_TIMEOUT)
        for caller in early:  # stored at once
            await hang_up(old, caller)
        talking = Countdown(len(draining))

        async def hold(relay: RelayProcess, caller: Caller, started: Countdown) -> None:
            async with open_call(relay.port, caller.customer_id) as client:
                await caller.talk(client)
                started.tick()
                await caller.stream_until_closed(client)

        for caller in draining:
            nursery.start_soon(hold, old, caller, talking)
        with trio.fail_after(IO_TIMEOUT * len(draining)):
            await talking.wait()
        await trio.to_thread.run_sync(server.down)

        # The new revision starts beside the old one, on the same data directory.
        async with relay_process(tmp_path, **env) as new:
            # The old relay's live calls are checkpointed in its own spool; the new relay's
            # first round (at start-up) found a live lease and left them alone.
            assert len(list((old_spool / "live").glob("*.json"))) == len(draining)
            assert new.log.matching("Adopted") == []
            new_talking = Countdown(len(on_new))
            hang_up_new = trio.Event()

            async def hold_until_hung_up(caller: Caller) -> None:
                async with open_call(new.port, caller.customer_id) as client:
                    await caller.talk(client)
                    new_talking.tick()
                    await caller.stream_until_closed(client, hang_up=hang_up_new)

            for caller in on_new:
                nursery.start_soon(hold_until_hung_up, caller)
            with trio.fail_after(IO_TIMEOUT * len(on_new)):
                await new_talking.wait()

            # The old revision drains: its calls end, the store is down, they are spooled.
            old.process.send_signal(signal.SIGTERM)
            assert await old.wait_exit() == 0, old.log.tail()
            assert {c.close_code for c in draining} == {1001}
            assert len(list((old_spool / "pending").glob("*.json"))) == len(draining)

            # Its lease is released on the way out: the new relay adopts it on its next round.
            with trio.fail_after(RENEW_INTERVAL + IO_TIMEOUT):
                await new.log.wait_for(f"Adopted {len(draining)} file(s)")
            assert not old_spool.exists()
            await trio.to_thread.run_sync(server.up)
            await wait_cosmos_count(settings, len(early) + len(draining))
            hang_up_new.set()
            await wait_cosmos_count(settings, len(early) + len(draining) + len(on_new))
            new.process.send_signal(signal.SIGTERM)
            assert await new.wait_exit() == 0, new.log.tail()
    await eventually(lambda: not spool_files(tmp_path, "pending"), IO_TIMEOUT)
    assert spool_files(tmp_path, "live") == []
    documents = await cosmos_documents(settings)
    assert_one_document_each(
        [d for d in documents if d["customer_id"].startswith("old-")], draining, "server_shutdown"
    )
    assert_one_document_each(
        [d for d in documents if not d["customer_id"].startswith("old-")],
        early + on_new,
        "user_hangup",
    )
