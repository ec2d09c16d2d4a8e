"""The fault matrix at scale: many calls, one fault, and exactly one right document per call.

Each test ends the same way: the store holds exactly one document per call (counted per session
id and per customer: no call missing, none written twice), with the reason the fault calls for
and the caller's own first line as its first message.

- SIGTERM while 100 calls stream audio: 100 ``server_shutdown``, exit 0 within ``SHUTDOWN_GRACE``.
- SIGKILL while 100 calls stream audio, then a restart: 100 ``server_crash``, from checkpoints.
- 500 calls dropped at once (TCP closed, no close frame): 500 ``connection_lost`` within 5 s.
- The store (Cosmos DB) down for the whole of 100 calls, then back: 100 documents, each once.

The relay runs as ``python -m app`` (tests/support/relay_process.py) where the fault is a
signal or where
the callers must not share its core; the store outage runs the relay in this trio run so that the
recorder's counters can be checked too.  Callers are trio-websocket connections held by one set of
tasks (tests/support/fleet.py).  Nothing sleeps to wait: countdowns, the relay's log lines, and
polling
the store with a bounded deadline.
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio

from app.settings import Settings
from app.store import deferred as deferred_module
from app.store import recorder as recorder_module
from app.store.cosmos import CosmosStore
from app.store.sqlite import SQLiteStore
from tests.support.cosmos_server import CosmosServer
from tests.support.fleet import Caller, Countdown, open_call
from tests.support.harness import relay_settings, running_relay
from tests.support.relay_process import RelayProcess, relay_process

pytestmark = pytest.mark.slow

CALLS = 100
DROPPED_CALLS = 500
#: What the issue asks of 500 dropped calls: every document stored within this many seconds.
DROP_DEADLINE = 5.0
SHUTDOWN_GRACE = 20.0
#: Calls connecting and saying their line at once (a burst of handshakes beyond the listen
#: backlog would only measure SYN retransmits).
CONNECTING_AT_ONCE = 50
#: Bound on each phase: all calls connected and talking, all streaming, all documents stored.
PHASE_TIMEOUT = 60.0
#: The store outage: each save gives up after this many seconds and goes to the spool.
OUTAGE_SAVE_TIMEOUT = 1.0
#: The store is back: every spooled document is stored within this many seconds.  The flusher
#: retries every second (``quick_flusher_retries``); saves abandoned during the outage keep the
#: Cosmos client's threads until the SDK gives up on them (its operation timeout, 20 s).
FLUSH_DEADLINE = 60.0
#: How often a test looks at a store written by another process.
POLL_INTERVAL = 0.05
#: Frames (20 ms each) every caller has streamed before the fault.
STREAMED_FRAMES = 25
#: Frames each caller sends before its audio: the typed line and ``response.create``.
TEXT_FRAMES = 2
#: The relay's per-call summary line: how many frames it took from the browser.
FRAMES_RELAYED = re.compile(r"closed after [\d.]+ s: (\d+) frames from the browser")
#: The relay's DEBUG line for each checkpoint of a live call.
CHECKPOINTED = re.compile(r"Checkpointed session (\w+) \((\d+) messages\)")


def callers(count: int, prefix: str) -> list[Caller]:
    return [Caller(f"{prefix}-{n}", f"This is caller {n} of {count}.") for n in range(count)]


def assert_one_document_each(
    documents: list[dict[str, Any]], fleet: list[Caller], reason: str
) -> None:
    """Exactly one document per caller, none extra, each with ``reason`` and the caller's line."""
    sessions = Counter(doc["conversation_id"] for doc in documents)
    assert [s for s, n in sessions.items() if n > 1] == [], "a session written twice"
    by_customer = Counter(doc["customer_id"] for doc in documents)
    assert by_customer == Counter(c.customer_id for c in fleet)
    lines = {c.customer_id: c.line for c in fleet}
    reasons = Counter(doc["disconnect_reason"] for doc in documents)
    assert reasons == {reason: len(fleet)}
    for doc in documents:
        assert doc["graceful_disconnect"] is (reason == "user_hangup")
        assert doc["messages"][0] == {
            "sender": "user",
            "message": lines[doc["customer_id"]],
            "interrupted": False,
        }


