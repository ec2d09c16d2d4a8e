"""hypercorn 0.18's trio `TCPServer` with a cheaper path for every frame it reads and sends.

Per frame the browser sends, hypercorn's ``_read_data`` opens a cancel scope
(``fail_after(read_timeout or inf)``) even when no read timeout is configured, and reads through
trio's `SocketStream`.  Per frame the relay sends, ``protocol_send`` takes the connection's send
lock (an acquire that yields to the scheduler), opens a shielded cancel scope, and calls
``send_all`` (which yields again).  `RelayTCPServer` keeps the guarantees and drops the detours:

* the connection's stream is a `ReadinessSocketStream` (plain TCP only; TLS is left as is);
* ``_read_data`` opens the timeout scope only when ``read_timeout`` is set;
* ``protocol_send`` of raw data, when nobody holds the send lock: a cancellation check (the one
  the lock's acquire makes), the lock taken without yielding, the bytes handed to the kernel at
  once, the lock released, and one ``cancel_shielded_checkpoint``.  If the kernel does not take
  everything, the rest is sent under the lock in a shielded scope, as hypercorn does, so a
  frame is never cut by a cancellation.  A contended lock takes hypercorn's own path.

Installed by `app.fastpath.hypercorn_adapter.install` (replacing the name in
``hypercorn.trio.run``);
pinned with hypercorn (pyproject.toml) and guarded by
``tests/unit/fastpath/test_fastpath_fingerprints.py``.
"""

from __future__ import annotations

from math import inf
from typing import Any

import hypercorn.trio.run
import trio
from hypercorn.events import Closed, RawData
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer

from app.fastpath.socket_stream import ReadinessSocketStream


class RelayTCPServer(TCPServer):
    def __init__(self, app: Any, config: Any, context: Any, state: Any, stream: Any) -> None:
        fast: Any = ReadinessSocketStream.wrap(stream)
        super().__init__(app, config, context, state, fast)

    async def protocol_send(self, event: Any) -> None:
        stream: Any = self.stream
        lock: trio.Lock = self.send_lock
        if type(event) is not RawData or lock.locked() or type(stream) is not ReadinessSocketStream:
            await super().protocol_send(event)
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        lock.acquire_nowait()  # free, and nothing above yielded
        try:
            try:
                rest = stream.send_now(event.data)
                if rest is not None:
                    with trio.CancelScope(shield=True):
                        await stream.send_all(rest)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self.protocol.handle(Closed())
                return
        finally:
            lock.release()
        if rest is None:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def _read_data(self) -> None:
        # hypercorn 0.18's loop; the timeout scope only when a read timeout is configured.
        read_timeout = self.config.read_timeout
        while True:
            try:
                if read_timeout:
                    with trio.fail_after(read_timeout or inf):
                        data = await self.stream.receive_some(MAX_RECV)
                else:
                    data = await self.stream.receive_some(MAX_RECV)
            except (
                trio.ClosedResourceError,
                trio.BrokenResourceError,
                trio.TooSlowError,
            ):
                break
            else:
                await self.protocol.handle(RawData(bytes(data)))
                if data == b"":
                    break
        await self.protocol.handle(Closed())


def install() -> None:
    """Make hypercorn's trio worker serve each connection with `RelayTCPServer`.  Idempotent."""
    setattr(hypercorn.trio.run, "TCPServer", RelayTCPServer)  # noqa: B010
