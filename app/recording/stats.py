"""Counters of the recordings made by one process, for ``/metrics`` and the logs.  Pure."""

from __future__ import annotations

import attrs

__all__ = ["RecordingStats"]


@attrs.define(eq=False)
class RecordingStats:
    """Plain numbers; every part of the recording adds to them (one trio thread: no locks)."""

    #: Calls recorded (writer started).
    calls: int = 0
    #: Items the hot path could not hand to a writer that fell behind (audio or cuts).
    dropped_items: int = 0
    #: Runs of missing audio marked in recordings (the metric of a writer falling behind).
    gaps: int = 0
    #: Blocks written to local staging, and those uploaded to Blob Storage while the call ran.
    blocks_staged: int = 0
    blocks_uploaded: int = 0
    #: Uploads or commits that failed (the recording waits in staging and is retried).
    upload_failures: int = 0
    #: Recordings committed (the file or blob exists), and those waiting to be.
    committed: int = 0
    pending: int = 0
    #: Recordings of crashed calls found at start-up and queued for commit.
    recovered: int = 0
