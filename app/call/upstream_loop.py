"""Model -> browser: the call's upstream task.

It dials the model (the handshake with the browser is already done), opens the `UpstreamGate`
with the relay's own ``session.update`` first, then relays everything the model sends.  The hot
path is the model's audio: `audio_delta_facts` pulls the item id and the audio length out of a
delta with two string searches, the tracker counts it, and the text goes to the browser
unchanged.  Control events take the careful path: parsed, observed by the call (which may
withhold or rewrite them, and queue work for its `ToolRunner`).

The model going away surfaces as `UpstreamClosed` from ``receive`` and propagates to the call's
supervisor, which ends the call with the upstream's reason; an unreachable model ends it here as
``upstream_unavailable``, with an ``error`` event for the browser.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from app.call.browser import ClientSocket
from app.call.client_loop import EndCallback, UpstreamGate
from app.model.upstream import UpstreamClosed, UpstreamConnector, UpstreamUnavailable
from app.record.tracker import ConversationTracker
from app.rules.frames import audio_delta_facts
from app.rules.reasons import DisconnectReason

__all__ = ["UpstreamLoop"]

log = logging.getLogger(__name__)

#: What the call does with a parsed upstream event: the event the browser gets, or None.
ObserveUpstream = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


@attrs.define(eq=False)
class UpstreamLoop:
    """Connects to the model and relays its events to the browser."""

    session_id: str
    connector: UpstreamConnector
    browser: ClientSocket
    gate: UpstreamGate
    tracker: ConversationTracker
    observe: ObserveUpstream
    initial_update: Callable[[], str]
    end: EndCallback
    clock: Callable[[], float]
    #: Hands each audio delta (item id, the text as relayed, its base64 length, when it came)
    #: to the call's recording; None when the call is not recorded.  Never waits.
    record: Callable[[str, str, int, float], None] | None = None
    frames: int = 0

    async def run(self, connection_nursery: trio.Nursery) -> None:
        """Connect (the connection's task lives in ``connection_nursery``) and relay."""
        try:
            upstream = await self.connector.connect(connection_nursery)
        except UpstreamUnavailable as exc:
            log.warning("Session %s: upstream unavailable: %s", self.session_id, exc)
            # The details (where, why) are for the operator's log, not for callers.
            await self.browser.send_error(
                "upstream_unavailable",
                "The model is unavailable right now; please try again later.",
                error_type="server_error",
            )
            self.end(DisconnectReason.UPSTREAM_UNAVAILABLE, None)
            return
        await self.gate.open(upstream, self.initial_update())
        browser, tracker, clock, record = self.browser, self.tracker, self.clock, self.record
        while True:
            text = await upstream.receive()
            self.frames += 1
            if isinstance(text, bytes):
                await browser.send_bytes(text)
                continue
            facts = audio_delta_facts(text)
            if facts is not None:
                now = clock()
                tracker.observe_audio_delta(facts[0], facts[1], now)
                if record is not None:
                    record(facts[0], text, facts[1], now)
            else:
                view = await self._careful_path(text)
                if view is None:
                    continue
                text = view
            await browser.send_text(text)

    async def _careful_path(self, text: str) -> str | None:
        """A control event; the text the browser gets, or None."""
        try:
            event = json.loads(text)
        except (ValueError, RecursionError):
            log.warning("Session %s: upstream sent a frame that is not JSON", self.session_id)
            return text
        if not isinstance(event, dict):
            return text
        view = await self.observe(event)
        if view is None:
            return None
        return text if view is event else json.dumps(view)

    async def gone(self, exc: UpstreamClosed) -> None:
        """The model went away (any task may notice): ``upstream_closed`` for a clean close,
        else ``upstream_error`` with an ``error`` event telling the browser."""
        if exc.clean:
            self.end(DisconnectReason.UPSTREAM_CLOSED, None)
            return
        log.warning(
            "Session %s: upstream connection failed (code %s %s)",
            self.session_id,
            exc.code,
            exc.reason,
        )
        await self.browser.send_error(
            "upstream_error",
            f"The model connection failed (close code {exc.code}).",
            error_type="server_error",
        )
        self.end(DisconnectReason.UPSTREAM_ERROR, None)

    async def close(self) -> None:
        """Close the model's connection politely (bounded by the upstream's own timeout)."""
        if self.gate.connected is not None:
            await self.gate.connected.aclose()
