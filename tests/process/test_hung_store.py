"""A store that accepts connections and never answers while SIGTERM drains (the resilience
issue's last untested case).

The local Cosmos DB server is stopped with SIGSTOP once the calls are talking: its socket
still accepts (the kernel completes handshakes into the backlog) but nothing answers, the way
a hung store or a black-holed route behaves.  The relay must still exit within
``SHUTDOWN_GRACE`` with every conversation in its spool, and deliver each once, after a
restart, when the store answers again (SIGCONT).
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
import trio

from app.settings import SPOOL_MARGIN, Settings
from tests.process.test_fault_matrix import (
    assert_one_document_each,
    callers,
    cosmos_documents,
    pending_files,
    wait_cosmos_count,
    wait_spool_empty,
)
from tests.support.cosmos_server import CosmosServer
from tests.support.fleet import Countdown, open_call
from tests.support.harness import IO_TIMEOUT
from tests.support.polling import eventually_async
from tests.support.relay_process import relay_process

pytestmark = pytest.mark.slow

CALLS = 5
SAVE_TIMEOUT = 2.0
#: The least grace the relay accepts for that SAVE_TIMEOUT.
SHUTDOWN_GRACE = SAVE_TIMEOUT + SPOOL_MARGIN


def relay_env(server: CosmosServer, settings: Settings) -> dict[str, str]:
    return {
        "COSMOSDB_ENDPOINT": server.endpoint,
        "COSMOSDB_KEY": settings.cosmos_key or "",
        "COSMOSDB_VERIFY_TLS": "false",
        "COSMOSDB_DATABASE": settings.cosmos_database,
        "SAVE_TIMEOUT": f"{SAVE_TIMEOUT:g}",
        "SHUTDOWN_GRACE": f"{SHUTDOWN_GRACE:g}",
        "CALL_IDLE_TIMEOUT": "300",
    }


async def store_is_open(port: int) -> bool:
    async with httpx.AsyncClient(timeout=IO_TIMEOUT) as http:
        answer = await http.get(f"http://127.0.0.1:{port}/readyz")
    return bool(answer.json()["store"]["state"] == "open")


async def test_a_store_that_hangs_during_the_drain_costs_no_call(
    private_cosmos_server: CosmosServer, tmp_path: Path
) -> None:
    server = private_cosmos_server
    settings = Settings(**server.settings())
    env = relay_env(server, settings)
    fleet = callers(CALLS, "hung")
    talking = Countdown(CALLS)
    try:
        async with relay_process(tmp_path, **env) as relay, trio.open_nursery() as nursery:
            await eventually_async(lambda: store_is_open(relay.port), IO_TIMEOUT)

            async def hold(caller_index: int) -> None:
                caller = fleet[caller_index]
                async with open_call(relay.port, caller.customer_id) as client:
                    await caller.talk(client)
                    talking.tick()
                    await caller.stream_until_closed(client)

            for index in range(CALLS):
                nursery.start_soon(hold, index)
            with trio.fail_after(IO_TIMEOUT * CALLS):
                await talking.wait()
            server.process.send_signal(signal.SIGSTOP)  # accepts, never answers
            signalled = trio.current_time()
            relay.process.send_signal(signal.SIGTERM)
            exit_code = await relay.wait_exit()
            took = trio.current_time() - signalled
        assert exit_code == 0, relay.log.tail()
        assert took < SHUTDOWN_GRACE, f"exit took {took:.1f} s:\n{relay.log.tail()}"
        assert {c.close_code for c in fleet} == {1001}
        assert len(pending_files(tmp_path)) == CALLS, relay.log.tail()
    finally:
        server.process.send_signal(signal.SIGCONT)

    # The store answers again (the requests the first relay left in its backlog included):
    # a new relay on the same data directory delivers every spooled conversation once.
    async with relay_process(tmp_path, **env) as relay:
        await wait_cosmos_count(settings, CALLS)
        await wait_spool_empty(tmp_path)
        relay.process.send_signal(signal.SIGTERM)
        assert await relay.wait_exit() == 0, relay.log.tail()
    assert_one_document_each(await cosmos_documents(settings), fleet, "server_shutdown")
