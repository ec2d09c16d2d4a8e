"""Which spool a process owns: a slot under ``DATA_DIR`` held by a file lock for its whole life.

Several processes may share one ``DATA_DIR``: the workers of ``WORKERS``, or relays started side
by side on one host.  Each needs a spool of its own, because at start-up a process takes every
checkpoint in its spool for a call of a crashed process; recovering a live sibling's checkpoints
would save its calls as ``server_crash`` while they are still going on.

Slots are ``DATA_DIR/spool`` (slot 0, where a single process has always kept its spool),
``DATA_DIR/spool-1``, ``DATA_DIR/spool-2``...  A process takes the first slot whose lock file it
can lock (``flock``, exclusive, non-blocking) and keeps the file open until it stops.  The kernel
drops the lock when the process dies, however it dies (SIGKILL included), so:

- a slot whose lock is held belongs to a live process, and nobody else touches it;
- a slot whose lock is free belongs to no live process, and its files are a dead process's.

Ownership is the lock, never a name or a pid written in a file (a pid is reused, a name says
nothing about who is alive).  A replacement worker usually takes the slot its dead predecessor
left; slots left over otherwise (a worker replaced while another slot was free, ``WORKERS``
lowered) are adopted at start-up: their checkpoints and pending documents move into the new
owner's spool, under their own lock, before it recovers checkpoints.

``flock`` locks belong to an open file, not to a process: two claims in one process (tests that
run two relays) also get two different slots.  Linux and macOS; the spool is not meant for NFS.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from pathlib import Path

import attrs
import trio

from app.store.private_files import FILE_MODE, private_dir
from app.store.spool import Spool

__all__ = ["MAX_SLOTS", "SpoolSlot", "claim_slot", "own_spool", "slot_root"]

log = logging.getLogger(__name__)

#: Slots tried before giving up: far more than processes that could share a data directory.
MAX_SLOTS = 1024
LOCK_FILE = "owner.lock"
_SLOT_NAME = re.compile(r"spool(?:-([1-9][0-9]*))?")


def slot_root(data_dir: Path, index: int) -> Path:
    """The spool directory of slot ``index``: ``spool`` for 0, ``spool-N`` after it."""
    return data_dir / ("spool" if index == 0 else f"spool-{index}")


@attrs.define(eq=False)
class SpoolSlot:
    """A spool this process owns, and the open lock file that makes it so."""

    index: int
    spool: Spool
    _lock_fd: int | None

    def release(self) -> None:
        """Close the lock file, which drops the lock; calling it again does nothing."""
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)


def claim_slot(data_dir: Path) -> SpoolSlot:
    """Lock the first free slot under ``data_dir``; adopt the files of other free slots.

    Blocking (file system and locks): run it in a worker thread.  Raises :class:`OSError` when
    the data directory cannot be written, or when all ``MAX_SLOTS`` slots are taken.
    """
    for index in range(MAX_SLOTS):
        root = slot_root(data_dir, index)
        fd = _try_lock(root)
        if fd is not None:
            slot = SpoolSlot(index, Spool(root), fd)
            try:
                _adopt_orphans(slot, data_dir)
            except BaseException:
                slot.release()
                raise
            return slot
    raise OSError(f"all {MAX_SLOTS} spool slots under {data_dir} are locked by live processes")


async def own_spool(
    data_dir: Path, *, task_status: trio.TaskStatus[Spool] = trio.TASK_STATUS_IGNORED
) -> None:
    """Claim a spool slot, report its `Spool`, and hold the slot until cancelled.

    Start it in the relay's services nursery: the lock then lasts exactly as long as the
    services that write to the spool (recorder, flusher), and is released when they stop.
    """
    slot = await trio.to_thread.run_sync(claim_slot, data_dir)
    try:
        log.info("Spool: %s (slot %d)", slot.spool.root, slot.index)
        task_status.started(slot.spool)
        await trio.sleep_forever()
    finally:
        slot.release()


def _try_lock(root: Path) -> int | None:
    """The open, locked lock file of the spool at ``root``; None if a live process holds it."""
    private_dir(root)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _adopt_orphans(slot: SpoolSlot, data_dir: Path) -> None:
    """Move the files of every other unlocked slot into ``slot``'s spool."""
    for root in _slot_roots(data_dir):
        if root == slot.spool.root:
            continue
        fd = _try_lock(root)
        if fd is None:
            continue  # a live process owns it
        try:
            moved = slot.spool.adopt(Spool(root))
        finally:
            os.close(fd)
        if moved:
            log.warning(
                "Adopted %d file(s) from %s, the spool of a process that is gone", moved, root
            )


def _slot_roots(data_dir: Path) -> list[Path]:
    try:
        children = list(data_dir.iterdir())
    except FileNotFoundError:
        return []
    found = [
        (int(match.group(1) or 0), path)
        for path in children
        if (match := _SLOT_NAME.fullmatch(path.name)) and path.is_dir()
    ]
    return [path for _, path in sorted(found)]
