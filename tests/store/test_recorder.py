"""DurableRecorder: store first, spool on failure, the flusher, and recovery after a crash.

Most tests use a fake store (SQLiteStore has its own tests against real files) and a real
spool on tmp_path.

Clocks: the recorder does its file work in worker threads, and an autojumping MockClock jumps
to the next deadline whenever every task is blocked -- *including while a thread works*, so a
backoff or guard deadline would fire early, at random.  The time-dependent tests therefore use
the manual ``mock_clock``: :func:`settle` waits (no sleeping) until no thread runs and every task
is blocked, then the test jumps the clock exactly where it wants.  A broken recorder makes these
tests fail, never hang: they look at what happened with ``receive_nowait`` after settling.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from app.record.tracker import Sender
from app.store import (
    DurableRecorder,
    InvalidDocumentError,
    Page,
    SaveOutcome,
    Spool,
    SQLiteStore,
    StoreError,
    document_key,
)
from app.store.recorder import BACKOFF_INITIAL, BACKOFF_JITTER, BACKOFF_MAX
from tests.support.documents import conversation, make_document

SAVE_TIMEOUT = 10.0
GUARD = 10  # real seconds, for the tests on the real clock


@attrs.frozen
class Attempt:
    at: float
    doc_id: str
    ok: bool


@attrs.define(eq=False)
class FakeStore:
    """A store in memory that fails, hangs or waits on a gate when told to."""

    name: str = "fake"
    docs: dict[tuple[str, str], dict[str, Any]] = attrs.field(factory=dict)
    writes: list[str] = attrs.field(factory=list)  # ids actually written, in order
    fail_next: int = 0  # the next N saves raise StoreError
    hang: bool = False
    gate: trio.Event | None = None  # when set, saves wait for it
    attempts_tx: trio.MemorySendChannel[Attempt] = attrs.field(init=False)
    attempts: trio.MemoryReceiveChannel[Attempt] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.attempts_tx, self.attempts = trio.open_memory_channel[Attempt](100)

    async def save(self, doc: Mapping[str, Any], *, overwrite: bool = True) -> SaveOutcome:
        key = document_key(doc)
        await trio.lowlevel.checkpoint()
        if self.gate is not None:
            await self.gate.wait()
        if self.hang:
            await trio.sleep_forever()
        if self.fail_next > 0:
            self.fail_next -= 1
            self.attempts_tx.send_nowait(Attempt(trio.current_time(), key[1], ok=False))
            raise StoreError("store unreachable")
        if overwrite or key not in self.docs:
            self.docs[key] = dict(doc)
            self.writes.append(key[1])
        self.attempts_tx.send_nowait(Attempt(trio.current_time(), key[1], ok=True))
        return SaveOutcome()

    async def count(self) -> int:
        return len(self.docs)

    async def recent(
        self, *, limit: int, customer_id: str | None = None, continuation: str | None = None
    ) -> Page:
        raise NotImplementedError

    async def get(self, customer_id: str, doc_id: str) -> dict[str, Any] | None:
        return self.docs.get((customer_id, doc_id))

    async def export(self, **kwargs: Any) -> AsyncGenerator[dict[str, Any], None]:
        for doc in list(self.docs.values()):
            yield doc

    async def ping(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def make_doc(session: str, n_messages: int = 2, **extra: Any) -> dict[str, Any]:
    """The document of call ``session`` (customer ``cust-1``): ``n_messages`` lines, turn about."""
    senders: tuple[Sender, Sender] = ("user", "assistant")
    said = [(senders[i % 2], f"m{i}") for i in range(n_messages)]
    if not said:
        # The builder makes no document for a call without messages; a checkpoint taken before
        # anything was said (which recovery must skip) is written by hand from a real one.
        empty = make_document("cust-1", session_id=session)
        return {**empty, "messages": [], **extra}
    return make_document("cust-1", session_id=session, record=conversation(said), **extra)


async def settle() -> None:
    """Return once no worker thread runs and every task is blocked."""
    while True:
        await trio.testing.wait_all_threads_completed()
        await trio.testing.wait_all_tasks_blocked()
        if trio.testing.active_thread_count() == 0:
            return


def attempts_so_far(store: FakeStore) -> list[Attempt]:
    """The save attempts reported since the last call, without waiting."""
    found: list[Attempt] = []
    while True:
        try:
            found.append(store.attempts.receive_nowait())
        except trio.WouldBlock:
            return found


async def jump_to(clock: trio.testing.MockClock, when: float) -> None:
    """Let everything settle, move the clock to ``when``, and let the consequences settle."""
    await settle()
    clock.jump(when - trio.current_time())
    await settle()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool")


async def test_save_stores_and_logs(spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore()
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    doc = make_doc("s1", n_messages=3)
    with caplog.at_level(logging.INFO, logger="app.store"), trio.fail_after(GUARD):
        assert await recorder.save(doc) == "stored"
    assert store.docs[("cust-1", doc["id"])] == doc
    assert (recorder.saved, recorder.spooled, recorder.pending_count()) == (1, 0, 0)
    assert spool.pending() == []
    assert "Conversation logged for session s1 (3 messages)" in caplog.messages


async def test_store_error_spools_then_flusher_stores_it_once(
    spool: Spool, mock_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = FakeStore(fail_next=4)  # the save itself, then three flusher attempts
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    doc = make_doc("s1")
    with caplog.at_level(logging.INFO, logger="app.store"):
        assert await recorder.save(doc) == "spooled"
    assert (recorder.saved, recorder.spooled, recorder.pending_count()) == (0, 1, 1)
    assert len(spool.pending()) == 1
    assert "Failed to log conversation for session s1: store unreachable" in caplog.messages
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "s1" in warning.getMessage()
    assert "retried" in warning.getMessage()
    assert [a.ok for a in attempts_so_far(store)] == [False]

    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run_flusher)
        await settle()
        attempts = attempts_so_far(store)
        for nominal in (1.0, 2.0, 4.0):
            await jump_to(mock_clock, attempts[-1].at + nominal)
            attempts += attempts_so_far(store)
        assert [a.ok for a in attempts] == [False, False, False, True]

        assert store.writes == [doc["id"]]
        assert store.docs[("cust-1", doc["id"])] == doc
        assert spool.pending() == []
        assert (recorder.flushed, recorder.flush_failures, recorder.pending_count()) == (1, 3, 0)

        # Nothing more happens however long we wait: the spool is empty.
        await jump_to(mock_clock, trio.current_time() + 10 * BACKOFF_MAX)
        assert attempts_so_far(store) == []
        nursery.cancel_scope.cancel()  # and the flusher ends cleanly on cancellation
    assert store.writes == [doc["id"]]


async def test_spooled_document_lands_in_real_sqlite_once_it_is_reachable(
    tmp_path: Path, spool: Spool
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the database directory should be")
    store = SQLiteStore(blocker / "conversations.sqlite3")  # unusable until blocker goes
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    doc = make_doc("s1")
    try:
        with trio.fail_after(GUARD):
            assert await recorder.save(doc) == "spooled"
            assert await recorder.flush() is False
            assert recorder.flush_failures == 1

            blocker.unlink()
            assert await recorder.flush() is True
            assert await store.get("cust-1", doc["id"]) == doc
            assert await store.count() == 1
            assert spool.pending() == []
            assert (recorder.flushed, recorder.pending_count()) == (1, 0)
    finally:
        await store.aclose()


async def test_hanging_store_spools_after_save_timeout(
    spool: Spool, mock_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = FakeStore(hang=True)
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    results: list[str] = []

    async def end_of_call() -> None:
        results.append(await recorder.save(make_doc("s1")))

    with caplog.at_level(logging.WARNING, logger="app.store"):
        async with trio.open_nursery() as nursery:
            started = trio.current_time()
            nursery.start_soon(end_of_call)
            await jump_to(mock_clock, started + SAVE_TIMEOUT - 0.001)
            assert results == []
            assert spool.pending() == []
            await jump_to(mock_clock, started + SAVE_TIMEOUT)
            assert results == ["spooled"]
    assert len(spool.pending()) == 1
    assert any(
        r.levelno == logging.ERROR
        and r.getMessage().startswith("Failed to log conversation for session s1: ")
        and "10 s" in r.getMessage()
        for r in caplog.records
    )


async def test_shielded_save_survives_cancellation_of_the_call(spool: Spool) -> None:
    store = FakeStore(gate=trio.Event())
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    doc = make_doc("s1")
    results: list[str] = []

    async def end_of_call(call_scope: trio.CancelScope) -> None:
        with call_scope, trio.move_on_after(SAVE_TIMEOUT + 5, shield=True):
            results.append(await recorder.save(doc))

    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            call_scope = trio.CancelScope()
            nursery.start_soon(end_of_call, call_scope)
            await trio.testing.wait_all_tasks_blocked()
            call_scope.cancel()  # the call is torn down while its save is in flight
            await trio.testing.wait_all_tasks_blocked()
            assert results == []
            assert store.gate is not None
            store.gate.set()
    assert results == ["stored"]
    assert store.docs[("cust-1", doc["id"])] == doc
    assert spool.pending() == []


async def test_shielded_save_runs_even_in_an_already_cancelled_scope(
    tmp_path: Path, spool: Spool
) -> None:
    store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    doc = make_doc("s1")
    try:
        with trio.fail_after(GUARD):
            with trio.CancelScope() as call_scope:
                call_scope.cancel()
                with trio.move_on_after(SAVE_TIMEOUT + 5, shield=True):
                    assert await recorder.save(doc) == "stored"
            assert await store.get("cust-1", doc["id"]) == doc
    finally:
        with trio.move_on_after(GUARD, shield=True):
            await store.aclose()


async def test_unshielded_save_that_is_cancelled_still_spools(spool: Spool) -> None:
    store = FakeStore(hang=True)
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(recorder.save, make_doc("s1"))
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    [path] = spool.pending()
    entry = spool.read(path)
    assert entry is not None
    assert entry.doc == make_doc("s1")
    assert entry.overwrite is True


async def test_save_reports_lost_when_store_and_spool_both_fail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "not-a-dir"
    root.write_text("")
    recorder = DurableRecorder(FakeStore(fail_next=1), Spool(root), SAVE_TIMEOUT)
    with trio.fail_after(GUARD):
        assert await recorder.save(make_doc("s1")) == "lost"
    assert any("it is lost" in m for m in caplog.messages)
    assert (recorder.spooled, recorder.lost) == (0, 1)
    status = recorder.spool_status()
    assert status["writable"] is False
    assert status["error"].startswith("spool a document: ")
    assert status["lost"] == 1


async def test_spool_failures_are_told_once_and_recovery_is_noticed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "spool"
    root.write_text("")  # a file where the directory should be: nothing can be written
    recorder = DurableRecorder(FakeStore(), Spool(root), SAVE_TIMEOUT)
    with trio.fail_after(GUARD):
        assert await recorder.recover() == 0  # unreadable: calls are still served
        for _ in range(3):
            await recorder.checkpoint("s1", make_doc("s1"))
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "cannot be written" in errors[0].getMessage()
    assert recorder.spool_status()["write_failures"] == 4
    root.unlink()
    with trio.fail_after(GUARD):
        await recorder.checkpoint("s1", make_doc("s1"))
    assert recorder.spool_status()["writable"] is True
    assert any("writable again" in m for m in caplog.messages)


async def test_checkpoints_are_written_and_discarded_even_when_cancelled(spool: Spool) -> None:
    recorder = DurableRecorder(FakeStore(), spool, SAVE_TIMEOUT)
    with trio.fail_after(GUARD):
        await recorder.checkpoint("s1", make_doc("s1", n_messages=1))
        await recorder.checkpoint("s1", make_doc("s1", n_messages=2))
        [path] = spool.checkpoints()
        entry = spool.read(path)
        assert entry is not None
        assert len(entry.doc["messages"]) == 2

        with trio.CancelScope() as scope:
            scope.cancel()
            await recorder.discard_checkpoint("s1")
        assert spool.checkpoints() == []


async def test_checkpoint_disk_errors_are_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "not-a-dir"
    root.write_text("")
    recorder = DurableRecorder(FakeStore(), Spool(root), SAVE_TIMEOUT)
    with trio.fail_after(GUARD):
        await recorder.checkpoint("s1", make_doc("s1"))
    assert any("cannot be written (checkpoint: Not a directory)" in m for m in caplog.messages)


async def test_recover_never_overwrites_a_complete_document(
    tmp_path: Path, spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    complete_a = make_doc("a", n_messages=5)
    partial = {"disconnect_reason": "server_crash", "session_end": None}
    try:
        with trio.fail_after(GUARD):
            # a: saved in full, then the process died before discarding its checkpoint.
            await store.save(complete_a)
            spool.write_checkpoint("a", make_doc("a", n_messages=3, **partial))
            # b: died mid-call; only the checkpoint exists.
            spool.write_checkpoint("b", make_doc("b", n_messages=2, **partial))
            # c: its final document was spooled, then the process died.
            final_c = make_doc("c", n_messages=4)
            spool.write_pending(final_c)
            spool.write_checkpoint("c", make_doc("c", n_messages=1, **partial))
            # d: died before anything was said.
            spool.write_checkpoint("d", make_doc("d", n_messages=0, **partial))
            # e: a checkpoint the crash corrupted.
            (spool.live_dir / "e.json").write_text("{")

            with caplog.at_level(logging.WARNING, logger="app.store"):
                assert await recorder.recover() == 2
            assert (
                "server restart: sessions lost - recovered 2 checkpointed conversation(s)"
                in caplog.messages
            )
            assert spool.checkpoints() == []
            assert (recorder.recovered, recorder.skipped_empty) == (2, 1)
            assert recorder.pending_count() == 3
            flags = {}
            for path in spool.pending():
                entry = spool.read(path)
                assert entry is not None
                flags[entry.doc["conversation_id"]] = entry.overwrite
            assert flags == {"a": False, "b": False, "c": True}

            assert await recorder.flush() is True
            assert await store.get("cust-1", complete_a["id"]) == complete_a
            stored_b = await store.get("cust-1", make_doc("b")["id"])
            assert stored_b is not None
            assert stored_b["disconnect_reason"] == "server_crash"
            assert await store.get("cust-1", final_c["id"]) == final_c
            assert await store.count() == 3
            assert spool.pending() == []
            assert len(list(spool.corrupt_dir.iterdir())) == 1

            assert await recorder.recover() == 0  # nothing left to recover
    finally:
        with trio.move_on_after(GUARD, shield=True):
            await store.aclose()


async def test_flush_quarantines_documents_the_store_rejects(tmp_path: Path, spool: Spool) -> None:
    store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    bad = make_doc("bad")
    del bad["session_start"]
    try:
        with trio.fail_after(GUARD):
            spool.write_pending(bad)
            spool.write_pending(make_doc("good"))
            with pytest.raises(InvalidDocumentError):
                await store.save(bad)
            assert await recorder.flush() is True
            assert spool.pending() == []
            assert len(list(spool.corrupt_dir.iterdir())) == 1
            assert await store.count() == 1
    finally:
        with trio.move_on_after(GUARD, shield=True):
            await store.aclose()


async def test_flusher_backoff_is_bounded_and_a_new_spooled_document_wakes_it(
    spool: Spool, mock_clock: trio.testing.MockClock
) -> None:
    store = FakeStore(fail_next=1_000)
    recorder = DurableRecorder(store, spool, SAVE_TIMEOUT)
    first = make_doc("first")
    assert await recorder.save(first) == "spooled"
    assert [a.ok for a in attempts_so_far(store)] == [False]

    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run_flusher)
        await settle()
        [attempt] = attempts_so_far(store)
        nominal = BACKOFF_INITIAL
        for _ in range(9):  # waits of 1, 2, 4, 8, 16, 32, then 60, 60, 60 s
            # Not before the shortest jittered wait...
            await jump_to(mock_clock, attempt.at + nominal * (1 - BACKOFF_JITTER) - 0.001)
            assert attempts_so_far(store) == []
            # ...and no later than the nominal one.
            await jump_to(mock_clock, attempt.at + nominal + 0.001)
            [attempt] = attempts_so_far(store)
            assert not attempt.ok
            nominal = min(nominal * 2, BACKOFF_MAX)
        assert nominal == BACKOFF_MAX
        assert recorder.flush_failures == 10

        # The flusher now waits up to a minute; a newly spooled document wakes it at once.
        store.fail_next = 1  # the new document's own save fails; the store then recovers
        woken_at = trio.current_time()
        second = make_doc("second")
        assert await recorder.save(second) == "spooled"
        await settle()
        assert [(a.doc_id, a.ok) for a in attempts_so_far(store)] == [
            (second["id"], False),
            (first["id"], True),
            (second["id"], True),
        ]
        assert trio.current_time() == woken_at
        assert spool.pending() == []
        assert recorder.pending_count() == 0
        assert store.writes == [first["id"], second["id"]]
        nursery.cancel_scope.cancel()
