"""After a crash: the checkpoints a dead process left become documents waiting to be saved.

Every live call's partial document is written to its spool's ``live/`` directory when it first
changes, then at most every ``CHECKPOINT_INTERVAL``; a call that ends deletes its checkpoint
after its final document is saved or spooled.  So a checkpoint still there when a process
starts (on a spool it owns: see `app.store.spool_slots`, or adopts: `app.store.spool_leases`)
is a call the previous owner died in.

Why a checkpoint never replaces a complete document: a call saves its final document *before*
deleting its checkpoint, so a crash in between leaves both.  A recovered checkpoint is therefore
spooled with ``overwrite=False``: it is skipped when the final document is already pending, and
the store inserts it only when it holds nothing under that id.  Blocking: run it in a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.store.spool import Spool

__all__ = ["Amend", "recover_checkpoints"]

#: Rewrites a recovered checkpoint before it is spooled (blocking; see `recover_checkpoints`).
Amend = Callable[[dict[str, Any]], dict[str, Any]]


def recover_checkpoints(spool: Spool, amend: Amend | None = None) -> tuple[int, int, int]:
    """Turn ``spool``'s checkpoints into pending documents.

    ``amend`` rewrites each document with messages before it is spooled: the call recording
    (`app.recording.service`) seals what the dead call staged for commit and marks the
    document's ``recording`` as cut by the crash.

    Returns ``(recovered, empty, pending)``: checkpoints now pending, checkpoints without
    messages (a call with nothing said writes no document: dropped), and the pending count.
    Raises :class:`OSError` when the spool cannot be read.
    """
    spool.discard_partial_writes()
    recovered = empty = 0
    for path in spool.checkpoints():
        entry = spool.read(path)  # None: corrupt, and already quarantined
        if entry is not None:
            if not entry.doc.get("messages"):
                empty += 1
            elif spool.write_pending(
                amend(dict(entry.doc)) if amend is not None else entry.doc, overwrite=False
            ):
                recovered += 1
            spool.remove(path)
    return recovered, empty, len(spool.pending())
