"""``python -m app`` as a real process: SIGTERM drains and saves; SIGKILL is recovered on restart.

The tests learn what the process did from its log lines (read as they are written), so they
wait on events rather than polling files or sleeping.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import trio

from tests.support.app_process import (
    call,
    relay_process,
    stored_documents,
    wait_exit,
)
from tests.support.harness import IO_TIMEOUT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("to_group", [False, True], ids=["pid", "process-group"])
async def test_sigterm_saves_live_calls_as_server_shutdown(tmp_path: Path, to_group: bool) -> None:
    async with relay_process(tmp_path) as relay, trio.open_nursery() as nursery:
        closes: dict[str, int] = {}
        both_talking = trio.Event()
        talking = 0

        async def caller(customer: str) -> None:
            nonlocal talking
            async with call(relay.port, customer) as client:
                await client.say(f"This is {customer}.")
                talking += 1
                if talking == 2:
                    both_talking.set()
                closes[customer] = (await client.wait_closed()).code

        nursery.start_soon(caller, "alice")
        nursery.start_soon(caller, "bob")
        with trio.fail_after(IO_TIMEOUT):
            await both_talking.wait()
        if to_group:
            os.killpg(relay.process.pid, signal.SIGTERM)
        else:
            relay.process.send_signal(signal.SIGTERM)
        assert await wait_exit(relay.process) == 0, "\n".join(relay.output)
    assert closes == {"alice": 1001, "bob": 1001}
    documents = await stored_documents(tmp_path)
    assert sorted(doc["customer_id"] for doc in documents) == ["alice", "bob"]
    for doc in documents:
        assert doc["disconnect_reason"] == "server_shutdown"
        assert doc["graceful_disconnect"] is False
        assert doc["messages"][0]["message"] == f"This is {doc['customer_id']}."
        assert doc["messages"][1]["sender"] == "assistant"


async def test_sigkill_then_restart_recovers_a_server_crash_document(tmp_path: Path) -> None:
    live = tmp_path / "spool" / "live"
    crashing = relay_process(tmp_path, CHECKPOINT_INTERVAL="0.2", LOG_LEVEL="DEBUG")
    async with crashing as relay, call(relay.port, "carol") as client:
        await client.say("Please remember this.")
        await relay.wait_for_line("Checkpointed session")
        relay.process.kill()
        assert await wait_exit(relay.process) == -signal.SIGKILL
    assert await stored_documents(tmp_path) == []
    assert any(live.iterdir())

    async with relay_process(tmp_path) as relay:
        await relay.wait_for_line("from the spool")
        relay.process.send_signal(signal.SIGTERM)
        assert await wait_exit(relay.process) == 0
    documents = await stored_documents(tmp_path)
    assert len(documents) == 1
    doc = documents[0]
    assert doc["disconnect_reason"] == "server_crash"
    assert doc["customer_id"] == "carol"
    assert doc["messages"][0]["message"] == "Please remember this."
    assert not any(live.iterdir())


async def test_a_kill_right_after_the_first_reply_loses_no_call(tmp_path: Path) -> None:
    """The first change of a call is checkpointed at once, not one interval later: a crash in
    a call's first seconds (here well inside a one-minute interval) still leaves its document."""
    crashing = relay_process(tmp_path, CHECKPOINT_INTERVAL="60")
    async with crashing as relay, call(relay.port, "dave") as client:
        turn = await client.say("I only just called.")
        assert turn[-1]["response"]["status"] == "completed"
        relay.process.kill()
        assert await wait_exit(relay.process) == -signal.SIGKILL
    assert await stored_documents(tmp_path) == []

    async with relay_process(tmp_path) as relay:
        await relay.wait_for_line("from the spool")
        relay.process.send_signal(signal.SIGTERM)
        assert await wait_exit(relay.process) == 0
    [doc] = await stored_documents(tmp_path)
    assert (doc["customer_id"], doc["disconnect_reason"]) == ("dave", "server_crash")
    assert doc["messages"][0]["message"] == "I only just called."
