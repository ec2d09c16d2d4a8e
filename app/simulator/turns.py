"""Turn-taking in one session: input audio, speech, commits, responses and barge-in.

The user's turn: appended audio feeds the VAD; speech stopping (or a manual commit) turns the
buffered audio into a user item, heard as the scenario's next line.  The model's turn: a response
streams in its own task of the session's nursery, so input keeps being read and speech starting
can cancel it (barge-in), exactly one response at a time, as on the real services.

User transcripts are held back until the reply to them has produced its first delta, because
the real services often deliver them that late and the relay must order messages by item order,
not by arrival.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from app.rules.dialect import Dialect
from app.simulator import agent, audio, config, script
from app.simulator.client_events import InvalidEvent
from app.simulator.conversation import Conversation, Item
from app.simulator.events import EventFactory
from app.simulator.faults import Outbox
from app.simulator.responses import Responder, ResponseRun
from app.simulator.vad import EnergyVad, SpeechStarted


@attrs.define(eq=False)
class Turns:
    """Who speaks when, for one session.  Methods raise :class:`InvalidEvent` on bad requests."""

    dialect: Dialect
    events: EventFactory
    outbox: Outbox
    conversation: Conversation
    #: The session's nursery: responses stream in it.
    nursery: trio.Nursery
    speed: float
    vad: EnergyVad = attrs.Factory(EnergyVad)
    responder: Responder = attrs.field(init=False)
    active: ResponseRun | None = None
    #: Turn detection settings; ``None`` when the client commits audio itself.
    turn_detection: dict[str, Any] | None = None
    transcribe: bool = False
    text_only: bool = False
    #: The session's input audio format (``pcm16``, or ``g711_ulaw`` for a phone call).
    input_format: str = config.PCM16
    #: The item id announced by ``speech_started``, used again when the speech is committed.
    speech_item_id: str | None = None
    buffered_bytes: int = 0
    utterances: int = 0
    pending_transcripts: list[Item] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        self.responder = Responder(
            self.events, self.outbox, self.conversation, self.speed, self.deliver_transcripts
        )

    def configure(self, session: dict[str, Any]) -> None:
        """Follow the session's (possibly updated) settings."""
        self.turn_detection = config.turn_detection(self.dialect, session)
        self.transcribe = config.transcription_enabled(self.dialect, session)
        self.text_only = config.text_only(self.dialect, session)
        self.input_format, self.responder.output_format = config.audio_formats(
            self.dialect, session
        )
        silence = (self.turn_detection or {}).get("silence_duration_ms")
        if isinstance(silence, int) and not isinstance(silence, bool) and silence > 0:
            self.vad.silence_ms = silence
        if self.turn_detection is None:
            self.vad.reset()

    # -- the user's turn -----------------------------------------------------------------------

    async def append(self, b64: str) -> None:
        """``input_audio_buffer.append``: buffer the audio and detect speech in it."""
        try:
            raw = audio.decode(b64)
        except audio.InvalidAudio:
            raise InvalidEvent("invalid_value", "'audio' must be base64 audio.", "audio") from None
        self.buffered_bytes += len(raw)
        pcm = audio.to_pcm16(raw, self.input_format)
        for speech in self.vad.feed(pcm, detect=self.turn_detection is not None):
            if isinstance(speech, SpeechStarted):
                await self._speech_started(speech.audio_start_ms)
            else:
                await self._speech_stopped(speech.audio_end_ms)

    async def commit(self) -> None:
        """``input_audio_buffer.commit``: the buffered audio becomes a user item."""
        if not self.buffered_bytes:
            raise InvalidEvent(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: the buffer is empty.",
            )
        item_id = self.speech_item_id or self.events.new_id("item")
        self.vad.reset()
        # As on the real services, a manual commit never creates a response by itself.
        await self._commit(item_id, respond=False)

    async def clear(self) -> None:
        """``input_audio_buffer.clear``: forget the buffered audio."""
        self.buffered_bytes = 0
        self.speech_item_id = None
        self.vad.reset()
        await self._send("input_audio_buffer.cleared")

    async def _speech_started(self, audio_start_ms: int) -> None:
        self.speech_item_id = item_id = self.events.new_id("item")
        await self._send(
            "input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=item_id
        )
        run = self._streaming()
        if run is not None and self._setting("interrupt_response"):
            await self._cancel(run, "turn_detected")

    async def _speech_stopped(self, audio_end_ms: int) -> None:
        item_id = self.speech_item_id or self.events.new_id("item")
        await self._send(
            "input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id
        )
        await self._commit(item_id, respond=self._setting("create_response"))

    async def _commit(self, item_id: str, *, respond: bool) -> None:
        self.speech_item_id = None
        self.buffered_bytes = 0
        transcript = script.user_line(self.utterances)
        self.utterances += 1
        item = Item(
            item_id,
            "message",
            role="user",
            text=transcript,
            content=[{"type": "input_audio", "transcript": None}],
        )
        previous = self.conversation.append(item)
        await self._send("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        for added in self.events.items_added(previous, item.wire()):
            await self.outbox.send(added)
        if self.transcribe:
            self.pending_transcripts.append(item)
        if respond and self._streaming() is None:
            await self._start_response(self.text_only)
        else:
            await self.deliver_transcripts()

    async def deliver_transcripts(self) -> None:
        """Send held-back user transcripts.

        An entry leaves the queue only once both its events are sent, so a response cancelled
        mid-delivery loses none (at worst a ``delta`` is repeated).
        """
        while self.pending_transcripts:
            item = self.pending_transcripts[0]
            if self.conversation.find(item.id) is not None:
                item.content[0]["transcript"] = item.text
                where = {"item_id": item.id, "content_index": 0}
                await self._send(
                    "conversation.item.input_audio_transcription.delta", **where, delta=item.text
                )
                await self._send(
                    "conversation.item.input_audio_transcription.completed",
                    **where,
                    transcript=item.text,
                )
            self.pending_transcripts.pop(0)

    # -- the model's turn ----------------------------------------------------------------------

    async def create_response(self, text_only: bool) -> None:
        """``response.create``: one response at a time."""
        run = self._streaming()
        if run is not None:
            raise InvalidEvent(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {run.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        await self._start_response(text_only)

    async def cancel_response(self, response_id: object) -> None:
        """``response.cancel``: cancel the response in progress (``response_id`` if given)."""
        run = self._streaming()
        if run is None or (response_id is not None and response_id != run.id):
            raise InvalidEvent(
                "response_cancel_not_active", "Cancellation failed: no active response found."
            )
        await self._cancel(run, "client_cancelled")

    def _streaming(self) -> ResponseRun | None:
        """The response in progress, if any (one that has sent ``response.done`` is over)."""
        run = self.active
        return run if run is not None and run.active else None

    async def _start_response(self, text_only: bool) -> None:
        plan = agent.plan_reply(self.conversation)
        run = ResponseRun(self.events.new_id("resp"), plan, text_only)
        self.active = run
        # Sent here rather than by the response's task, so that it precedes anything the next
        # client event causes (a barge-in may cancel the response before its task has run).
        await self._send(
            "response.created", response=self.responder.response_object(run, "in_progress")
        )
        self.nursery.start_soon(self._run_response, run)

    async def _run_response(self, run: ResponseRun) -> None:
        try:
            await self.responder.stream(run)
        finally:
            if self.active is run:
                self.active = None
            run.finished.set()
        await self.deliver_transcripts()  # for a response cancelled before its first delta

    async def _cancel(self, run: ResponseRun, reason: str) -> None:
        """Cancel ``run`` and wait until it has sent its ``response.done`` (status cancelled)."""
        run.cancel_reason = reason
        run.scope.cancel()
        await run.finished.wait()

    def _setting(self, name: str) -> bool:
        """A boolean turn detection setting; the API's default for both used here is true."""
        return bool((self.turn_detection or {}).get(name, True))

    async def _send(self, event_type: str, /, **fields: Any) -> None:
        await self.outbox.send(self.events.event(event_type, **fields))
