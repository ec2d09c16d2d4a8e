"""Polling with a bounded deadline, for state that offers no event to wait on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

FLUSH_DEADLINE = 30.0  # the flusher's backoff after a few failures is 1 + 2 + 4 + 8 s


async def eventually(predicate: Callable[[], bool], deadline: float = FLUSH_DEADLINE) -> None:
    """Return once ``predicate()`` holds; fail after ``deadline`` seconds."""
    with trio.fail_after(deadline):
        # Polled: the flusher retries on its own backoff schedule, whose outcome depends on
        # when the other process answers again; the recorder offers no event for it.
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.05)


async def eventually_async(check: Callable[[], Awaitable[bool]], deadline: float) -> None:
    """Poll the coroutine ``check`` until it holds; fail after ``deadline`` seconds.  For state
    of other processes (an HTTP answer, a file), which has no event this process could wait on."""
    with trio.fail_after(deadline):
        while not await check():  # noqa: ASYNC110 - another process: no event to wait on
            await trio.sleep(0.05)
