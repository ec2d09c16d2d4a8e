"""Spools on a shared network file system, where file locks are not to be trusted.

`app.store.spool_slots` gives each process a spool by an ``flock`` lock.  That is sound on a
local disk, not on Azure Files (SMB), which every replica of the Container App mounts, and
where a revision change runs the new replica beside the old one while the old one drains.  With
``SPOOL_LOCKS=false`` a process instead spools under a name of its own, and the others learn
that it is gone from a lease it renews; nothing takes a file lock:

- The name is the host's and the process id: unique among live processes (two replicas have
  two host names; two processes on one host, two pids).  A container restarted in the same
  replica may get its own old name back, which is right: the process that had it is dead.
- Each spool, ``DATA_DIR/spools/NAME``, holds ``lease.json``: when its owner last renewed it
  (every `RENEW_INTERVAL`), and whether the owner released it on a clean exit.
- A spool whose lease is released, or older than `LEASE_TIMEOUT`, belongs to a process that is
  gone.  A live process adopts it: it first renames the whole directory to
  ``NAME.adopting.ADOPTER`` (one rename: of two adopters, exactly one succeeds), turns its
  checkpoints into pending documents (`recover_checkpoints`), and moves its pending documents
  into its own spool with atomic renames.  An adopter that dies halfway leaves the renamed
  directory, which the next adopter takes over once the first adopter's lease runs out.

Safe without locks because every step may repeat: a document is upserted by its id (a final
document replaces; a recovered checkpoint is inserted only when the store has nothing under its
id), so a file delivered twice is stored once.  The worst case, an owner alive but silent for
longer than `LEASE_TIMEOUT`, makes its live calls' checkpoints into ``server_crash`` documents
that the calls' final documents then replace.  Lease times are wall-clock times compared
across hosts: the timeout is far above the clock skew of synchronised hosts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import trio

from app.store.private_files import private_dir
from app.store.recovery import Amend, recover_checkpoints
from app.store.spool import Spool, safe_name

__all__ = [
    "LEASE_TIMEOUT",
    "RENEW_INTERVAL",
    "Lease",
    "adopt_gone_spools",
    "keep_named_spool",
    "process_name",
    "spools_dir",
]

log = logging.getLogger(__name__)

#: How often a live process renews its lease (and looks for spools of processes gone).
RENEW_INTERVAL = 10.0
#: A lease not renewed for this long is a process gone: six renewals missed.
LEASE_TIMEOUT = 60.0
LEASE_FILE = "lease.json"
ADOPTING = ".adopting."


def spools_dir(data_dir: Path) -> Path:
    return data_dir / "spools"


def process_name() -> str:
    """This process's spool name: host name and process id, as a safe file name."""
    return safe_name(f"{socket.gethostname()}-{os.getpid()}")