async def sqlite_documents(data_dir: Path) -> list[dict[str, Any]]:
    store = await SQLiteStore.open(data_dir / "conversations.sqlite3")
    try:
        return [doc async for doc in store.export()]
    finally:
        await store.aclose()


async def sqlite_count(data_dir: Path) -> int:
    store = await SQLiteStore.open(data_dir / "conversations.sqlite3")
    try:
        return await store.count()
    finally:
        await store.aclose()


def pending_files(data_dir: Path) -> list[Path]:
    """The documents waiting in the relay's spool (temporary files of a write excluded)."""
    return sorted((data_dir / "spool" / "pending").glob("[!.]*.json"))


def sessions_in(lines: list[str], fragment: str) -> set[str]:
    """Session ids of the log lines containing ``fragment`` followed by a session id."""
    return {line.split(fragment, 1)[1].split()[0] for line in lines if fragment in line}


async def streaming_calls(
    relay: RelayProcess,
    fleet: list[Caller],
    nursery: trio.Nursery,
    *,
    streaming: Countdown,
) -> None:
    """Start every caller: connect, say its line (the reply included), then stream until the
    relay ends the call.  Returns once all of them streamed ``STREAMED_FRAMES`` frames."""
    connecting = trio.CapacityLimiter(CONNECTING_AT_ONCE)

    async def hold(caller: Caller) -> None:
        async with open_call(relay.port, caller.customer_id) as client:
            async with connecting:
                await caller.talk(client)
            await caller.stream_until_closed(client, streaming=streaming, threshold=STREAMED_FRAMES)

    for caller in fleet:
        nursery.start_soon(hold, caller)
    with trio.fail_after(PHASE_TIMEOUT):
        await streaming.wait()


async def test_sigterm_with_streaming_calls_saves_each_as_server_shutdown(
    tmp_path: Path,
) -> None:
    calls = CALLS
    fleet = callers(calls, "term")
    env = {"SHUTDOWN_GRACE": f"{SHUTDOWN_GRACE:g}", "CALL_IDLE_TIMEOUT": "300"}
    async with relay_process(tmp_path, **env) as relay:
        async with trio.open_nursery() as nursery:
            await streaming_calls(relay, fleet, nursery, streaming=Countdown(calls))
            signalled = trio.current_time()
            relay.process.send_signal(signal.SIGTERM)
            exit_code = await relay.wait_exit()
            took = trio.current_time() - signalled
        log = relay.log
    assert exit_code == 0, log.tail()
    assert took < SHUTDOWN_GRACE, f"exit took {took:.1f} s"
    assert not log.matching("Shutdown grace"), log.tail()
    assert Counter(c.close_code for c in fleet) == {1001: calls}
    # The relay itself counted the streamed frames of every call (its per-call summary line).
    # Audio from every call was reaching the relay when the signal came: beyond the typed line
    # and response.create, it took audio frames.  (Not all that were sent: frames still in the
    # socket when the drain ends a call are never read, and a busy relay lags the callers.)
    frames = [int(n) for n in FRAMES_RELAYED.findall("\n".join(log.lines))]
    assert len(frames) == calls
    assert min(frames) > TEXT_FRAMES
    assert_one_document_each(await sqlite_documents(tmp_path), fleet, "server_shutdown")


def checkpointed_sessions(lines: list[str], messages: int) -> set[str]:
    """Sessions whose checkpoint held at least ``messages`` messages (DEBUG log lines)."""
    found = (CHECKPOINTED.search(line) for line in lines)
    return {m[1] for m in found if m is not None and int(m[2]) >= messages}


