"""One call: a browser, an upstream, and the nursery that binds their lifetimes.

Shape (one nursery per call)::

    Call.run
    └─ connection nursery   owns the upstream connection's background task
       └─ call nursery
          ├─ client task            browser -> upstream (check, observe, forward)
          ├─ upstream task          connect; upstream -> browser (forward, observe)
          ├─ checkpoint task        partial record to the spool every CHECKPOINT_INTERVAL
          ├─ watchdog task          idle and maximum-duration limits
          └─ logging-shutdown task  sleeps; its ``finally`` closes both sides and saves

Whatever ends the call — a task noticing a disconnect, a limit, a shutdown of the server, a bug —
sets the reason (`Call.end`, first reason wins) and cancels the call nursery.  The logging-shutdown
task's ``finally`` then runs under ``trio.CancelScope(shield=True)``: it closes the browser and the
upstream (each bounded) and saves the conversation through the `DurableRecorder`, which bounds the
store write by ``SAVE_TIMEOUT`` and falls back to the local spool.  The call nursery cannot exit
before that finishes, so no call ends unlogged.  The connection nursery outlives the call nursery
so the upstream's close handshake can complete; it is cancelled last.

Error handling: disconnects are expected and end the call with a reason.  Anything unexpected in
a task is logged once here with the session id, ends the call as ``server_crash`` (the document
is still written) and is not re-raised into hypercorn, which would only log it a second time.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import trio

from app.agent_runtime import AgentRuntime
from app.agents import AgentCatalog
from app.browser import BrowserSocket, Receive
from app.close_codes import CLOSE_FOR_REASON, reason_for_client_close
from app.document import DisconnectReason, build_document
from app.frames import audio_delta_facts, is_plain_audio_append, utf8_length_exceeds
from app.session_config import SessionSettings
from app.store.recorder import DurableRecorder
from app.tracker import ConversationTracker
from app.upstream import Upstream, UpstreamClosed, UpstreamConnector, UpstreamUnavailable

log = logging.getLogger(__name__)

# Frames the browser may send before the upstream is connected; beyond this the client task
# waits for the upstream (TCP backpressure on the browser), so nothing is dropped.
MAX_PENDING_FRAMES = 256
# On top of SAVE_TIMEOUT: time for the spool write if the store write failed or timed out.
SPOOL_MARGIN = 5.0

@attrs.frozen
class CallLimits:
    idle_timeout: float
    max_duration: float
    save_timeout: float
    checkpoint_interval: float
    max_frame_bytes: int
    tool_timeout: float = 10.0


@attrs.define(eq=False)
class Call:
    """A live call.  Create it after the browser's handshake is accepted, then ``await run()``."""

    session_id: str
    customer_id: str | None
    receive: Receive
    browser: BrowserSocket
    connector: UpstreamConnector
    recorder: DurableRecorder
    limits: CallLimits
    catalog: AgentCatalog
    session_settings: SessionSettings
    clock: Callable[[], float] = trio.current_time
    wall_clock: Callable[[], datetime] = attrs.field(default=lambda: datetime.now(UTC))

    tracker: ConversationTracker = attrs.field(init=False)
    agent: AgentRuntime = attrs.field(init=False)
    reason: DisconnectReason | None = attrs.field(init=False, default=None)
    outcome: str | None = attrs.field(init=False, default=None)
    started_at: float = attrs.field(init=False, default=0.0)
    start_time: datetime = attrs.field(init=False)
    last_client_frame_at: float = attrs.field(init=False, default=0.0)
    frames_from_browser: int = attrs.field(init=False, default=0)
    frames_from_upstream: int = attrs.field(init=False, default=0)
    ended: trio.Event = attrs.field(init=False, factory=trio.Event)

    _close: tuple[int, str] | None = attrs.field(init=False, default=None)
    _scope: trio.CancelScope = attrs.field(init=False, factory=trio.CancelScope)
    _upstream: Upstream | None = attrs.field(init=False, default=None)  # set once flushed
    _connected: Upstream | None = attrs.field(init=False, default=None)  # set once connected
    _pending: deque[str] = attrs.field(init=False, factory=deque)
    _upstream_ready: trio.Event = attrs.field(init=False, factory=trio.Event)
    _checkpoints_stopped: trio.Event = attrs.field(init=False, factory=trio.Event)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        dialect = self.connector.dialect
        self.tracker = ConversationTracker(
            dialect=dialect, initial_agent=self.catalog.initial_agent
        )
        self.agent = AgentRuntime(
            catalog=self.catalog,
            dialect=dialect,
            session_settings=self.session_settings,
            tool_timeout=self.limits.tool_timeout,
            tracker=self.tracker,
            session_id=self.session_id,
        )
        self.start_time = self.wall_clock()

    # -- ending ------------------------------------------------------------------------------------

    def end(self, reason: DisconnectReason, close: tuple[int, str] | None = None) -> None:
        """End the call for ``reason``; the first reason given wins.  Safe from any task."""
        if self.reason is None:
            self.reason = reason
            self._close = close if close is not None else CLOSE_FOR_REASON.get(reason)
            log.info("Ending session %s: %s", self.session_id, reason.value)
        self._scope.cancel()

    # -- lifetime ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Relay until the call ends, then close both sides and save; returns after the save."""
        self.started_at = self.last_client_frame_at = self.clock()
        log.info(
            "Starting session %s for customer %s via %s",
            self.session_id,
            self.customer_id or "anonymous",
            self.connector.description,
        )
        try:
            async with trio.open_nursery() as connection_nursery:
                with self._scope:
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery  # tool tasks run here too
                        nursery.start_soon(self._supervise, self._log_on_shutdown)
                        nursery.start_soon(self._supervise, self._client_task)
                        nursery.start_soon(self._supervise, self._upstream_task, connection_nursery)
                        nursery.start_soon(self._supervise, self._checkpoint_task)
                        nursery.start_soon(self._supervise, self._watchdog_task)
                connection_nursery.cancel_scope.cancel()
        finally:
            self.ended.set()

    async def _supervise(self, task: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run one of the call's tasks; a bug ends the call as ``server_crash``, logged once."""
        try:
            await task(*args)
        except Exception:
            log.exception("Session %s: unexpected error in %s", self.session_id, task.__name__)
            self.end(DisconnectReason.SERVER_CRASH)

    # -- the logging-shutdown task -----------------------------------------------------------------

    async def _log_on_shutdown(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await self._shut_down()

    async def _shut_down(self) -> None:
        if self.reason is None:
            # Cancelled from outside without a reason: the server is stopping this call.
            self.end(DisconnectReason.SERVER_SHUTDOWN)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._close_browser)
            nursery.start_soon(self._close_upstream)
            nursery.start_soon(self._save)
        log.info(
            "Session %s closed after %.1f s: %d frames from the browser, %d from the model, "
            "conversation %s",
            self.session_id,
            self.clock() - self.started_at,
            self.frames_from_browser,
            self.frames_from_upstream,
            self.outcome or "not saved in time",
        )

    async def _close_browser(self) -> None:
        if self._close is not None:
            await self.browser.close(*self._close)
        else:
            self.browser.mark_gone()

    async def _close_upstream(self) -> None:
        if self._connected is not None:
            await self._connected.aclose()

    async def _save(self) -> None:
        assert self.reason is not None
        document = self.document(self.reason)
        if document is None:
            log.info(
                "No messages to log for session %s - skipping conversation log", self.session_id
            )
            self.recorder.skipped_empty += 1
            self.outcome = "empty"
        else:
            with trio.move_on_after(self.limits.save_timeout + SPOOL_MARGIN):
                self.outcome = await self.recorder.save(document)
        with trio.move_on_after(SPOOL_MARGIN):
            # A checkpoint write already in a worker thread finishes even when cancelled; wait
            # for it, or it could land after the discard and be "recovered" at the next start.
            await self._checkpoints_stopped.wait()
            await self.recorder.discard_checkpoint(self.session_id)

    def document(self, reason: DisconnectReason) -> dict[str, Any] | None:
        """The conversation document as of now, or None if nothing was said."""
        return build_document(
            self.tracker.record(),
            session_id=self.session_id,
            customer_id=self.customer_id,
            start=self.start_time,
            end=self.wall_clock(),
            reason=reason,
        )

    # -- browser -> upstream -----------------------------------------------------------------------

    async def _client_task(self) -> None:
        receive = self.receive
        limit = self.limits.max_frame_bytes
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                self.browser.mark_gone()
                self.end(reason_for_client_close(int(message.get("code", 1006))))
                return
            if kind != "websocket.receive":
                continue
            self.last_client_frame_at = self.clock()
            self.frames_from_browser += 1
            text = message.get("text")
            if text is None:
                await self._reject_binary(message.get("bytes") or b"", limit)
                continue
            if utf8_length_exceeds(text, limit):
                await self._reject_oversized(limit)
                return
            if not is_plain_audio_append(text):
                forward = await self._inspect_client_event(text)
                if forward is None:
                    continue
                text = forward
            upstream = self._upstream
            if upstream is None:
                await self._queue_until_connected(text)
            else:
                await upstream.send(text)

    async def _inspect_client_event(self, text: str) -> str | None:
        """The careful path for control events: parse, observe, filter; the text to forward."""
        try:
            event = json.loads(text)
        except (ValueError, RecursionError) as exc:
            # RecursionError: nesting deeper than the parser's stack (a JSON bomb).
            reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
            await self.browser.send_error(
                "invalid_json", f"The frame is not valid JSON: {reason}. It was not forwarded."
            )
            return None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            await self.browser.send_error(
                "invalid_event",
                "A client event must be a JSON object with a string 'type'. It was not forwarded.",
                event_id=event.get("event_id") if isinstance(event, dict) else None,
            )
            return None
        self.tracker.observe_client(event, self.clock())
        forward = self.agent.from_browser(event)
        if forward is None:
            return None
        return text if forward is event else json.dumps(forward)

    async def _reject_binary(self, data: bytes, limit: int) -> None:
        if len(data) > limit:
            await self._reject_oversized(limit)
            return
        await self.browser.send_error(
            "binary_not_supported",
            "Binary frames are not part of the Realtime protocol; send JSON text events. "
            "The frame was not forwarded.",
        )

    async def _reject_oversized(self, limit: int) -> None:
        await self.browser.send_error(
            "frame_too_large",
            f"A frame larger than MAX_FRAME_BYTES ({limit} bytes) ends the call.",
        )
        self.end(DisconnectReason.PROTOCOL_ERROR, (1009, "frame too large"))

    async def _queue_until_connected(self, text: str) -> None:
        if len(self._pending) >= MAX_PENDING_FRAMES:
            await self._upstream_ready.wait()
            assert self._upstream is not None
            await self._upstream.send(text)
        else:
            self._pending.append(text)

    # -- upstream -> browser -----------------------------------------------------------------------

    async def _upstream_task(self, connection_nursery: trio.Nursery) -> None:
        try:
            upstream = await self.connector.connect(connection_nursery)
        except UpstreamUnavailable as exc:
            log.warning("Session %s: upstream unavailable: %s", self.session_id, exc)
            await self.browser.send_error(
                "upstream_unavailable",
                f"The model is unavailable: {exc}",
                error_type="server_error",
            )
            self.end(DisconnectReason.UPSTREAM_UNAVAILABLE)
            return
        try:
            await self._flush_pending(upstream)
            await self._relay_upstream(upstream)
        except UpstreamClosed as exc:
            await self._upstream_ended(exc)

    async def _flush_pending(self, upstream: Upstream) -> None:
        self._connected = upstream
        # The relay configures the session before anything from the browser reaches the model.
        await upstream.send(self.agent.initial_update())
        pending = self._pending
        while pending:
            await upstream.send(pending.popleft())
        # No checkpoint between the emptiness test above and this hand-over, so the client task
        # cannot queue a frame that would then be sent out of order.
        self._upstream = upstream
        self._upstream_ready.set()

    async def _relay_upstream(self, upstream: Upstream) -> None:
        browser = self.browser
        tracker = self.tracker
        clock = self.clock
        while True:
            text = await upstream.receive()
            self.frames_from_upstream += 1
            if isinstance(text, bytes):
                await browser.send_bytes(text)
                continue
            facts = audio_delta_facts(text)
            if facts is not None:
                tracker.observe_audio_delta(facts[0], facts[1], clock())
            else:
                view = self._observe_upstream(text, upstream)
                if view is None:
                    continue
                text = view
            await browser.send_text(text)

    def _observe_upstream(self, text: str, upstream: Upstream) -> str | None:
        """The careful path for control events; the text the browser gets, or None."""
        try:
            event = json.loads(text)
        except (ValueError, RecursionError):
            log.warning("Session %s: upstream sent a frame that is not JSON", self.session_id)
            return text
        if not isinstance(event, dict):
            return text
        self.tracker.observe_upstream(event, self.clock())
        assert self._nursery is not None
        view = self.agent.from_upstream(event, self._nursery, upstream.send)
        if view is None:
            return None
        return text if view is event else json.dumps(view)

    async def _upstream_ended(self, exc: UpstreamClosed) -> None:
        if exc.clean:
            self.end(DisconnectReason.UPSTREAM_CLOSED)
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
        self.end(DisconnectReason.UPSTREAM_ERROR)

    # -- limits and checkpoints --------------------------------------------------------------------

    async def _watchdog_task(self) -> None:
        """End the call when the browser is silent too long or the call runs too long.

        A frozen browser (no FIN, no frames) is only noticed this way: hypercorn's pings never
        time out.  The hot path only stamps ``last_client_frame_at``; this task does the rest.
        """
        max_end = self.started_at + self.limits.max_duration
        while True:
            idle_end = self.last_client_frame_at + self.limits.idle_timeout
            await trio.sleep_until(min(idle_end, max_end))
            now = self.clock()
            if now >= max_end:
                self.end(DisconnectReason.MAX_DURATION)
                return
            if now >= self.last_client_frame_at + self.limits.idle_timeout:
                self.end(DisconnectReason.IDLE_TIMEOUT)
                return

    async def _checkpoint_task(self) -> None:
        """Checkpoint the partial record so a crash loses at most one interval of the call."""
        written = -1
        try:
            while True:
                await trio.sleep(self.limits.checkpoint_interval)
                revision = self.tracker.revision
                if revision == written:
                    continue
                document = self.document(DisconnectReason.SERVER_CRASH)
                if document is not None:
                    await self.recorder.checkpoint(self.session_id, document)
                    log.debug(
                        "Checkpointed session %s (%d messages)",
                        self.session_id,
                        len(document["messages"]),
                    )
                    written = revision
        finally:
            self._checkpoints_stopped.set()
