"""The work a call does on the model's behalf: a bounded queue and a fixed set of workers.

Function calls (tools, hand-offs) and the ``response.create`` that follows them are the call's
only work that can take long.  The upstream reader must never wait for them -- audio keeps
flowing while a tool works -- so it only `submit`\\ s them; `TOOL_WORKERS` worker tasks, started
in the call's nursery under the call's supervisor like every other task of the call, perform
them.  A model that goes away while a tool runs is noticed by the worker's send and ends the
call with the upstream's reason; a worker that hits a bug ends the call as ``server_crash``.

Bounds: at most `TOOL_WORKERS` run at once and `TOOL_QUEUE` wait.  When the queue is full the
reader waits for room (backpressure on the model, which is producing function calls faster
than they can run); nothing is dropped and no task is started per call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

from app.rules.function_calls import Action

__all__ = ["TOOL_QUEUE", "TOOL_WORKERS", "ToolRunner"]

#: Function calls of one call that may run at the same time.
TOOL_WORKERS = 4
#: Function calls of one call that may wait for a worker before the reader waits too.
TOOL_QUEUE = 32

Perform = Callable[[Action], Awaitable[None]]


@attrs.define(eq=False)
class ToolRunner:
    """Runs ``perform(action)`` for each submitted action, in `TOOL_WORKERS` worker tasks."""

    perform: Perform
    _send: trio.MemorySendChannel[Action] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[Action] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[Action](TOOL_QUEUE)

    async def submit(self, action: Action) -> None:
        """Queue ``action``; waits only while `TOOL_QUEUE` actions already wait."""
        await self._send.send(action)

    async def worker(self) -> None:
        """Perform queued actions one at a time, until the call is cancelled."""
        async for action in self._receive:
            await self.perform(action)