async def test_sigkill_with_streaming_calls_then_restart_recovers_each_as_server_crash(
    tmp_path: Path,
) -> None:
    calls = CALLS
    fleet = callers(calls, "kill")
    env = {"CHECKPOINT_INTERVAL": "0.2", "LOG_LEVEL": "DEBUG", "CALL_IDLE_TIMEOUT": "300"}
    async with relay_process(tmp_path, **env) as relay, trio.open_nursery() as nursery:
        await streaming_calls(relay, fleet, nursery, streaming=Countdown(calls))
        # Every call's line and reply are in a checkpoint: that is what a crash keeps.
        with trio.fail_after(PHASE_TIMEOUT):
            await relay.log.wait_until(lambda lines: len(checkpointed_sessions(lines, 2)) == calls)
        relay.process.kill()
        assert await relay.wait_exit() == -signal.SIGKILL
    assert Counter(c.close_code for c in fleet) == {1006: calls}
    assert await sqlite_count(tmp_path) == 0
    assert len(list((tmp_path / "spool" / "live").iterdir())) == calls

    async with relay_process(tmp_path) as relay:
        with trio.fail_after(PHASE_TIMEOUT):
            await relay.log.wait_for(f"recovered {calls} checkpointed conversation(s)")
            await relay.log.wait_until(
                lambda lines: len(sessions_in(lines, "Conversation logged for session ")) == calls
            )
        relay.process.send_signal(signal.SIGTERM)
        assert await relay.wait_exit() == 0, relay.log.tail()
    documents = await sqlite_documents(tmp_path)
    assert_one_document_each(documents, fleet, "server_crash")
    assert all(doc["messages"][1]["sender"] == "assistant" for doc in documents)
    assert not any((tmp_path / "spool" / "live").iterdir())
    assert pending_files(tmp_path) == []


async def wait_sqlite_count(data_dir: Path, expected: int, deadline: float) -> None:
    """Return once the relay's SQLite file holds ``expected`` documents; fail at ``deadline``
    (on trio's clock).

    Polled: the documents are written by another process, which offers no event to wait on.
    """
    store = await SQLiteStore.open(data_dir / "conversations.sqlite3")
    try:
        with trio.fail_at(deadline):
            while await store.count() < expected:  # noqa: ASYNC110
                await trio.sleep(POLL_INTERVAL)
    finally:
        await store.aclose()


async def test_500_calls_dropped_at_once_are_all_stored_within_5_s(tmp_path: Path) -> None:
    calls = DROPPED_CALLS
    fleet = callers(calls, "drop")
    # No checkpoints and no idle limit while 500 calls connect: this is about the final saves.
    env = {"CALL_IDLE_TIMEOUT": "300", "CHECKPOINT_INTERVAL": "600"}
    async with relay_process(tmp_path, **env) as relay:
        talking = Countdown(calls)
        drop = trio.Event()
        connecting = trio.CapacityLimiter(CONNECTING_AT_ONCE)

        async def hold(caller: Caller) -> None:
            async with open_call(relay.port, caller.customer_id) as client:
                async with connecting:
                    await caller.talk(client, wait_reply=False)
                talking.tick()
                await drop.wait()
                await client.drop()

        async with trio.open_nursery() as nursery:
            for caller in fleet:
                nursery.start_soon(hold, caller)
            with trio.fail_after(PHASE_TIMEOUT):
                await talking.wait()
            assert await sqlite_count(tmp_path) == 0
            drop.set()
            dropped_at = trio.current_time()
        await wait_sqlite_count(tmp_path, calls, dropped_at + DROP_DEADLINE)
        relay.process.send_signal(signal.SIGTERM)
        assert await relay.wait_exit() == 0, relay.log.tail()
    assert_one_document_each(await sqlite_documents(tmp_path), fleet, "connection_lost")


async def cosmos_documents(settings: Settings) -> list[dict[str, Any]]:
    """Every document in the Cosmos DB container of ``settings``, read by a client of our own."""
    store = await CosmosStore.open(settings)
    try:
        return [doc async for doc in store.export()]
    finally:
        await store.aclose()


async def wait_cosmos_count(settings: Settings, expected: int) -> None:
    """Return once the container holds ``expected`` documents; fail after ``FLUSH_DEADLINE``.

    Polled: the relay's flusher retries on its own backoff schedule, whose outcome depends on
    when the Cosmos DB server answers again; nothing outside the relay can wait on it.
    """
    store = await CosmosStore.open(settings)
    try:
        with trio.fail_after(FLUSH_DEADLINE):
            while await store.count() < expected:  # noqa: ASYNC110
                await trio.sleep(POLL_INTERVAL)
    finally:
        await store.aclose()


