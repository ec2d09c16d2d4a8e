"""The two timed tasks of a call: its limits (idle, maximum duration) and its checkpoints.

Both are started by `Call.run` in the call's nursery, under its supervisor, and end with it.

* `watch_limits` ends the call when the browser has been silent for ``CALL_IDLE_TIMEOUT`` (a
  frozen or vanished browser: hypercorn's pings never notice one) or when the call reaches
  ``CALL_MAX_DURATION``.  The hot path only stamps the time of the browser's last frame; this
  task sleeps until the next deadline and looks.
* `checkpoint_every` writes the call's partial document to the spool on the leading edge: the
  first change at once, later ones at most once per ``CHECKPOINT_INTERVAL``.  A crash (a
  SIGKILL, one worker killed for memory) then loses at most the last interval of a call, never
  a call that has said anything; the next start turns the checkpoint into a ``server_crash``
  document.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from app.rules.reasons import DisconnectReason

__all__ = ["checkpoint_every", "watch_limits"]

log = logging.getLogger(__name__)


async def watch_limits(
    *,
    started_at: float,
    idle_timeout: float,
    max_duration: float,
    last_frame_at: Callable[[], float],
    clock: Callable[[], float],
    end: Callable[[DisconnectReason], None],
) -> None:
    """Sleep until the idle or the duration limit is reached, then end the call for it."""
    max_end = started_at + max_duration
    while True:
        await trio.sleep_until(min(last_frame_at() + idle_timeout, max_end))
        now = clock()
        if now >= max_end:
            end(DisconnectReason.MAX_DURATION)
            return
        if now >= last_frame_at() + idle_timeout:
            end(DisconnectReason.IDLE_TIMEOUT)
            return


async def checkpoint_every(
    interval: float,
    *,
    session_id: str,
    revision: Callable[[], int],
    changed: Callable[[], Awaitable[None]],
    document: Callable[[], dict[str, Any] | None],
    write: Callable[[str, Mapping[str, Any]], Awaitable[None]],
    stopped: trio.Event,
) -> None:
    """Write ``document()`` when ``revision()`` changes: at once the first time, then at most
    once per ``interval`` seconds (the last change of a burst is written when the interval is
    over).  ``changed()`` returns after the revision may have changed; while it has not, the
    task sleeps in it.  A ``document()`` of None (nothing said yet) is not written.

    Sets ``stopped`` when it ends, however it ends: the call's save waits for it, so that a
    checkpoint write still in a worker thread cannot land after the checkpoint is discarded.
    """
    written = -1
    next_write = trio.current_time()
    try:
        while True:
            if revision() == written:
                await changed()
                continue
            if next_write > trio.current_time():
                await trio.sleep_until(next_write)
            current = revision()
            partial = document()
            if partial is None:
                written = current
                continue
            await write(session_id, partial)
            log.debug("Checkpointed session %s (%d messages)", session_id, len(partial["messages"]))
            written = current
            next_write = trio.current_time() + interval
    finally:
        stopped.set()
