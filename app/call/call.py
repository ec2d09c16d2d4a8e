"""One call: a browser, an upstream, and the nursery that binds their lifetimes.

Shape (one nursery per call)::

    Call.run
    └─ connection nursery   owns the upstream connection's background task
       └─ call nursery      every task under `Call._supervise`
          ├─ client task            browser -> upstream          (`ClientLoop`)
          ├─ upstream task          connect; upstream -> browser (`UpstreamLoop`)
          ├─ tool workers           work done for the model      (`ToolRunner`)
          ├─ checkpoint task        partial record to the spool: first change at once, then at
          │                         most once per CHECKPOINT_INTERVAL
          ├─ watchdog task          idle and maximum-duration limits
          └─ logging-shutdown task  sleeps; its ``finally`` closes both sides and saves

`Call` owns the lifetime: the nursery, ending, the shutdown and the save.  The parts each have
one job -- `FramePolicy` (sans-IO) judges the browser's frames, the two loops relay, the
`ToolRunner` works for the model, `AgentRuntime` and the tracker (sans-IO) follow the
conversation -- and reach the call only through the callbacks it gives them (`end`, `observe`).

Whatever ends the call — a task noticing a disconnect, a limit, a shutdown of the server, a bug —
sets the reason (`Call.end`, first reason wins) and cancels the call nursery.  The logging-shutdown
task's ``finally`` then runs under ``trio.CancelScope(shield=True)``: it closes the browser and the
upstream (each bounded) and saves the conversation through the recorder, which bounds the store
write by ``SAVE_TIMEOUT`` and falls back to the local spool.  The call nursery cannot exit before
that finishes, so no call ends unlogged.  The connection nursery outlives the call nursery so
the upstream's close handshake can complete; it is cancelled last.

Error handling: disconnects are expected and end the call with a reason; the model going away
(`UpstreamClosed`, from any task) ends it with the upstream's reason.  Anything unexpected in a
task is logged once here with the session id, ends the call as ``server_crash`` (the document is
still written) and is not re-raised into hypercorn, which would only log it a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import trio

from app.agents import AgentCatalog
from app.call.agent_runtime import AgentRuntime
from app.call.browser import ClientSocket, Receive
from app.call.client_loop import ClientLoop, UpstreamGate
from app.call.session_context import current_session
from app.call.settings import CallLimits, CallRecorder
from app.call.timers import checkpoint_every, watch_limits
from app.call.tool_runner import TOOL_WORKERS, ToolRunner
from app.call.upstream_loop import UpstreamLoop
from app.live.hub import CallFeed, LiveHub
from app.model.upstream import UpstreamClosed, UpstreamConnector
from app.record.document import build_document, document_id
from app.record.tracker import ConversationTracker
from app.recording.field import recording_name
from app.recording.service import RecordingService
from app.recording.writer import CallRecording, Encoding
from app.rules.audio_budget import AudioBudget, TextBudget
from app.rules.channels import Channel
from app.rules.close_codes import CLOSE_FOR_REASON
from app.rules.dialect import names
from app.rules.frame_policy import FramePolicy
from app.rules.function_calls import Action
from app.rules.reasons import DisconnectReason
from app.rules.session_config import AudioFormat, SessionSettings
from app.settings import SPOOL_MARGIN
from app.tools import Caller

__all__ = ["READER_VERDICT_TIMEOUT", "Call", "CallLimits", "CallRecorder"]

log = logging.getLogger(__name__)

#: How long a task whose send found the upstream broken waits for the reader's verdict.
READER_VERDICT_TIMEOUT = 1.0


@attrs.define(eq=False)
class Call:
    """A live call.  Create it after the browser's handshake is accepted, then ``await run()``."""

    session_id: str
    customer_id: str | None
    receive: Receive
    browser: ClientSocket
    connector: UpstreamConnector
    recorder: CallRecorder
    limits: CallLimits
    catalog: AgentCatalog
    session_settings: SessionSettings
    clock: Callable[[], float] = trio.current_time
    wall_clock: Callable[[], datetime] = attrs.field(default=lambda: datetime.now(UTC))
    live: LiveHub = attrs.field(factory=LiveHub)  # the live board (nobody watches by default)
    #: How the caller came in (a browser, or a phone through a provider): the document's field.
    channel: Channel = Channel.WEB
    #: Call recording (``RECORD_CALLS``): None records nothing and costs the hot path nothing.
    recordings: RecordingService | None = None

    tracker: ConversationTracker = attrs.field(init=False)
    feed: CallFeed = attrs.field(init=False)
    agent: AgentRuntime = attrs.field(init=False)
    client: ClientLoop = attrs.field(init=False)
    upstream: UpstreamLoop = attrs.field(init=False)
    tools: ToolRunner = attrs.field(init=False)
    recording: CallRecording | None = attrs.field(init=False, default=None)
    reason: DisconnectReason | None = attrs.field(init=False, default=None)
    #: "stored", "spooled", "lost", or "empty" (nothing was said: no document).
    outcome: str | None = attrs.field(init=False, default=None)
    started_at: float = attrs.field(init=False, default=0.0)
    start_time: datetime = attrs.field(init=False)
    ended: trio.Event = attrs.field(init=False, factory=trio.Event)

    _close: tuple[int, str] | None = attrs.field(init=False, default=None)
    _scope: trio.CancelScope = attrs.field(init=False, factory=trio.CancelScope)
    _gate: UpstreamGate = attrs.field(init=False, factory=UpstreamGate)
    _checkpoints_stopped: trio.Event = attrs.field(init=False, factory=trio.Event)
    #: Set when the tracker's revision moves (the checkpoint task waits on it); replaced once seen.
    _revised: trio.Event = attrs.field(init=False, factory=trio.Event)
    _seen_revision: int = attrs.field(init=False, default=0)
    _audio_delta: str = attrs.field(init=False, default="")

    def __attrs_post_init__(self) -> None:
        dialect = self.connector.dialect
        self.tracker = ConversationTracker(
            dialect=dialect,
            initial_agent=self.catalog.initial_agent,
            audio_bytes_per_second=self.session_settings.audio_format.bytes_per_second,
        )
        self.agent = AgentRuntime(
            catalog=self.catalog,
            dialect=dialect,
            session_settings=self.session_settings,
            tool_timeout=self.limits.tool_timeout,
            tracker=self.tracker,
            caller=Caller(customer_id=self.customer_id, session_id=self.session_id),
        )
        self.start_time = self.wall_clock()
        if self.recordings is not None:
            name = recording_name(document_id(self.session_id, self.start_time))
            self.recording = self.recordings.for_call(
                name, clock=self.clock, encoding=self._recording_encoding()
            )
            # The recording's zero is the document's session_start: their lengths agree.
            self.recording.started_at = self.clock()
        tap = self.recording.tap if self.recording is not None else None
        self._audio_delta = names(dialect).audio_delta
        self.feed = self.live.feed(
            session_id=self.session_id,
            customer_id=self.customer_id,
            agent=lambda: self.agent.agent.name,
            record=self.tracker.record,
            clock=self.clock,
        )
        self.client = ClientLoop(
            receive=self.receive,
            browser=self.browser,
            policy=FramePolicy(
                self.limits.max_frame_bytes,
                self.limits.max_frame_rate,
                # The session's audio format (a phone line's u-law is a sixth of PCM16's bytes).
                audio=AudioBudget(self.session_settings.audio_format.bytes_per_second),
                text=TextBudget(self.limits.max_text_rate),
            ),
            gate=self._gate,
            observe=self._observe_client,
            end=self.end,
            clock=self.clock,
            record=tap.caller_frame if tap is not None else None,
            dialect=dialect,
            session_id=self.session_id,
        )
        self.upstream = UpstreamLoop(
            session_id=self.session_id,
            connector=self.connector,
            browser=self.browser,
            gate=self._gate,
            tracker=self.tracker,
            observe=self._observe_upstream,
            initial_update=self.agent.initial_update,
            end=self.end,
            clock=self.clock,
            record=tap.agent_delta if tap is not None else None,
        )
        self.tools = ToolRunner(self._perform)

    @property
    def frames_from_browser(self) -> int:
        return self.client.frames

    @property
    def frames_from_upstream(self) -> int:
        return self.upstream.frames

    @property
    def client_events_refused(self) -> int:
        """Client events the allow-list refused, and frames over the frame limits."""
        return self.client.events_refused + self.client.policy.refused

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
        self.started_at = self.client.last_frame_at = self.clock()
        current_session.set(self.session_id)  # every task of the call inherits it
        log.info(
            "Starting session %s for customer %s via %s",
            self.session_id,
            self.customer_id or "anonymous",
            self.connector.description,
        )
        supervise = self._supervise
        try:
            async with trio.open_nursery() as connection_nursery:
                with self._scope:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(supervise, self._log_on_shutdown)
                        nursery.start_soon(supervise, self.client.run)
                        nursery.start_soon(supervise, self.upstream.run, connection_nursery)
                        for _ in range(TOOL_WORKERS):
                            nursery.start_soon(supervise, self.tools.worker)
                        nursery.start_soon(supervise, self._checkpoints)
                        nursery.start_soon(supervise, self._limits)
                        if self.recording is not None:
                            nursery.start_soon(self._record, self.recording)
                connection_nursery.cancel_scope.cancel()
        finally:
            self.ended.set()

    async def _supervise(self, task: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run one of the call's tasks; a bug ends the call as ``server_crash``, logged once."""
        try:
            await task(*args)
        except UpstreamClosed as exc:
            # Whichever task notices the model going away (the reader, or a send made for the
            # browser or for a tool) ends the call with the upstream's reason.
            if not exc.clean and task != self.upstream.run:
                # A send that found the connection broken only knows "no close frame" (1006),
                # yet the model's close frame may be queued behind messages the reader has not
                # handed over yet: the reader's verdict (it ends the call) is the true one.
                await trio.sleep(READER_VERDICT_TIMEOUT)
            await self.upstream.gone(exc)
        except Exception:
            log.exception("Session %s: unexpected error in %s", self.session_id, task.__name__)
            self.end(DisconnectReason.SERVER_CRASH)

    async def _record(self, recording: CallRecording) -> None:
        """The recording's writer: a bug in it is logged, and the call goes on unrecorded
        from there (the recording never ends a call)."""
        try:
            await recording.run()
        except Exception:
            log.exception("Session %s: the recording's writer failed", self.session_id)

    async def _limits(self) -> None:
        limits = self.limits
        await watch_limits(
            started_at=self.started_at,
            idle_timeout=limits.idle_timeout,
            max_duration=limits.max_duration,
            last_frame_at=lambda: self.client.last_frame_at,
            clock=self.clock,
            end=self.end,
        )

    async def _checkpoints(self) -> None:
        await checkpoint_every(
            self.limits.checkpoint_interval,
            session_id=self.session_id,
            revision=lambda: self.tracker.revision,
            changed=self._wait_revised,
            document=self._checkpoint_document,
            write=self.recorder.checkpoint,
            stopped=self._checkpoints_stopped,
        )

    async def _wait_revised(self) -> None:
        await self._revised.wait()
        self._revised = trio.Event()

    def _note_revision(self) -> None:
        """Wake the checkpoint task when the record changed (an event set once per change)."""
        revision = self.tracker.revision
        if revision != self._seen_revision:
            self._seen_revision = revision
            self._revised.set()

    # -- what the loops hand to the call -------------------------------------------------------

    def _observe_client(self, event: dict[str, Any]) -> dict[str, Any] | None:
        now = self.clock()
        self.tracker.observe_client(event, now)
        self._note_revision()
        self.feed.observe_client(event)
        if self.recording is not None:
            self._record_client_event(self.recording, event, now)
        return event

    async def _observe_upstream(self, event: dict[str, Any]) -> dict[str, Any] | None:
        now = self.clock()
        self.tracker.observe_upstream(event, now)
        self._note_revision()
        self.feed.observe_upstream(event)
        if self.recording is not None and event.get("type") == self._audio_delta:
            # A delta in an unusual layout (the hot path reads the usual one).
            item_id, delta = event.get("item_id"), event.get("delta")
            if isinstance(item_id, str) and isinstance(delta, str):
                self.recording.tap.agent_audio(item_id, delta, now)
        view, actions = self.agent.from_upstream(event)
        for action in actions:
            await self.tools.submit(action)
        return view

    @staticmethod
    def _record_client_event(recording: CallRecording, event: dict[str, Any], now: float) -> None:
        """What the recording needs of a parsed client event: a barge-in's cut, or audio."""
        kind = event.get("type")
        if kind == "conversation.item.truncate":
            item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
            if isinstance(item_id, str) and isinstance(end_ms, int):
                recording.tap.heard_until(item_id, end_ms, now)
        elif kind == "input_audio_buffer.append" and isinstance(event.get("audio"), str):
            recording.tap.caller_audio(event["audio"], now)

    def _recording_encoding(self) -> Encoding:
        """The recording decodes the audio the session carries: PCM16 24 kHz (a browser, ACS)
        or G.711 u-law 8 kHz (Twilio)."""
        if self.session_settings.audio_format is AudioFormat.G711_ULAW:
            return Encoding.g711_ulaw()
        return Encoding.pcm16()

    def heard_until(self, item_id: str, audio_end_ms: int) -> None:
        """The caller heard the agent's item ``item_id`` only up to ``audio_end_ms``: for phone
        channels, whose provider reports where playback stood when the caller barged in (the
        browser says it with ``conversation.item.truncate``).  Cuts the recording's agent
        channel there; no-op when the call is not recorded."""
        if self.recording is not None:
            self.recording.tap.heard_until(item_id, audio_end_ms, self.clock())

    async def _perform(self, action: Action) -> None:
        await self.agent.perform(action, self._gate.send)

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
            nursery.start_soon(self.upstream.close)
            nursery.start_soon(self._save)
        self.feed.end(self.reason.value if self.reason else "", self._saved_document_id())
        log.info(
            "Session %s closed after %.1f s: %d frames from the browser, %d from the model, "
            "conversation %s",
            self.session_id,
            self.clock() - self.started_at,
            self.frames_from_browser,
            self.frames_from_upstream,
            self.outcome or "not saved in time",
        )
        client = self.client
        if client.events_refused or client.policy.refused or client.fields_cut:
            log.warning(
                "Session %s refused %d client events and %d frames over the frame limits, "
                "and cut %d session fields",
                self.session_id,
                client.events_refused,
                client.policy.refused,
                client.fields_cut,
            )

    async def _close_browser(self) -> None:
        if self._close is not None and not self.browser.closed:
            await self.browser.close(*self._close)
            await self.client.await_close()
        else:
            self.browser.mark_gone()

    async def _save(self) -> None:
        assert self.reason is not None
        recording = None
        end, end_time = self.clock(), self.wall_clock()  # the document's end and the recording's
        if self.recording is not None:
            # Before the save: the document says what the recording holds, and the recording
            # is committed (or sealed for the flusher) before the document lands.  A call with
            # nothing said writes no document, and keeps no recording either.
            if self.tracker.record().messages:
                recording = await self.recording.finish(end)
            else:
                await self.recording.discard()
        document = self.document(self.reason, recording=recording, end=end_time)
        if document is None:
            log.info(
                "No messages to log for session %s - skipping conversation log", self.session_id
            )
            self.outcome = "empty"  # counted by the registry when the call leaves it
        else:
            with trio.move_on_after(self.limits.save_timeout + SPOOL_MARGIN):
                self.outcome = await self.recorder.save(document)
        with trio.move_on_after(SPOOL_MARGIN):
            # A checkpoint write already in a worker thread finishes even when cancelled; wait
            # for it, or it could land after the discard and be "recovered" at the next start.
            await self._checkpoints_stopped.wait()
            await self.recorder.discard_checkpoint(self.session_id)

    def _saved_document_id(self) -> str | None:
        """The stored conversation's id, for the board's link; None if nothing was written."""
        if self.outcome not in ("stored", "spooled"):
            return None
        return document_id(self.session_id, self.start_time)

    def _checkpoint_document(self) -> dict[str, Any] | None:
        """The partial document a crash would leave, with what the recording has staged."""
        recording = self.recording
        return self.document(
            DisconnectReason.SERVER_CRASH,
            recording=recording.checkpoint_field() if recording is not None else None,
        )

    def document(
        self,
        reason: DisconnectReason,
        *,
        recording: dict[str, Any] | None = None,
        end: datetime | None = None,
    ) -> dict[str, Any] | None:
        """The conversation document as of now, or None if nothing was said."""
        return build_document(
            self.tracker.record(),
            session_id=self.session_id,
            customer_id=self.customer_id,
            start=self.start_time,
            end=end or self.wall_clock(),
            reason=reason,
            redact_pii=self.limits.redact_pii,
            channel=self.channel,
            recording=recording,
        )
