"""Browser -> model: the call's client task, and the gate that holds frames until the model is up.

The handshake is accepted before the model is dialled, so the browser may speak first: its frames
wait in `UpstreamGate` (bounded: `MAX_PENDING_FRAMES`, then the loop waits for the model -- TCP
backpressure on the browser, nothing dropped) and are sent in order once the relay's own
``session.update`` has gone first.

`ClientLoop.run` is the hot path for the browser's audio: `FramePolicy` recognises a plain audio
append with one regular expression and the text is forwarded unparsed; control events take the
careful path (parsed, observed by the call, possibly rewritten).  The loop stamps the time of the
last frame for the call's idle watchdog and counts frames; it logs nothing per frame.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
import trio

from app.call.browser import CLOSE_TIMEOUT, ClientSocket, Receive
from app.model.upstream import Upstream
from app.rules.close_codes import reason_for_client_close
from app.rules.frame_policy import (
    Disconnected,
    EndCall,
    FramePolicy,
    Inspect,
    Refuse,
    parse_event,
)
from app.rules.reasons import DisconnectReason

__all__ = ["MAX_PENDING_FRAMES", "ClientLoop", "UpstreamGate"]

#: Frames the browser may send before the upstream is connected; beyond this the client task
#: waits for the upstream (TCP backpressure on the browser), so nothing is dropped.
MAX_PENDING_FRAMES = 256

#: What the call does with a parsed control event: the event to forward, or None to withhold it.
ObserveClient = Callable[[dict[str, Any]], dict[str, Any] | None]
EndCallback = Callable[[DisconnectReason, tuple[int, str] | None], None]


@attrs.define(eq=False)
class UpstreamGate:
    """The way to the model: frames queued until it is connected, then sent straight through."""

    #: The upstream once connected (to close it); `_open` once the queue has been flushed.
    connected: Upstream | None = None
    _open: Upstream | None = None
    _pending: deque[str] = attrs.field(factory=deque)
    _ready: trio.Event = attrs.field(factory=trio.Event)

    async def send(self, text: str) -> None:
        """Send ``text`` to the model, or queue it until the model is connected."""
        upstream = self._open
        if upstream is not None:
            await upstream.send(text)
        elif len(self._pending) < MAX_PENDING_FRAMES:
            self._pending.append(text)
        else:
            await self._ready.wait()
            assert self._open is not None
            await self._open.send(text)

    async def open(self, upstream: Upstream, first: str) -> None:
        """Send ``first`` (the relay's session set-up), then the queued frames, then open."""
        self.connected = upstream
        await upstream.send(first)
        pending = self._pending
        while pending:
            await upstream.send(pending.popleft())
        # No checkpoint between the emptiness test above and this hand-over, so `send` cannot
        # queue a frame that would then be sent out of order.
        self._open = upstream
        self._ready.set()


@attrs.define(eq=False)
class ClientLoop:
    """Reads the browser's frames, applies the frame policy, forwards to the model."""

    receive: Receive
    browser: ClientSocket
    policy: FramePolicy
    gate: UpstreamGate
    observe: ObserveClient
    end: EndCallback
    clock: Callable[[], float]
    #: Hands each plain audio append (the text as relayed, and when it came) to the call's
    #: recording; None when the call is not recorded.  Never waits (`RecordingTap`).
    record: Callable[[str, float], None] | None = None
    frames: int = 0
    #: When the browser last sent a frame (the call's idle watchdog reads it).
    last_frame_at: float = 0.0

    async def run(self) -> None:
        """Relay until the browser disconnects or breaks a limit (then the call ends)."""
        receive, policy, gate, clock = self.receive, self.policy, self.gate, self.clock
        record = self.record
        while True:
            message = await receive()
            now = clock()
            verdict = policy.check(message, now)
            if verdict is None:
                continue
            if isinstance(verdict, Disconnected):
                self.browser.mark_gone()
                self.end(reason_for_client_close(verdict.code), None)
                return
            self.last_frame_at = now
            self.frames += 1
            if isinstance(verdict, Inspect):
                forward = await self._careful_path(verdict.text)
                if forward is not None:
                    await gate.send(forward)
            elif isinstance(verdict, Refuse):
                await self._refuse(verdict)
            elif isinstance(verdict, EndCall):
                await self.browser.send_error(verdict.code, verdict.message)
                self.end(verdict.reason, verdict.close)
                return
            else:
                if record is not None and verdict.plain_audio:
                    record(verdict.text, now)
                await gate.send(verdict.text)

    async def _careful_path(self, text: str) -> str | None:
        """A control event: parsed, observed by the call, forwarded as is or rewritten."""
        event = parse_event(text)
        if isinstance(event, Refuse):
            await self._refuse(event)
            return None
        forward = self.observe(event)
        if forward is None:
            return None
        return text if forward is event else json.dumps(forward)

    async def _refuse(self, refusal: Refuse) -> None:
        await self.browser.send_error(refusal.code, refusal.message, event_id=refusal.event_id)

    async def await_close(self) -> None:
        """After the relay closed the socket: read (and drop) what the browser still sends
        until it answers the close, at most `CLOSE_TIMEOUT` seconds.

        Frames the browser sent before it saw the close are still on their way.  Left unread,
        the socket is closed with data in its buffer, the kernel answers with a reset, and the
        browser may never read the close frame and its code (a flooding browser would see 1006
        instead of 1008).
        """
        with trio.move_on_after(CLOSE_TIMEOUT):
            while (await self.receive())["type"] != "websocket.disconnect":
                pass
