"""A relay whose Cosmos DB goes away or stalls: the document is spooled, then stored exactly once.

Outage: the local server stops listening and resets its connections (its data is kept, as a
real account's would be), then listens again on the same port.  Slow Cosmos: a TCP proxy on
127.0.0.1 in front of the server stops forwarding, so the SDK's request is sent and no answer
comes; the recorder gives up after ``SAVE_TIMEOUT`` while the SDK's thread is still waiting.

The spool is flushed by the relay's own flusher, whose retries depend on when the other process
answers again, so the tests poll its pending count with a bounded deadline.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import attrs
import pytest
import trio

from app.settings import Settings
from app.store.base import StoreError
from app.store.cosmos import CosmosStore
from app.store.cosmos_connect import CosmosTimeouts
from tests.support.cosmos_server import CosmosServer
from tests.support.documents import BASE, make_document
from tests.support.harness import connect, relay_settings, running_relay
from tests.support.polling import eventually

SAVE_TIMEOUT = 1.0
MARGIN = 2.0


@attrs.define(eq=False)
class StallingProxy:
    """A TCP proxy on 127.0.0.1 that can stop forwarding bytes, in both directions, at will.

    While stalled it still accepts connections and reads what arrives, but holds it back until
    :meth:`resume` -- a server that takes requests and never answers.
    """

    target_port: int
    port: int = 0
    held: trio.Event = attrs.field(factory=trio.Event)
    _flowing: trio.Event = attrs.field(factory=trio.Event)

    def __attrs_post_init__(self) -> None:
        self._flowing.set()

    def stall(self) -> None:
        self._flowing = trio.Event()

    def resume(self) -> None:
        self._flowing.set()

    async def serve(
        self, *, task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        await trio.serve_listeners(self._relay, listeners, task_status=task_status)

    async def _relay(self, client: trio.SocketStream) -> None:
        try:
            server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        except OSError:
            await client.aclose()
            return
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server, nursery.cancel_scope)
            nursery.start_soon(self._pump, server, client, nursery.cancel_scope)

    async def _pump(
        self, source: trio.SocketStream, sink: trio.SocketStream, scope: trio.CancelScope
    ) -> None:
        try:
            while data := await source.receive_some(65536):
                if not self._flowing.is_set():
                    self.held.set()
                    await self._flowing.wait()
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # one side went away: the connection is over
        finally:
            scope.cancel()


async def test_outage_spools_the_document_and_the_flusher_stores_it_once(
    private_cosmos_server: CosmosServer, tmp_path: Path
) -> None:
    server = private_cosmos_server
    settings = relay_settings(tmp_path, **server.settings(), save_timeout=5.0)
    async with running_relay(settings) as relay:
        recorder = relay.app.relay.recorder
        assert recorder is not None
        async with connect(relay, customer_id="outage") as client:
            await client.say("Please do not lose this call.")
            await trio.to_thread.run_sync(server.down)
            await client.hang_up()
        await relay.wait_calls_ended()
        assert (recorder.saved, recorder.spooled, recorder.pending_count()) == (0, 1, 1)

        await trio.to_thread.run_sync(server.up)
        await eventually(lambda: recorder.pending_count() == 0)
        assert recorder.flushed == 1
        assert recorder.request_units == 1.0  # the flushed save's charge was counted
        assert await relay.store.count() == 1
        [doc] = await relay.documents()
    assert doc["customer_id"] == "outage"
    assert doc["disconnect_reason"] == "user_hangup"
    assert doc["messages"][0]["message"] == "Please do not lose this call."


async def test_stalled_cosmos_times_out_into_the_spool_and_the_call_still_ends(
    cosmos_server: CosmosServer, tmp_path: Path
) -> None:
    proxy = StallingProxy(cosmos_server.port)
    # The SDK's read timeout outlasts SAVE_TIMEOUT: the recorder must not wait for it.
    store_factory = partial(CosmosStore.open, timeouts=CosmosTimeouts(read=6.0, operation=8.0))
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        overrides = {
            **cosmos_server.settings(),
            "cosmos_endpoint": f"https://127.0.0.1:{proxy.port}/",
            "save_timeout": SAVE_TIMEOUT,
        }
        settings = relay_settings(tmp_path, **overrides)
        async with running_relay(settings, store_factory=store_factory) as relay:
            recorder = relay.app.relay.recorder
            assert recorder is not None
            async with connect(relay, customer_id="stalled") as client:
                await client.say("Is anyone there?")
                proxy.stall()
                hung_up = trio.current_time()
                await client.hang_up()
            await relay.wait_calls_ended()
            took = trio.current_time() - hung_up
            assert proxy.held.is_set(), "the save never reached the proxy"
            assert SAVE_TIMEOUT <= took < SAVE_TIMEOUT + MARGIN
            assert (recorder.saved, recorder.spooled) == (0, 1)

            proxy.resume()
            await eventually(lambda: recorder.pending_count() == 0)
            # The abandoned upsert and the flusher's both landed, on the same id.
            assert await relay.store.count() == 1
            [doc] = await relay.documents()
        nursery.cancel_scope.cancel()
    assert doc["customer_id"] == "stalled"
    assert doc["messages"][0]["message"] == "Is anyone there?"


async def test_the_sdk_itself_gives_up_on_a_stalled_server(cosmos_server: CosmosServer) -> None:
    """The SDK's own timeouts end a request nobody answers: a thread cannot be cancelled."""
    proxy = StallingProxy(cosmos_server.port)
    timeouts = CosmosTimeouts(connect=1.0, read=1.0, operation=3.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        settings = Settings(
            **{**cosmos_server.settings(), "cosmos_endpoint": f"https://127.0.0.1:{proxy.port}/"}
        )
        store = await CosmosStore.open(settings, timeouts=timeouts)
        try:
            proxy.stall()
            doc = make_document("c", "ai_conv_stalled", BASE)
            for attempt in (partial(store.save, doc), store.count):  # a write, a query
                started = trio.current_time()
                with trio.fail_after(timeouts.operation + MARGIN), pytest.raises(StoreError):
                    await attempt()
                assert trio.current_time() - started >= timeouts.read
            assert proxy.held.is_set()
        finally:
            proxy.resume()
            await store.aclose()
        nursery.cancel_scope.cancel()