@attrs.frozen
class Lease:
    """What ``lease.json`` says: when it was last renewed (wall clock) and whether released."""

    renewed_at: float
    released: bool = False

    def gone(self, now: float, timeout: float = LEASE_TIMEOUT) -> bool:
        """Whether the owner is gone: it released the lease, or let it run out."""
        return self.released or now - self.renewed_at > timeout

    @classmethod
    def read(cls, root: Path) -> Lease | None:
        """The lease of the spool at ``root``; None when it has none or it cannot be read (a
        spool whose owner died before writing its first lease, or a torn file on SMB)."""
        try:
            raw = json.loads((root / LEASE_FILE).read_bytes())
            return cls(float(raw["renewed_at"]), bool(raw.get("released", False)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, root: Path) -> None:
        """Replace the lease at ``root`` (a temporary file renamed over it: never torn)."""
        body = json.dumps({"renewed_at": self.renewed_at, "released": self.released})
        temp = root / f".{LEASE_FILE}.{os.getpid()}.tmp"
        temp.write_text(body)
        os.replace(temp, root / LEASE_FILE)


def claim_named_spool(data_dir: Path, name: str) -> Spool:
    """Create (or take back) the spool ``name`` and write its first lease.  Blocking."""
    root = spools_dir(data_dir) / name
    private_dir(root)
    Lease(time.time()).write(root)
    return Spool(root)


def adopt_gone_spools(
    data_dir: Path, mine: Spool, now: float, amend: Amend | None = None
) -> int:
    """Adopt every spool under ``data_dir/spools`` whose owner is gone; return files moved.
    ``amend`` rewrites each recovered checkpoint (see `recover_checkpoints`).

    Blocking (file system): run it in a worker thread.  Each step may race another adopter and
    lose (a rename that finds nothing): that spool is then the other adopter's.
    """
    moved = 0
    my_name = mine.root.name
    try:
        children = sorted(spools_dir(data_dir).iterdir())
    except FileNotFoundError:
        return 0
    for root in children:
        if root == mine.root or not root.is_dir():
            continue
        base, _, adopter = root.name.partition(ADOPTING)
        if adopter == my_name:
            claimed = root  # mine already: an earlier round left files behind
        else:
            owner = spools_dir(data_dir) / (adopter or base)
            lease = Lease.read(owner)
            if lease is not None and not lease.gone(now):
                continue
            if lease is None and owner.exists() and not _older_than(owner, now, LEASE_TIMEOUT):
                continue  # just created, its first lease not written yet
            claimed = root.with_name(f"{base}{ADOPTING}{my_name}")
            try:
                os.rename(root, claimed)
            except FileNotFoundError:
                continue  # another process adopted it first
        moved += _take_over(claimed, mine, amend)
    return moved


def _take_over(claimed: Path, mine: Spool, amend: Amend | None) -> int:
    orphan = Spool(claimed)
    recover_checkpoints(orphan, amend)  # its calls' checkpoints become pending documents
    moved = mine.adopt(orphan)
    if not orphan.pending() and not orphan.checkpoints():
        shutil.rmtree(claimed, ignore_errors=True)
    if moved:
        log.warning("Adopted %d file(s) from %s, the spool of a process gone", moved, claimed)
    return moved


def _older_than(path: Path, now: float, age: float) -> bool:
    try:
        return now - path.stat().st_mtime > age
    except FileNotFoundError:
        return True


async def keep_named_spool(
    data_dir: Path,
    *,
    on_adopted: Callable[[], None] = lambda: None,
    amend: Amend | None = None,
    task_status: trio.TaskStatus[Spool] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Claim this process's named spool, adopt the spools of processes gone, report the
    `Spool`; then renew the lease and adopt again every `RENEW_INTERVAL` until cancelled, and
    release the lease on the way out (a clean exit is adopted at once, not after the timeout).

    ``on_adopted`` is called when a later round moved files in (the flusher's wake-up);
    ``amend`` rewrites the checkpoints recovered from adopted spools (the call recording's
    hook, see `app.store.recovery`).
    """
    name = process_name()
    spool = await trio.to_thread.run_sync(claim_named_spool, data_dir, name)
    try:
        adopted = await trio.to_thread.run_sync(
            adopt_gone_spools, data_dir, spool, time.time(), amend
        )
        log.info("Spool: %s (named, lease renewed every %g s)", spool.root, RENEW_INTERVAL)
        task_status.started(spool)
        if adopted:
            on_adopted()
        while True:
            await trio.sleep(RENEW_INTERVAL)
            try:
                await trio.to_thread.run_sync(Lease(time.time()).write, spool.root)
                moved = await trio.to_thread.run_sync(
                    adopt_gone_spools, data_dir, spool, time.time(), amend
                )
            except OSError as exc:
                log.warning("Could not renew the spool lease of %s: %s", spool.root, exc)
                continue
            if moved:
                on_adopted()
    finally:
        with trio.CancelScope(shield=True), contextlib.suppress(OSError):
            await trio.to_thread.run_sync(Lease(time.time(), released=True).write, spool.root)
