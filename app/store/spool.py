"""Conversation documents kept as local files until the store takes them.

Two kinds of file live under the spool's root:

- ``pending/`` -- documents whose save failed or timed out.  The recorder's flusher retries them
  and deletes each file once the store has it.  An entry remembers whether it may overwrite a
  document already in the store: final documents may; documents recovered from a checkpoint
  may not, so a partial record never replaces a complete one.
- ``live/`` -- checkpoints of calls in progress: the partial document (``disconnect_reason``
  ``server_crash``) written when the call first changes, then at most every
  ``CHECKPOINT_INTERVAL``.  A call deletes its checkpoint once
  its final document is saved or spooled; a checkpoint still there at start-up is a call the
  process died in, and becomes a pending entry.

Files that cannot be parsed are moved to ``corrupt/`` (and logged) rather than retried forever.

Every method is synchronous and blocking: call them from a worker thread
(``trio.to_thread.run_sync``).  A spool directory belongs to one process: another process
recovering its checkpoints at start-up would take this one's live calls for crashed ones.
:mod:`app.store.spool_slots` makes that so with a lock held for the owner's life, and hands the
spool of a dead process to a live one (:meth:`Spool.adopt`).

Durability: each file is written to a temporary name in the same directory, flushed and
fsync'ed, renamed over its final name, and the directory is fsync'ed -- a crash leaves either the
old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from app.store.base import InvalidDocumentError, document_key
from app.store.private_files import private_dir

__all__ = ["Spool", "SpoolEntry", "safe_name"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SUFFIX = ".json"
_TEMP_PREFIX = "."
_TEMP_SUFFIX = ".tmp"
_SAFE = re.compile(r"[A-Za-z0-9_-]{1,100}")


@attrs.frozen
class SpoolEntry:
    """A spooled document and whether saving it may replace what the store already holds."""

    path: Path
    doc: dict[str, Any]
    overwrite: bool


@attrs.define(eq=False)
class Spool:
    """Durable local files for documents the store has not (yet) taken.  See the module doc."""

    root: Path

    @property
    def pending_dir(self) -> Path:
        return self.root / "pending"

    @property
    def live_dir(self) -> Path:
        return self.root / "live"

    @property
    def corrupt_dir(self) -> Path:
        return self.root / "corrupt"

    def write_pending(self, doc: Mapping[str, Any], *, overwrite: bool = True) -> bool:
        """Spool ``doc`` for the flusher; return whether it was written.

        With ``overwrite=True`` (a final document) it replaces any pending entry for the same
        ``(customer_id, id)``.  With ``overwrite=False`` (a recovered checkpoint) it is written
        only when no entry for that key is pending -- the one there is at least as complete --
        and will later be saved only if the store does not have the document yet.

        Raises :class:`InvalidDocumentError` for a document without ``customer_id``/``id`` or
        not JSON, and :class:`OSError` when the disk fails.
        """
        customer_id, doc_id = document_key(doc)
        path = self.pending_dir / f"{safe_name(customer_id)}.{safe_name(doc_id)}{_SUFFIX}"
        if not overwrite and path.exists():
            return False
        _atomic_write(path, _envelope(doc, overwrite=overwrite))
        return True

    def pending(self) -> list[Path]:
        """Pending entries, oldest first."""
        return _listing(self.pending_dir)

    def read(self, path: Path) -> SpoolEntry | None:
        """The entry in ``path`` (pending or checkpoint).

        ``None`` when the file is gone (another flush took it) or corrupt; a corrupt file is
        moved to ``corrupt/`` and logged, so nobody reads it again.
        """
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return _parse(path, raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError included
            self.quarantine(path, str(exc))
            return None

    def remove(self, path: Path) -> None:
        """Delete a spool file; already gone is fine."""
        path.unlink(missing_ok=True)

    def quarantine(self, path: Path, reason: str) -> None:
        """Move ``path`` to ``corrupt/`` for a human to look at; delete it if it cannot move.

        Never raises: its whole point is that a bad file cannot stop the flusher.
        """
        target = self.corrupt_dir / f"{time.time_ns()}-{path.name}"
        try:
            private_dir(self.corrupt_dir)
            os.replace(path, target)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("Corrupt spool file %s (%s) could not be moved: %s", path, reason, exc)
            try:
                path.unlink(missing_ok=True)
            except OSError as unlink_exc:
                log.error("Corrupt spool file %s could not be deleted: %s", path, unlink_exc)
            return
        log.error("Corrupt spool file %s moved to %s: %s", path, target, reason)

    def write_checkpoint(self, session_id: str, doc: Mapping[str, Any]) -> Path:
        """Replace the checkpoint of live call ``session_id`` with ``doc``; return its path."""
        document_key(doc)
        path = self._checkpoint_path(session_id)
        _atomic_write(path, _envelope(doc, overwrite=False))
        return path

    def remove_checkpoint(self, session_id: str) -> None:
        """Delete the checkpoint of call ``session_id``; none there is fine."""
        self._checkpoint_path(session_id).unlink(missing_ok=True)

    def checkpoints(self) -> list[Path]:
        """Checkpoints of calls still live (or left by a crash), oldest first."""
        return _listing(self.live_dir)

    def discard_partial_writes(self) -> int:
        """Delete temporary files a crash left half-written; return how many.

        Only safe at start-up, before this process writes anything.
        """
        removed = 0
        for directory in (self.pending_dir, self.live_dir):
            with contextlib.suppress(FileNotFoundError):
                for path in directory.iterdir():
                    if path.name.startswith(_TEMP_PREFIX) and path.name.endswith(_TEMP_SUFFIX):
                        path.unlink(missing_ok=True)
                        removed += 1
        return removed

    def adopt(self, orphan: Spool) -> int:
        """Move ``orphan``'s checkpoints and pending entries into this spool; return how many.

        Only for the spool of a process known to be dead (its lock is free, see
        :mod:`app.store.spool_slots`): its checkpoints become this spool's, for
        ``DurableRecorder.recover`` to turn into documents, and its pending entries join this
        spool's flusher.  Each file keeps its name, so a later final document for the same key
        still replaces a pending entry; a name already taken here leaves the orphan's file where
        it is (logged), for whoever adopts that spool next.
        """
        orphan.discard_partial_writes()
        moved = 0
        for paths, target_dir in (
            (orphan.checkpoints(), self.live_dir),
            (orphan.pending(), self.pending_dir),
        ):
            for path in paths:
                if _move_unless_taken(path, target_dir / path.name):
                    moved += 1
        return moved

    def _checkpoint_path(self, session_id: str) -> Path:
        return self.live_dir / f"{safe_name(session_id)}{_SUFFIX}"


def safe_name(value: str) -> str:
    """A file-name stem for ``value``: itself when it is plain, else sanitised and hashed.

    Plain means 1 to 100 of ``[A-Za-z0-9_-]``.  Anything else (path separators, dots, control
    characters, empty or overlong) becomes its plain characters, cut to 64, plus ``~`` and a
    hash of the original: never a path, never ``.``/``..``, and never equal to a plain value's
    name since ``~`` is not a plain character.
    """
    if _SAFE.fullmatch(value):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', value)[:64]}~{digest}"


def _envelope(doc: Mapping[str, Any], *, overwrite: bool) -> bytes:
    envelope = {
        "version": FORMAT_VERSION,
        "overwrite": overwrite,
        "written_at": datetime.now(UTC).isoformat(),
        "doc": dict(doc),
    }
    try:
        text = json.dumps(envelope, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidDocumentError(f"conversation {doc.get('id')} is not JSON: {exc}") from exc
    return text.encode("utf-8")


def _parse(path: Path, raw: bytes) -> SpoolEntry:
    """Check the envelope's shape; :class:`ValueError` for anything the spool did not write."""
    envelope = json.loads(raw)
    if not isinstance(envelope, dict) or envelope.get("version") != FORMAT_VERSION:
        raise ValueError("not a spool envelope of a known version")
    doc = envelope.get("doc")
    overwrite = envelope.get("overwrite")
    if not isinstance(doc, dict) or not isinstance(overwrite, bool):
        raise ValueError("spool envelope without a document or an overwrite flag")
    document_key(doc)  # InvalidDocumentError is a ValueError
    return SpoolEntry(path=path, doc=doc, overwrite=overwrite)


