"""The save survives cancellation, slow stores and broken stores — through a real relay.

`GatedStore` puts a gate the test controls in front of the real SQLite store: saves can be made
to hang until released, or to fail, and the test is told (by events) when a save starts and when
one reaches SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
import trio
import trio.testing

from app.store.sqlite import SQLiteStore
from tests.support.gated_store import GatedStore, factory_for
from tests.support.harness import IO_TIMEOUT, connect, relay_settings, running_relay


@pytest.fixture
async def gated(tmp_path: Path) -> AsyncGenerator[GatedStore, None]:
    inner = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    try:
        yield GatedStore(inner)
    finally:
        await inner.aclose()


async def test_the_save_completes_when_everything_is_cancelled_mid_save(
    tmp_path: Path, gated: GatedStore
) -> None:
    gated.mode = "hang"
    settings = relay_settings(tmp_path, save_timeout=60.0)
    async with trio.open_nursery() as outer:
        with trio.CancelScope() as server_scope:
            async with running_relay(settings, store_factory=factory_for(gated)) as relay:
                async with connect(relay, customer_id="shielded") as client:
                    await client.say("Do not lose this.")
                    await client.hang_up()
                with trio.fail_after(IO_TIMEOUT):
                    await gated.save_started.wait()
                [live_call] = relay.app.relay.registry.calls()

                async def open_gate_once_everything_is_cancelled() -> None:
                    await trio.testing.wait_all_tasks_blocked()
                    gated.gate.set()

                outer.start_soon(open_gate_once_everything_is_cancelled)
                # Cancel the whole server: hypercorn, the connection, the call's nursery.
                server_scope.cancel()
                await trio.sleep_forever()
    assert server_scope.cancelled_caught
    assert live_call.outcome == "stored"
    [doc] = (await gated.inner.recent(limit=10)).items
    assert doc["customer_id"] == "shielded"
    assert doc["disconnect_reason"] == "user_hangup"
    assert doc["messages"][0]["message"] == "Do not lose this."


@pytest.mark.parametrize("failure", ["hang", "fail"])
async def test_a_hanging_or_failing_save_is_spooled_then_flushed_once(
    tmp_path: Path, gated: GatedStore, failure: str
) -> None:
    gated.mode = failure
    save_timeout = 0.5
    settings = relay_settings(tmp_path, save_timeout=save_timeout)
    async with running_relay(settings, store_factory=factory_for(gated)) as relay:
        recorder = relay.app.relay.recorder
        assert recorder is not None
        async with connect(relay, customer_id="spooled") as client:
            await client.say("Keep this safe.")
            hung_up_at = trio.current_time()
            await client.hang_up()
        await relay.wait_calls_ended()
        # The call's nursery exits within the save timeout plus the spool write.
        assert trio.current_time() - hung_up_at < save_timeout + 2.0
        assert recorder.spooled == 1
        assert recorder.pending_count() == 1
        assert len(list((tmp_path / "spool" / "pending").iterdir())) == 1
        assert gated.stored_count == 0

        gated.mode = "open"
        gated.gate.set()
        with trio.fail_after(IO_TIMEOUT):
            await gated.stored.wait()
    assert gated.stored_count == 1
    assert recorder.flushed == 1
    assert recorder.pending_count() == 0
    assert not any((tmp_path / "spool" / "pending").iterdir())
    [doc] = (await gated.inner.recent(limit=10)).items
    assert doc["customer_id"] == "spooled"
    assert doc["messages"][0]["message"] == "Keep this safe."