async def wait_spool_empty(data_dir: Path) -> None:
    """Return once the spool holds no pending document; fail after ``FLUSH_DEADLINE``.

    Polled: the flusher deletes each file just after its save, and offers no event.
    """
    with trio.fail_after(FLUSH_DEADLINE):
        while pending_files(data_dir):  # noqa: ASYNC110
            await trio.sleep(POLL_INTERVAL)


async def hang_up_calls(port: int, fleet: list[Caller]) -> None:
    """Each caller connects, says its line, hears the reply and hangs up (close 1000)."""
    connecting = trio.CapacityLimiter(CONNECTING_AT_ONCE)

    async def call(caller: Caller) -> None:
        async with connecting, open_call(port, caller.customer_id) as client:
            await caller.talk(client)
            await client.hang_up()

    with trio.fail_after(PHASE_TIMEOUT):
        async with trio.open_nursery() as nursery:
            for caller in fleet:
                nursery.start_soon(call, caller)


@pytest.fixture
def quick_flusher_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cap the flusher's backoff at 1 s.  Each document spooled during the outage wakes the
    flusher for a pass that fails and doubles its wait, up to ``BACKOFF_MAX`` (60 s): the cap
    keeps the test from waiting a minute after the store is back, and changes nothing else."""
    monkeypatch.setattr(recorder_module, "BACKOFF_MAX", 1.0)


@pytest.fixture
def quick_store_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cap the store opener's backoff at 1 s, for the same reason (its cap is 30 s)."""
    monkeypatch.setattr(deferred_module, "RETRY_MAX", 1.0)


@pytest.mark.usefixtures("quick_flusher_retries")
async def test_store_down_for_100_calls_then_back_stores_each_once(
    private_cosmos_server: CosmosServer, tmp_path: Path
) -> None:
    server = private_cosmos_server
    calls = CALLS
    fleet = callers(calls, "outage")
    overrides = server.settings()
    settings = relay_settings(tmp_path, **overrides, save_timeout=OUTAGE_SAVE_TIMEOUT)
    async with running_relay(settings) as relay:
        recorder = relay.app.relay.recorder
        assert recorder is not None
        await trio.to_thread.run_sync(server.down)
        await hang_up_calls(relay.port, fleet)
        with trio.fail_after(PHASE_TIMEOUT):
            await relay.app.relay.registry.wait_idle()
        assert (recorder.saved, recorder.spooled) == (0, calls)
        assert len(pending_files(tmp_path)) == calls

        await trio.to_thread.run_sync(server.up)
        await wait_cosmos_count(Settings(**overrides), calls)
        await wait_spool_empty(tmp_path)
        assert recorder.flushed == calls
    documents = await cosmos_documents(Settings(**overrides))
    assert_one_document_each(documents, fleet, "user_hangup")


@pytest.mark.usefixtures("quick_flusher_retries", "quick_store_reconnects")
async def test_store_down_at_start_up_for_100_calls_then_back_stores_each_once(
    private_cosmos_server: CosmosServer, tmp_path: Path
) -> None:
    server = private_cosmos_server
    calls = CALLS
    fleet = callers(calls, "cold")
    overrides = server.settings()
    settings = relay_settings(tmp_path, **overrides, save_timeout=OUTAGE_SAVE_TIMEOUT)
    await trio.to_thread.run_sync(server.down)
    async with running_relay(settings) as relay:
        await hang_up_calls(relay.port, fleet)
        with trio.fail_after(PHASE_TIMEOUT):
            await relay.app.relay.registry.wait_idle()
        await trio.to_thread.run_sync(server.up)
        await wait_cosmos_count(Settings(**overrides), calls)
        await wait_spool_empty(tmp_path)
    documents = await cosmos_documents(Settings(**overrides))
    assert_one_document_each(documents, fleet, "user_hangup")