def _listing(directory: Path) -> list[Path]:
    """Finished spool files in ``directory``, oldest first (temporary files skipped)."""
    found: list[tuple[int, str, Path]] = []
    try:
        children = list(directory.iterdir())
    except FileNotFoundError:
        return []
    for path in children:
        if path.name.startswith(_TEMP_PREFIX) or not path.name.endswith(_SUFFIX):
            continue
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:  # taken meanwhile
            continue
        found.append((mtime, path.name, path))
    found.sort()
    return [path for _, _, path in found]


def _atomic_write(path: Path, data: bytes) -> None:
    _ensure_dir(path.parent)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(path.parent)


def _move_unless_taken(source: Path, target: Path) -> bool:
    """Rename ``source`` to ``target`` unless ``target`` exists; durable in both directories."""
    _ensure_dir(target.parent)
    try:
        os.link(source, target)  # fails if the name is taken, unlike a rename
    except FileExistsError:
        log.warning("Spool file %s not adopted: %s already exists", source, target)
        return False
    except FileNotFoundError:
        return False
    # Gone already: its directory was renamed by another adopter (see app.store.spool_leases)
    # after the link; the file is here, and the store's upsert by id takes a second copy once.
    source.unlink(missing_ok=True)
    _fsync_dir(target.parent)
    with contextlib.suppress(FileNotFoundError):
        _fsync_dir(source.parent)
    return True


def _ensure_dir(directory: Path) -> None:
    if directory.is_dir():
        return
    private_dir(directory)
    _fsync_dir(directory.parent)  # make the new directory's own entry durable


def _fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable.  POSIX only: Windows cannot open a directory."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
