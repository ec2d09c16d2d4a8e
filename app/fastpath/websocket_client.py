"""trio-websocket 0.12's client connection with a send that does not yield twice per frame.

`WebSocketConnection._send` serialises writers with a `trio.StrictFIFOLock`: ``async with`` the
lock yields to the scheduler on acquire, then ``send_all`` yields again.  The relay's client task
is almost always the only writer (the reader task writes only pongs and the close handshake), so
`RelayWebSocketConnection._send`, when nobody holds the lock, takes it without yielding, hands
the frame to the kernel through `ReadinessSocketStream.send_now` and yields once
(``cancel_shielded_checkpoint``, the checkpoint trio's own ``send_all`` makes).  If the kernel
does not take the whole frame, the rest is sent under the lock as before.  A contended lock, or
any other stream (TLS), takes trio-websocket's own path.

Its reader also hands each whole message to the call without the channel's extra yield
(`app.fastpath.handoff`).

`wrap_client_stream` is trio-websocket's function of that name building this class instead.
Pinned with trio-websocket (pyproject.toml); ``tests/unit/fastpath/test_fastpath_fingerprints.py``
fails if
the replaced code changes.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import trio
import trio_websocket
from wsproto import ConnectionType, WSConnection

from app.fastpath import handoff
from app.fastpath.socket_stream import ReadinessSocketStream


class RelayWebSocketConnection(trio_websocket.WebSocketConnection):
    async def _handle_message_event(self, event: Any) -> None:
        # A message that arrived whole and within the size limit is queued for the call with
        # `handoff.put` (no extra yield); everything else is trio-websocket's own path.
        if (
            not event.message_finished
            or self._message_parts
            or len(event.data) > self._max_message_size
        ):
            await super()._handle_message_event(event)
            return
        # As trio-websocket: if the call closed its side there is nothing to clean up here.
        with suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            await handoff.put(self._send_channel.send, event.data)

    async def _send(self, event: Any) -> None:
        stream = self._stream
        lock: trio.StrictFIFOLock = self._stream_lock
        if lock.locked() or type(stream) is not ReadinessSocketStream:
            await super()._send(event)
            return
        data = self._wsproto.send(event)
        await trio.lowlevel.checkpoint_if_cancelled()
        lock.acquire_nowait()  # free, and nothing above yielded
        try:
            try:
                rest = stream.send_now(data)
                if rest is not None:
                    await stream.send_all(rest)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self._abort_web_socket()
                assert self._close_reason is not None
                raise trio_websocket.ConnectionClosed(self._close_reason) from None
        finally:
            lock.release()
        if rest is None:
            await trio.lowlevel.cancel_shielded_checkpoint()


async def wrap_client_stream(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    host: str,
    resource: str,
    *,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    message_queue_size: int,
    max_message_size: int,
    receive_buffer_size: int,
) -> trio_websocket.WebSocketConnection:
    """trio-websocket 0.12.2's ``wrap_client_stream``, building `RelayWebSocketConnection`."""
    connection = RelayWebSocketConnection(
        stream,
        WSConnection(ConnectionType.CLIENT),
        host=host,
        path=resource,
        client_subprotocols=None,
        client_extra_headers=extra_headers,
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
    )
    nursery.start_soon(connection._reader_task)
    await connection._open_handshake.wait()
    return connection
