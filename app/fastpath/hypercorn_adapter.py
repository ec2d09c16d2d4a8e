"""A narrow adaptation of hypercorn 0.18's websocket protocol layer.

Two things the relay needs that hypercorn 0.18 cannot do:

* **The real close code.**  `WSStream` reports ``websocket.disconnect`` with code 1006 for every
  client-initiated close, a clean 1000 included (hypercorn issue #127).  Without the real code a
  hang-up (1000) cannot be told from a closed tab (1001) or a dropped connection (no close frame).
  `RelayWSStream` remembers the code of the peer's close frame and reports it; when the connection
  ends without one it reports 1006, which is what RFC 6455 reserves for exactly that case.
* **Declining permessage-deflate.**  Every browser offers it and hypercorn always accepts it; on
  base64 audio it multiplies the relay's CPU per frame.  `RelayWSStream` accepts it only when the
  relay was installed with ``compression=True`` (``WS_COMPRESSION``): the setting reaches the
  adapter through `install`, so it holds however hypercorn is started (``python -m app`` or the
  ``hypercorn`` command with ``app.web.asgi:app``).

Oversized messages: hypercorn's own ``websocket_max_message_size`` closes with 1009 and tells the
app nothing useful, so the relay sets hypercorn's limit well above ``MAX_FRAME_BYTES`` (as a memory
bound) and checks sizes itself; if hypercorn's bound is still hit, the disconnect is reported with
code 1009 so the call ends as ``protocol_error``.

The adaptation replaces the `WSStream` name in hypercorn's HTTP/1.1 and HTTP/2 protocol modules.
It is pinned to hypercorn 0.18.0 (pyproject.toml); `tests/unit/fastpath/test_hypercorn_adapter.py`
fails
loudly if the methods adapted here change underneath.
"""

from __future__ import annotations

from typing import Any

import hypercorn.protocol.h2
import hypercorn.protocol.h11
from hypercorn.protocol.events import StreamClosed
from hypercorn.protocol.ws_stream import ASGIWebsocketState, FrameTooLargeError, WSStream
from wsproto.events import CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason

from app import fastpath
from app.fastpath import handoff

ADAPTED_HYPERCORN_VERSION = "0.18.0"
NO_CLOSE_FRAME = 1006
MESSAGE_TOO_BIG = 1009


class RelayWSStream(WSStream):
    """hypercorn's `WSStream` that reports the peer's real close code and can refuse deflate."""

    _peer_close_code: int | None = None
    #: Accept permessage-deflate when the browser offers it (``WS_COMPRESSION``); see `install`.
    compression: bool = False

    async def handle(self, event: Any) -> None:
        if isinstance(event, StreamClosed) and not self.closed and self.app_put is not None:
            self.closed = True
            await self.app_put({"type": "websocket.disconnect", "code": self._disconnect_code()})
            return
        await super().handle(event)

    def _disconnect_code(self) -> int:
        if self._peer_close_code is not None:
            return self._peer_close_code
        if self.state in {ASGIWebsocketState.HTTPCLOSED, ASGIWebsocketState.CLOSED}:
            # The app closed first; hypercorn's own answer for this case.
            return int(CloseReason.NORMAL_CLOSURE.value)
        return NO_CLOSE_FRAME

    async def _accept(self, message: Any) -> None:
        if not self.compression:
            # No offered extension is negotiated, so wsproto never enables deflate.
            self.handshake.extensions = None
        await super()._accept(message)

    async def _handle_events(self) -> None:
        # hypercorn 0.18's loop, plus: remember the peer's close code; report an oversized
        # message to the app as close code 1009.
        app_put = self.app_put
        assert app_put is not None  # frames only arrive after the app was spawned
        for event in self.connection.events():
            if isinstance(event, Message):
                try:
                    self.buffer.extend(event)
                except FrameTooLargeError:
                    self._peer_close_code = MESSAGE_TOO_BIG
                    await self._send_wsproto_event(
                        CloseConnection(code=CloseReason.MESSAGE_TOO_BIG)
                    )
                    break
                if event.message_finished:
                    # A put without the channel's extra yield (app.fastpath.handoff).
                    await handoff.put(app_put, self.buffer.to_message())
                    self.buffer.clear()
            elif isinstance(event, Ping):
                await self._send_wsproto_event(event.response())
            elif isinstance(event, CloseConnection):
                if self._peer_close_code is None:
                    self._peer_close_code = _reported_code(event.code)
                if self.connection.state.name == "REMOTE_CLOSING":
                    await self._send_wsproto_event(event.response())
                await self.send(StreamClosed(stream_id=self.stream_id))


def _reported_code(code: int) -> int:
    # A close frame without a status code arrives as 1005 (NO_STATUS_RCVD): the peer closed
    # deliberately without naming a code (a browser's ``ws.close()``); the app counts it as a
    # hang-up (`app.rules.close_codes.reason_for_client_close`).
    return int(code)


def install(*, compression: bool = False) -> None:
    """Make hypercorn build `RelayWSStream` for every websocket (accepting permessage-deflate
    only with ``compression``), and install the per-frame fast path (`app.fastpath`).
    Idempotent; the last call's ``compression`` holds (one relay per process)."""
    RelayWSStream.compression = compression
    setattr(hypercorn.protocol.h11, "WSStream", RelayWSStream)  # noqa: B010
    setattr(hypercorn.protocol.h2, "WSStream", RelayWSStream)  # noqa: B010
    fastpath.install()
