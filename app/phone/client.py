"""A phone caller as a call's client: the provider's websocket behind a client dialect.

`Call` takes a ``receive`` callable (ASGI websocket messages) and a socket to send to; a browser
gives it the ASGI callables as they are.  `PhoneClient` gives it the same two things for a phone:

* `PhoneClient.receive` reads the provider's messages, lets the dialect translate them, and
  returns what a browser would have sent: ``websocket.receive`` messages holding Realtime client
  events (so the call's frame policy, limits and tracker see them unchanged), and a
  ``websocket.disconnect`` whose code says how the call ended -- 1000 when the provider said
  the caller hung up (``user_hangup``), 1006 when the stream dropped without that
  (``connection_lost``).
* `PhoneSocket` is what the call sends to: each model event goes through the dialect, and the
  provider messages that come out are sent on the provider's socket; client events the relay
  makes for the caller (a truncate after a barge-in) are queued for `receive`, which returns
  them before reading the socket again.  Providers stream the caller's audio without pause
  (Twilio and ACS every 20 ms, silence included), so a queued event goes out within one frame.
  Closing the socket hangs up through the provider (Twilio: closing a ``<Connect><Stream>``
  ends the call; ACS adds its SDK's hang-up as ``hang_up``).

Resource handling: nothing here owns a task; the call's client task runs `receive` and the
call's other tasks send.  Error handling: the provider's socket going away is reported as a
disconnect, as for a browser.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from app.call.browser import ASGIMessage, Receive, Send, send_close
from app.phone.dialect import ClientDialect

__all__ = ["HANGUP_CODE", "LOST_CODE", "PhoneClient", "PhoneSocket"]

log = logging.getLogger(__name__)

#: The disconnect code `PhoneClient.receive` reports for a caller's hang-up (``user_hangup``).
HANGUP_CODE = 1000
#: ... and for a stream that ended without the provider saying so (``connection_lost``).
LOST_CODE = 1006

HangUp = Callable[[], Awaitable[None]]


@attrs.define(eq=False)
class PhoneSocket:
    """The caller's side as the call sends to it (the `app.call.browser.ClientSocket` shape)."""

    _send: Send
    dialect: ClientDialect
    #: How the relay hangs up besides closing the stream (ACS: the SDK's hang-up), if needed.
    hang_up: HangUp | None = None
    clock: Callable[[], float] = trio.current_time
    closed: bool = False
    #: Client events for the model, made by the dialect; `PhoneClient.receive` sends them on.
    for_model: deque[str] = attrs.field(factory=deque)
    #: Realtime ``error`` events the call meant for a browser: a phone has no screen.
    errors: int = 0

    async def send_text(self, text: str) -> None:
        if self.closed:
            return
        result = self.dialect.from_model(text, self.clock())
        for message in result.to_caller:
            await self._send({"type": "websocket.send", "text": message})
        self.for_model.extend(result.to_model)

    async def send_bytes(self, data: bytes) -> None:
        """Binary frames are not part of the Realtime protocol; a phone never gets them."""

    async def send_error(self, code: str, message: str, **kwargs: Any) -> None:
        self.errors += 1
        log.info("Phone call (%s): error for the caller: %s", self.dialect.channel, code)

    async def close(self, code: int, reason: str = "") -> None:
        """Hang up: close the provider's stream (and hang up through its API), once."""
        if self.closed:
            return
        self.closed = True
        await send_close(self._send, code, reason)
        if self.hang_up is not None:
            await self.hang_up()

    def mark_gone(self) -> None:
        self.closed = True


@attrs.define(eq=False)
class PhoneClient:
    """The provider's websocket, read through a dialect, as the call's ``receive``."""

    _receive: Receive
    socket: PhoneSocket
    clock: Callable[[], float] = trio.current_time
    #: The provider said the caller hung up.
    hung_up: bool = False

    async def receive(self) -> ASGIMessage:
        """The next message as a browser would have sent it (see the module's docstring)."""
        socket, dialect = self.socket, self.socket.dialect
        while True:
            if socket.for_model:
                return {"type": "websocket.receive", "text": socket.for_model.popleft()}
            message = await self._receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                code = HANGUP_CODE if self.hung_up else LOST_CODE
                return {"type": "websocket.disconnect", "code": code}
            text = message.get("text") if kind == "websocket.receive" else None
            if text is None:
                continue
            result = dialect.from_caller(text, self.clock())
            if result.hung_up:
                self.hung_up = True
                return {"type": "websocket.disconnect", "code": HANGUP_CODE}
            to_model = result.to_model
            if len(to_model) == 1 and not socket.for_model:
                return {"type": "websocket.receive", "text": to_model[0]}
            socket.for_model.extend(to_model)
