"""Hand a message to a bounded trio memory channel without a scheduler round trip when it fits.

`trio.MemorySendChannel.send` is ``checkpoint_if_cancelled`` + ``send_nowait`` + a yield to the
scheduler.  The two library reader loops that feed a call — hypercorn's connection task (browser
frames to the app) and trio-websocket's reader task (model messages to the call) — put one
message per frame and then go straight back to reading the socket, which is itself a checkpoint
(it parks until data arrives, or yields).  The yield after each put only adds a task switch per
frame.  `put` does ``send_nowait`` and falls back to the full ``send`` (which waits: the channel's
backpressure is unchanged) only when the channel is full.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio


async def put(send: Callable[[Any], Awaitable[None]], message: Any) -> None:
    """``await send(message)``, minus the yield when ``send`` is a memory channel with room."""
    channel = getattr(send, "__self__", None)
    if isinstance(channel, trio.MemorySendChannel):
        try:
            channel.send_nowait(message)
        except trio.WouldBlock:
            pass
        else:
            return
    await send(message)
