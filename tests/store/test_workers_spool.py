"""Spool slots: one spool per live process, held by a lock; a dead process's spool is adopted.

``flock`` locks belong to an open file, so two claims in this one test process behave as two
processes would; the process tests (tests/process/test_workers.py) check the same through SIGKILL.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from app.record.tracker import Sender
from app.rules.reasons import DisconnectReason
from app.store.spool import Spool
from app.store.spool_slots import LOCK_FILE, SpoolSlot, claim_slot, own_spool, slot_root
from tests.support.documents import conversation, make_document


def a_document(session: str) -> dict[str, Any]:
    """The document of a call of ``session`` that its process did not live to save."""
    said: list[tuple[Sender, str]] = [("user", f"hello from {session}")]
    return make_document(
        "alice",
        f"ai_conv_{session}_1",
        datetime(2026, 11, 30, tzinfo=UTC),
        session_id=session,
        record=conversation(said),
        reason=DisconnectReason.SERVER_CRASH,
    )


@contextmanager
def claimed(data_dir: Path) -> Iterator[SpoolSlot]:
    slot = claim_slot(data_dir)
    try:
        yield slot
    finally:
        slot.release()


def test_each_live_claim_gets_its_own_slot_and_slot_zero_is_the_classic_spool(
    tmp_path: Path,
) -> None:
    with claimed(tmp_path) as first, claimed(tmp_path) as second, claimed(tmp_path) as third:
        assert first.spool.root == tmp_path / "spool"
        assert [second.spool.root, third.spool.root] == [tmp_path / "spool-1", tmp_path / "spool-2"]
        assert (first.index, second.index, third.index) == (0, 1, 2)


def test_a_live_siblings_checkpoints_are_never_taken(tmp_path: Path) -> None:
    with claimed(tmp_path) as live:
        live.spool.write_checkpoint("s-live", a_document("s-live"))
        live.spool.write_pending(a_document("p-live"))
        with claimed(tmp_path) as newcomer:
            assert newcomer.spool.checkpoints() == []
            assert newcomer.spool.pending() == []
        assert [p.name for p in live.spool.checkpoints()] == ["s-live.json"]
        assert len(live.spool.pending()) == 1


def test_a_released_slot_is_claimed_again_with_its_checkpoints(tmp_path: Path) -> None:
    with claimed(tmp_path) as dead:
        dead.spool.write_checkpoint("s-1", a_document("s-1"))
    with claimed(tmp_path) as replacement:
        assert replacement.index == 0
        assert [p.name for p in replacement.spool.checkpoints()] == ["s-1.json"]


def test_free_slots_are_adopted_by_the_next_claim(tmp_path: Path) -> None:
    holder = claim_slot(tmp_path)  # keeps slot 0, so the dead process's slot 1 stays free
    try:
        with claimed(tmp_path) as dead:
            assert dead.index == 1
            dead.spool.write_checkpoint("s-crashed", a_document("s-crashed"))
            dead.spool.write_pending(a_document("p-unsaved"))
            (dead.spool.live_dir / ".half-written.tmp").write_bytes(b"{")
        holder.release()
        with claimed(tmp_path) as adopter:
            assert adopter.index == 0
            assert [p.name for p in adopter.spool.checkpoints()] == ["s-crashed.json"]
            entries = [adopter.spool.read(p) for p in adopter.spool.pending()]
            assert [e.doc["id"] for e in entries if e] == ["ai_conv_p-unsaved_1"]
            orphan = Spool(slot_root(tmp_path, 1))
            assert orphan.checkpoints() == [] and orphan.pending() == []
            assert list(orphan.live_dir.iterdir()) == []  # the torn temporary file is gone
    finally:
        holder.release()


def test_an_adopted_file_never_replaces_one_of_the_same_name(tmp_path: Path) -> None:
    holder = claim_slot(tmp_path)
    try:
        with claimed(tmp_path) as dead:
            dead.spool.write_checkpoint("s-same", a_document("older"))
        holder.spool.write_checkpoint("s-same", a_document("newer"))
    finally:
        holder.release()
    with claimed(tmp_path) as adopter:
        (entry,) = [adopter.spool.read(p) for p in adopter.spool.checkpoints()]
        assert entry is not None and entry.doc["id"] == "ai_conv_newer_1"
        assert len(Spool(slot_root(tmp_path, 1)).checkpoints()) == 1  # left for later


def test_a_lock_held_by_another_process_is_respected_until_it_dies(tmp_path: Path) -> None:
    root = slot_root(tmp_path, 0)
    root.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'w'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
            str(root / LOCK_FILE),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        Spool(root).write_checkpoint("s-other", a_document("s-other"))
        with claimed(tmp_path) as mine:
            assert mine.index == 1 and mine.spool.checkpoints() == []
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    with claimed(tmp_path) as after:
        assert after.index == 0 and len(after.spool.checkpoints()) == 1


async def test_own_spool_holds_the_slot_while_running_and_frees_it_when_cancelled(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        spool = await nursery.start(own_spool, tmp_path)
        assert spool.root == tmp_path / "spool"
        with claimed(tmp_path) as other:
            assert other.index == 1
        nursery.cancel_scope.cancel()
    with claimed(tmp_path) as again:
        assert again.index == 0


def test_a_data_dir_that_cannot_be_written_is_an_os_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError):
        claim_slot(blocker)
