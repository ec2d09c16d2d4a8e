"""Saving conversation documents so that none is lost: the store first, the local spool if not.

The call's logging task hands its final document to :meth:`DurableRecorder.save`, which tries the
store for at most ``save_timeout`` seconds and otherwise writes the document to the spool's
``pending/`` directory.  :meth:`DurableRecorder.run_flusher`, in the app's lifespan nursery,
retries pending documents with exponential backoff until the store takes them.  Live calls are
checkpointed to the spool's ``live/`` directory; after a crash, :meth:`DurableRecorder.recover`
turns the checkpoints into pending documents that may only be inserted, never overwrite.

Why no document is ever written twice: every save is an upsert of a deterministic id
(``ai_conv_{session}_{start}``), so a retry after a save that did land -- abandoned thread,
lost reply, crash between the save and deleting the spool file -- rewrites the same document.

Why a checkpoint never replaces a complete document: see `app.store.recovery`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import trio

from app.store.base import ConversationStore, InvalidDocumentError, SaveOutcome, StoreError
from app.store.recovery import Amend, recover_checkpoints
from app.store.spool import Spool
from app.store.spool_health import SpoolHealth

__all__ = ["BACKOFF_INITIAL", "BACKOFF_JITTER", "BACKOFF_MAX", "DurableRecorder"]

log = logging.getLogger(__name__)

#: Seconds before the flusher retries after its first failure; doubled after each failure.
BACKOFF_INITIAL = 1.0
#: Longest wait between retries, in seconds.
BACKOFF_MAX = 60.0
#: Each wait is shortened by up to this fraction, so that processes sharing a store that
#: failed together do not retry in lockstep.
BACKOFF_JITTER = 0.1


@attrs.define(eq=False)
class DurableRecorder:
    """Saves documents to ``store``, falling back to ``spool``; retries the spool in the background.

    The counters are plain numbers for ``/metrics`` and the dashboard.  ``skipped_empty``
    counts checkpoints :meth:`recover` found without messages (a live call with no messages
    is counted by the call registry).
    """

    store: ConversationStore
    spool: Spool
    save_timeout: float

    saved: int = attrs.field(default=0, init=False)
    spooled: int = attrs.field(default=0, init=False)
    flushed: int = attrs.field(default=0, init=False)
    flush_failures: int = attrs.field(default=0, init=False)
    recovered: int = attrs.field(default=0, init=False)
    skipped_empty: int = attrs.field(default=0, init=False)
    #: Documents neither the store nor the spool took.
    lost: int = attrs.field(default=0, init=False)
    spool_health: SpoolHealth = attrs.field(init=False)
    #: How long the last successful save by :meth:`save` took, in seconds.
    last_save_seconds: float = attrs.field(default=0.0, init=False)
    #: Request units (Cosmos DB's ``x-ms-request-charge``) charged for every save so far, and
    #: for the last one; they stay 0 with a store that does not charge (SQLite).
    request_units: float = attrs.field(default=0.0, init=False)
    last_request_charge: float = attrs.field(default=0.0, init=False)

    _wake: trio.Event = attrs.field(factory=trio.Event, init=False, repr=False)

    @spool_health.default
    def _spool_health_default(self) -> SpoolHealth:
        return SpoolHealth(str(self.spool.root))
    _pending: int = attrs.field(default=0, init=False, repr=False)

    async def save(self, doc: Mapping[str, Any]) -> Literal["stored", "spooled", "lost"]:
        """Save a call's final document: ``"stored"``, ``"spooled"`` for the flusher to retry,
        or ``"lost"`` when the spool could not be written either.

        The store gets ``save_timeout`` seconds.  The caller shields this call, with a deadline
        somewhat longer than ``save_timeout`` so that the spool write fits in it; should the
        caller be cancelled anyway, the document is still spooled before ``Cancelled``
        propagates.

        Error handling: :class:`StoreError` and timeouts are answered by spooling.  A spool
        that cannot be written either loses the document: logged as such, counted in ``lost``
        and in the spool's health (``/readyz``).  Raises :class:`InvalidDocumentError` for a
        document no store accepts.
        """
        session = _session_of(doc)
        started = trio.current_time()
        try:
            result = await self._try_store(doc, overwrite=True)
        except trio.Cancelled:
            await self._spool(doc, session, "cancelled before the store answered")
            raise
        if isinstance(result, str):
            return "spooled" if await self._spool(doc, session, result) else "lost"
        self.saved += 1
        self.last_save_seconds = trio.current_time() - started
        log.info(
            "Conversation logged for session %s (%d messages%s)",
            session,
            _message_count(doc),
            self._charged(result),
        )
        return "stored"

    async def checkpoint(self, session_id: str, doc: Mapping[str, Any]) -> None:
        """Replace the checkpoint of live call ``session_id`` with its partial document ``doc``.

        Best effort: a disk error is logged, not raised -- a call is not ended because its
        crash insurance could not be renewed.
        """
        try:
            await trio.to_thread.run_sync(self.spool.write_checkpoint, session_id, doc)
        except OSError as exc:
            self.spool_health.failed("checkpoint", exc)
            log.debug("Could not checkpoint session %s: %s", session_id, exc)
        else:
            self.spool_health.succeeded()

    async def discard_checkpoint(self, session_id: str) -> None:
        """Delete the checkpoint of call ``session_id``, after its final document was saved.

        Shielded: it runs in the cleanup of a call that is being cancelled, and an unshielded
        thread in a cancelled scope would never start.  Deleting a file is quick.  A disk error
        is logged: the checkpoint left behind is harmless (recovery only inserts if absent).
        """
        with trio.CancelScope(shield=True):
            try:
                await trio.to_thread.run_sync(self.spool.remove_checkpoint, session_id)
            except OSError as exc:
                log.warning("Could not delete the checkpoint of session %s: %s", session_id, exc)

    async def recover(self, amend: Amend | None = None) -> int:
        """At start-up: turn checkpoints left by a crash into pending documents; return how many.

        Each becomes a pending entry with ``overwrite=False``, unless an entry with the same key
        is already pending (the final document made it to the spool), in which case the
        checkpoint is just deleted.  ``amend`` (blocking, run in the same worker thread) may
        rewrite each recovered document first: the call recording seals the crashed call's
        audio and says so in the document.  Call it before the first call is accepted.
        """
        try:
            counts = await trio.to_thread.run_sync(recover_checkpoints, self.spool, amend)
        except OSError as exc:
            # Calls are still served (the store may be fine); the state is on /readyz.
            self.spool_health.failed("recover checkpoints", exc)
            return 0
        recovered, empty, pending = counts
        self.recovered += recovered
        self.skipped_empty += empty
        self._pending = pending
        if recovered:
            log.warning(
                "server restart: sessions lost - recovered %d checkpointed conversation(s)",
                recovered,
            )
            self._wake.set()
        return recovered

    async def run_flusher(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Retry pending documents until cancelled (it belongs in the app's lifespan nursery).

        After a failed pass it waits ``BACKOFF_INITIAL`` seconds, doubling up to
        ``BACKOFF_MAX`` (less a little jitter), or until :meth:`save` spools a new document --
        whichever comes first.  Once the spool is empty it sleeps until something is spooled.
        """
        task_status.started()
        delay = BACKOFF_INITIAL
        while True:
            # A fresh event *before* the pass: a document spooled during it wakes the next wait.
            self._wake = trio.Event()
            try:
                emptied = await self.flush()
            except OSError as exc:
                # The spool directory itself failed: keep trying, do not take the app down.
                self.flush_failures += 1
                self.spool_health.failed("read the spool", exc)
                log.error("Could not read the spool %s: %s", self.spool.root, exc)
                emptied = False
            if emptied:
                delay = BACKOFF_INITIAL
                await self._wake.wait()
                continue
            with trio.move_on_after(delay * (1 - BACKOFF_JITTER * random.random())):
                await self._wake.wait()
            delay = min(delay * 2, BACKOFF_MAX)

    async def flush(self) -> bool:
        """One pass over the pending documents, oldest first; ``True`` if none is left.

        Stops at the first failure: when the store is down the rest would fail as well.  Each
        save gets ``save_timeout`` seconds.  A document the store rejects as invalid is moved to
        the spool's ``corrupt/`` directory.  Raises :class:`OSError` when the spool fails.
        """
        spooled_before = self.spooled
        paths = await trio.to_thread.run_sync(self.spool.pending)
        if self.spooled == spooled_before:
            # Else a call spooled a document while we listed: its own count is the newer one.
            self._pending = len(paths)
        for path in paths:
            if not await self._flush_one(path):
                return False
            self._pending -= 1
        return True

    async def _flush_one(self, path: Path) -> bool:
        """Save one pending entry and delete its file; ``False`` when the store failed."""
        entry = await trio.to_thread.run_sync(self.spool.read, path)
        if entry is None:  # taken by someone else, or corrupt and quarantined
            return True
        session = _session_of(entry.doc)
        try:
            result = await self._try_store(entry.doc, overwrite=entry.overwrite)
        except InvalidDocumentError as exc:
            await trio.to_thread.run_sync(self.spool.quarantine, path, str(exc))
            return True
        if isinstance(result, str):
            self.flush_failures += 1
            log.warning("Spooled conversation of session %s not saved yet: %s", session, result)
            return False
        await trio.to_thread.run_sync(self.spool.remove, path)
        self.flushed += 1
        log.info(
            "Conversation logged for session %s (%d messages%s) from the spool",
            session,
            _message_count(entry.doc),
            self._charged(result),
        )
        return True

    def use_spool(self, spool: Spool) -> None:
        """Write to ``spool`` from now on: the slot this process claimed at start-up.

        Called before `recover` and the flusher start, and before any call is taken.
        """
        self.spool = spool
        self.spool_health.root = str(spool.root)

    def wake(self) -> None:
        """Make the flusher try the spool now (the store just became reachable)."""
        self._wake.set()

    def spool_status(self) -> dict[str, Any]:
        """The spool's state for ``/readyz`` and the dashboard (no I/O)."""
        return {**self.spool_health.status(), "pending": self._pending, "lost": self.lost}

    def pending_count(self) -> int:
        """Documents waiting in the spool, as of the last save, flush pass or recovery."""
        return self._pending

    async def _try_store(self, doc: Mapping[str, Any], *, overwrite: bool) -> SaveOutcome | str:
        """Save ``doc`` within ``save_timeout``: what it cost when stored, else why it was not."""
        with trio.move_on_after(self.save_timeout):
            try:
                return await self.store.save(doc, overwrite=overwrite)
            except StoreError as exc:
                return str(exc) or type(exc).__name__
        return f"{self.store.name} store did not answer within {self.save_timeout:g} s"

    def _charged(self, outcome: SaveOutcome) -> str:
        """Count the save's request charge; ``", N RU"`` for the log line, or nothing."""
        charge = outcome.request_charge
        if charge is None:
            return ""
        self.request_units += charge
        self.last_request_charge = charge
        return f", {charge:g} RU"

    async def _spool(self, doc: Mapping[str, Any], session: str, error: str) -> bool:
        """Spool ``doc`` after the store failed with ``error``; False if the spool failed too."""
        log.error("Failed to log conversation for session %s: %s", session, error)
        # Shielded: this is the document's last chance, and it may run after the caller's
        # deadline.  A local file write is short; the thread could not be interrupted anyway.
        with trio.CancelScope(shield=True):
            try:
                self._pending = await trio.to_thread.run_sync(self._spool_in_thread, doc)
            except OSError as exc:
                self.lost += 1
                self.spool_health.failed("spool a document", exc)
                log.error(
                    "Conversation for session %s could not be spooled either, it is lost: %s",
                    session,
                    exc,
                )
                return False
        self.spool_health.succeeded()
        self.spooled += 1
        log.warning(
            "Conversation for session %s spooled to %s; saving it will be retried",
            session,
            self.spool.pending_dir,
        )
        self._wake.set()
        return True

    def _spool_in_thread(self, doc: Mapping[str, Any]) -> int:
        self.spool.write_pending(doc, overwrite=True)
        return len(self.spool.pending())


def _session_of(doc: Mapping[str, Any]) -> str:
    return str(doc.get("conversation_id") or doc.get("id") or "?")


def _message_count(doc: Mapping[str, Any]) -> int:
    messages = doc.get("messages")
    return len(messages) if isinstance(messages, list) else 0
