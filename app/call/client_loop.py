"""Browser -> model: the call's client task, and the gate that holds frames until the model is up.

The handshake is accepted before the model is dialled, so the browser may speak first: its frames
wait in `UpstreamGate` (bounded in bytes: `MAX_PENDING_BYTES`, then the loop waits for the model
-- TCP backpressure on the browser, nothing dropped) and are sent in order once the relay's own
``session.update`` has gone first.

`ClientLoop.run` is the hot path for the browser's audio: `FramePolicy` recognises a plain audio
append with one regular expression, charges it to the call's audio budget and the text is
forwarded unparsed; control events take the careful path: parsed, checked against the client
allow-list (`app.rules.client_events`: anything else is answered with an ``error`` event, not
forwarded, and counted), observed by the call.  The loop stamps the time of the last frame for
the call's idle watchdog and counts frames; it logs nothing per frame, and of a refused event
only its code and type, bounded and escaped, for the first few of a call.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
import trio

from app.call.browser import CLOSE_TIMEOUT, ClientSocket, Receive
from app.model.upstream import Upstream
from app.rules.audio_budget import decoded_size, input_audio_bytes_per_second
from app.rules.client_events import Refused, check_client_event, shown
from app.rules.close_codes import reason_for_client_close
from app.rules.dialect import Dialect
from app.rules.frame_policy import (
    Disconnected,
    EndCall,
    Forward,
    FramePolicy,
    Inspect,
    Refuse,
    parse_event,
)
from app.rules.reasons import DisconnectReason

__all__ = ["LOGGED_REFUSALS", "MAX_PENDING_BYTES", "ClientLoop", "UpstreamGate"]

log = logging.getLogger(__name__)

#: Characters of frames the browser may send before the upstream is connected (about 10 s of
#: audio, a few 64 KB events); beyond this the client task waits for the upstream (TCP
#: backpressure on the browser), so nothing is dropped and a call's queue stays small.
MAX_PENDING_BYTES = 1024 * 1024
#: Refused client events logged one by one per call; the rest are only counted.
LOGGED_REFUSALS = 3
#: Client events whose content the model bills: charged to the call's budgets.
_BILLED = frozenset({"input_audio_buffer.append", "conversation.item.create"})

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
    #: Characters queued in `_pending` (a str's length: its size for the ASCII of JSON events).
    pending_chars: int = 0
    _ready: trio.Event = attrs.field(factory=trio.Event)

    async def send(self, text: str) -> None:
        """Send ``text`` to the model, or queue it until the model is connected."""
        upstream = self._open
        if upstream is not None:
            await upstream.send(text)
        elif self.pending_chars + len(text) <= MAX_PENDING_BYTES:
            self._pending.append(text)
            self.pending_chars += len(text)
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
            text = pending.popleft()
            self.pending_chars -= len(text)
            await upstream.send(text)
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
    dialect: Dialect = Dialect.GA
    session_id: str = ""
    frames: int = 0
    #: Client events refused by the allow-list, and fields cut from session.updates.
    events_refused: int = 0
    fields_cut: int = 0
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
            if isinstance(verdict, Forward):
                if record is not None and verdict.plain_audio:
                    record(verdict.text, now)
                await gate.send(verdict.text)
                continue
            if isinstance(verdict, Inspect):
                forward = await self._careful_path(verdict.text, now)
                if not isinstance(forward, EndCall):
                    if forward is not None:
                        await gate.send(forward)
                    continue
                verdict = forward
            if isinstance(verdict, Refuse):
                await self._refuse(verdict)
                continue
            await self.browser.send_error(verdict.code, verdict.message)
            self.end(verdict.reason, verdict.close)
            return

    async def _careful_path(self, text: str, now: float) -> str | EndCall | None:
        """A control event: parsed, checked against the allow-list, observed by the call;
        the text to forward (as is or rewritten), None for nothing, or the end of the call."""
        event = parse_event(text)
        if isinstance(event, Refuse):
            await self._refuse(event)
            return None
        verdict = check_client_event(event, self.dialect)
        if isinstance(verdict, Refused):
            self.events_refused += 1
            if self.events_refused <= LOGGED_REFUSALS:
                log.warning(
                    "Session %s: refused a client event of type %s (%s)",
                    self.session_id,
                    shown(event["type"]),
                    verdict.code,
                )
            await self._refuse(Refuse(verdict.code, verdict.message, verdict.event_id))
            return None
        allowed = verdict.event
        if verdict.dropped:
            self._cut(verdict.dropped)
        kind = allowed["type"]
        if kind in _BILLED:
            refusal = self._charge(allowed, now)
            if isinstance(refusal, EndCall):
                return refusal
            if refusal is not None:
                await self._refuse(refusal)
                return None
        elif kind == "session.update":
            rate = input_audio_bytes_per_second(allowed)
            if rate is not None:
                self.policy.audio.set_format(rate)
        forward = self.observe(allowed)
        if forward is None:
            return None
        return text if forward is event else json.dumps(forward)

    def _charge(self, event: dict[str, Any], now: float) -> Refuse | EndCall | None:
        """Charge what an allowed event asks the model to take in (audio appended or in an
        item, typed text) to the call's budgets; the refusal if it does not fit."""
        if event["type"] == "input_audio_buffer.append":
            return self.policy.charge_audio(decoded_size(len(event["audio"])), now)
        audio = text = 0
        for part in event["item"]["content"]:  # the allow-list checked the shape
            if part["type"] == "input_audio":
                audio += decoded_size(len(part["audio"]))
            else:
                text += len(part["text"])
        refusal = self.policy.charge_audio(audio, now) if audio else None
        return refusal or self.policy.charge_text(text, now)

    def _cut(self, dropped: tuple[str, ...]) -> None:
        """Count the fields cut from a session.update; log how many and the first few names."""
        self.fields_cut += len(dropped)
        log.warning(
            "Session %s: cut %d field(s) a client may not set from a session.update: %s%s",
            self.session_id,
            len(dropped),
            ", ".join(shown(name) for name in dropped[:3]),
            ", ..." if len(dropped) > 3 else "",
        )

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
