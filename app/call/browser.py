"""The browser's side of a call: a thin wrapper over the ASGI websocket callables.

The realtime route is served as a bare ASGI endpoint (see `app.admission.endpoint`), so the call
reads
``websocket.receive`` / ``websocket.disconnect`` messages itself.  That keeps the close code the
browser sent (which `app.fastpath.hypercorn_adapter` makes real) and saves Quart's per-message
layer on
the audio hot path.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import attrs
import trio

ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]

CLOSE_TIMEOUT = 2.0


def error_event(
    code: str,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    event_id: str | None = None,
) -> str:
    """A Realtime-style ``error`` server event, as the browser's Realtime client expects."""
    return json.dumps(
        {
            "type": "error",
            "event_id": None,
            "error": {
                "type": error_type,
                "code": code,
                "message": message,
                "param": None,
                "event_id": event_id,
            },
        }
    )


class ClientSocket(Protocol):
    """What a call sends to its client: a browser (`BrowserSocket`) or a phone caller
    (`app.phone.client.PhoneSocket`, which translates for the provider)."""

    closed: bool

    async def send_text(self, text: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def send_error(self, code: str, message: str, **kwargs: Any) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...

    def mark_gone(self) -> None: ...


@attrs.define(eq=False)
class BrowserSocket:
    """Sends to and closes the browser's websocket; idempotent close, quiet after it."""

    _send: Send
    closed: bool = False

    async def send_text(self, text: str) -> None:
        if not self.closed:
            await self._send({"type": "websocket.send", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        if not self.closed:
            await self._send({"type": "websocket.send", "bytes": data})

    async def send_error(self, code: str, message: str, **kwargs: Any) -> None:
        await self.send_text(error_event(code, message, **kwargs))

    async def close(self, code: int, reason: str = "") -> None:
        """Close once; a browser that is already gone makes this a no-op (hypercorn drops it)."""
        if self.closed:
            return
        self.closed = True
        await send_close(self._send, code, reason)

    def mark_gone(self) -> None:
        """The browser disconnected: nothing more can be sent."""
        self.closed = True


async def send_close(send: Send, code: int, reason: str = "") -> None:
    """Send an ASGI websocket close, bounded by `CLOSE_TIMEOUT` (a peer that stopped reading
    must not hold the call's shutdown); the reason is cut to what a close frame may carry."""
    with trio.move_on_after(CLOSE_TIMEOUT):
        await send({"type": "websocket.close", "code": code, "reason": reason[:120]})
