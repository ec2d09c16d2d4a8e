"""Local recordings (``DATA_DIR/recordings``) expire with their documents.

Here, in the store, because the rule is the store's: a recording is kept while its document is.
`app.recording` knows no store; this module knows of recordings only their folder and their
``<document id>.wav`` names.

How documents expire: in Cosmos DB, by the container's default time-to-live
(``conversationTtlSeconds`` in infra/, counted from a document's last write, deleted by the
service); the embedded SQLite store keeps them forever.  The relay is told neither, so it does
not guess a TTL: a recording under ``DATA_DIR/recordings`` is deleted once its document is no
longer in the store -- whatever removed it (a TTL, an operator) -- and never while it is.  With
SQLite that keeps recordings exactly as long as their documents; with Cosmos DB it follows the
TTL within `PRUNE_INTERVAL`.  Blob recordings expire by the storage account's lifecycle rule
instead (infra/recordings.bicep), set from the same TTL.

A recording is written before its document is stored (during the call, and until a crashed
call is recovered or a spooled document reaches the store), so only recordings whose file is
older than `PRUNE_GRACE` are candidates: a store that is down never lets a pass run (the
export fails, nothing is deleted), and a store that is up takes spooled documents within
minutes.  A document that no store ever takes (quarantined by the spool as invalid) loses its
recording after `PRUNE_GRACE`: the operator has that long to repair it.

Cost: one pass streams the store's export (ids only kept, oldest first, page by page), every
`PRUNE_INTERVAL`, and only when old recordings exist; memory holds the candidates' names.

Resource handling: `keep_pruning` runs for the relay's life in its services nursery; the file
system work runs in worker threads.  A failed pass is logged and tried again next interval.
"""

from __future__ import annotations

import logging
import stat
import time
from contextlib import aclosing
from pathlib import Path

import attrs
import trio

from app.store.base import ConversationStore, StoreError

__all__ = ["PRUNE_GRACE", "PRUNE_INTERVAL", "PruneResult", "keep_pruning", "prune_recordings"]

log = logging.getLogger(__name__)

#: Seconds between two passes (the first runs one `PRUNE_FIRST_DELAY` after start-up).
PRUNE_INTERVAL = 6 * 3600.0
PRUNE_FIRST_DELAY = 300.0
#: A recording younger than this is never deleted (its document may not be stored yet).
PRUNE_GRACE = 7 * 86400.0
SUFFIX = ".wav"


@attrs.frozen
class PruneResult:
    """What one pass did: recordings it looked at (old enough), deleted, and kept."""

    candidates: int
    deleted: tuple[str, ...]

    @property
    def kept(self) -> int:
        return self.candidates - len(self.deleted)


async def prune_recordings(
    directory: Path, store: ConversationStore, *, now: float, grace: float = PRUNE_GRACE
) -> PruneResult:
    """Delete the recordings in ``directory`` older than ``grace`` whose document is gone.

    ``now`` is the wall-clock time (epoch seconds) the files' ages are measured from.  Raises
    `StoreError` (and deletes nothing) when the store cannot be read to the end.
    """
    candidates = await trio.to_thread.run_sync(_old_recordings, directory, now - grace)
    if not candidates:
        return PruneResult(0, ())
    orphans = dict(candidates)
    documents = store.export()
    async with aclosing(documents):
        async for doc in documents:
            orphans.pop(str(doc.get("id")), None)
            if not orphans:
                break
    deleted = await trio.to_thread.run_sync(_delete, sorted(orphans.values()))
    return PruneResult(len(candidates), tuple(deleted))


async def keep_pruning(
    directory: Path,
    store: ConversationStore,
    *,
    interval: float = PRUNE_INTERVAL,
    first_delay: float = PRUNE_FIRST_DELAY,
    grace: float = PRUNE_GRACE,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Prune ``directory`` every ``interval`` seconds, forever (until cancelled)."""
    task_status.started()
    await trio.sleep(first_delay)
    while True:
        try:
            result = await prune_recordings(directory, store, now=time.time(), grace=grace)
        except StoreError as exc:
            log.warning("Recordings not pruned: the store could not be read: %s", exc)
        except OSError as exc:
            log.warning("Recordings not pruned: %s: %s", directory, exc)
        else:
            if result.deleted:
                log.info(
                    "Pruned %d recording(s) whose conversation has expired; %d kept",
                    len(result.deleted),
                    result.kept,
                )
        await trio.sleep(interval)


def _old_recordings(directory: Path, before: float) -> dict[str, Path]:
    """Document id -> path of each recording last written before ``before`` (epoch s)."""
    found: dict[str, Path] = {}
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return found
    for path in entries:
        if path.suffix != SUFFIX or path.name.startswith("."):
            continue
        try:
            status = path.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(status.st_mode) and status.st_mtime < before:
            found[path.name.removesuffix(SUFFIX)] = path
    return found


def _delete(paths: list[Path]) -> list[str]:
    deleted = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:  # another worker's pass took it first
            continue
        deleted.append(path.name)
    return deleted
