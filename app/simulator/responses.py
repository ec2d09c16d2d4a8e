"""Streaming one response: the event sequence of a spoken, text or function-call reply.

A response is produced faster than real time (``speed`` times), paced with ``trio.sleep`` so that
a test under ``MockClock`` runs it in no wall-clock time while the relay still sees a stream that
takes time and can be interrupted.  Each response runs in its own task (the session's nursery)
under its own cancel scope: barge-in and ``response.cancel`` cancel that scope, and the response
then ends the way the real services end one: unfinished items ``incomplete``, ``response.done``
with status ``cancelled``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs
import trio

from app.rules.dialect import Dialect
from app.simulator import audio
from app.simulator.agent import Plan, SpokenReply, ToolCall
from app.simulator.conversation import Conversation, Item
from app.simulator.events import EventFactory
from app.simulator.faults import Outbox

#: Pace of text-only replies and of function-call arguments, per delta, in real time.
TEXT_DELTA_SECONDS: Final = 0.05
_WORD: Final = re.compile(r"\S+\s*")
CONVERSATION_ID: Final = "conv_sim"


@attrs.define(eq=False)
class ResponseRun:
    """One response: its id, what it was asked to say, and what it has produced so far."""

    id: str
    plan: Plan
    text_only: bool
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    #: Set when the response's task has sent its last event.
    finished: trio.Event = attrs.Factory(trio.Event)
    output: list[Item] = attrs.Factory(list)
    #: True from just before ``response.done`` goes out: the session may accept a new
    #: ``response.create`` from then on, and there is nothing left to cancel.
    closed: bool = False
    #: ``turn_detected`` (barge-in) or ``client_cancelled`` (``response.cancel``).
    cancel_reason: str | None = None
    produced: bool = False
    _previous: dict[str, str | None] = attrs.Factory(dict)

    @property
    def active(self) -> bool:
        return not self.closed


@attrs.define(eq=False)
class Responder:
    """Streams responses for one session."""

    events: EventFactory
    outbox: Outbox
    conversation: Conversation
    speed: float
    #: Awaited once per response, right after its first delta.  The session delivers pending
    #: user transcripts there: real services often deliver them late, after the reply started.
    on_first_output: Callable[[], Awaitable[None]]
    #: The session's output audio format (``pcm16``, or ``g711_ulaw`` for a phone call).
    output_format: str = "pcm16"

    def response_object(self, run: ResponseRun, status: str, details: Any = None) -> dict[str, Any]:
        """The ``response`` of ``response.created`` / ``response.done``."""
        if self.events.dialect is Dialect.GA:
            key, modalities = "output_modalities", ["text"] if run.text_only else ["audio"]
        else:  # beta lists text alongside audio
            key, modalities = "modalities", ["text"] if run.text_only else ["text", "audio"]
        return {
            "object": "realtime.response",
            "id": run.id,
            "status": status,
            "status_details": details,
            "output": [item.wire() for item in run.output],
            "conversation_id": CONVERSATION_ID,
            key: modalities,
            "usage": None if status == "in_progress" else self._usage(run),
            "metadata": None,
        }

    async def stream(self, run: ResponseRun) -> None:
        """Produce ``run`` after its ``response.created``; ends it cancelled if its scope is."""
        with run.scope:
            if isinstance(run.plan, ToolCall):
                await self._function_call(run, run.plan)
            else:
                await self._message(run, run.plan)
            await self._finish(run, "completed")
        if run.scope.cancelled_caught:
            for item in run.output:
                if item.status == "in_progress":
                    item.status = "incomplete"
                    await self._output_done(run, item)
            await self._finish(run, "cancelled", {"type": "cancelled", "reason": run.cancel_reason})

    async def _message(self, run: ResponseRun, plan: SpokenReply) -> None:
        item = Item(self.events.new_id("item"), "message", role="assistant", status="in_progress")
        index = await self._add_output(run, item)
        where = {"response_id": run.id, "item_id": item.id, "output_index": index}
        if run.text_only:
            part: dict[str, Any] = {"type": "text", "text": ""}
            item.content.append({"type": self.events.text_content_type, "text": ""})
        else:
            part = {"type": "audio", "transcript": ""}
            item.content.append({"type": self.events.audio_content_type, "transcript": ""})
        await self._send("response.content_part.added", **where, content_index=0, part=part)
        where["content_index"] = 0
        if run.text_only:
            await self._stream_text(run, item, plan.text, where)
            part["text"] = plan.text
        else:
            await self._stream_audio(run, item, plan.text, where)
            part["transcript"] = plan.text
        await self._send("response.content_part.done", **where, part=part)
        item.status = "completed"
        await self._output_done(run, item)

    async def _stream_text(
        self, run: ResponseRun, item: Item, text: str, where: dict[str, Any]
    ) -> None:
        names = self.events.names
        for piece in _pieces(text):
            self._say(item, piece, "text")
            await self._send(names.text_delta, **where, delta=piece)
            await self._first_output(run)
            await trio.sleep(TEXT_DELTA_SECONDS / self.speed)
        await self._send(names.text_done, **where, text=text)

    async def _stream_audio(
        self, run: ResponseRun, item: Item, text: str, where: dict[str, Any]
    ) -> None:
        names = self.events.names
        pieces = _pieces(text)
        chunks = audio.reply_chunks(audio.reply_duration_ms(text), self.output_format)
        said = 0
        for index, (ms, delta) in enumerate(chunks):
            # The transcript runs slightly ahead of the audio, as on the real services.
            due = math.ceil((index + 1) * len(pieces) / len(chunks))
            for piece in pieces[said:due]:
                self._say(item, piece, "transcript")
                await self._send(names.transcript_delta, **where, delta=piece)
            said = max(said, due)
            await self._send(names.audio_delta, **where, delta=delta)
            item.audio_ms += ms
            await self._first_output(run)
            await trio.sleep(ms / 1000 / self.speed)
        await self._send(names.transcript_done, **where, transcript=text)
        await self._send(names.audio_done, **where)

    async def _function_call(self, run: ResponseRun, plan: ToolCall) -> None:
        item = Item(
            self.events.new_id("item"),
            "function_call",
            status="in_progress",
            call_id=self.events.new_id("call"),
            name=plan.name,
            arguments="",
        )
        index = await self._add_output(run, item)
        where = {"response_id": run.id, "item_id": item.id, "output_index": index}
        half = len(plan.arguments) // 2
        chunks = [plan.arguments[:half], plan.arguments[half:]] if half else [plan.arguments]
        for chunk in chunks:
            item.arguments = (item.arguments or "") + chunk
            await self._send(
                "response.function_call_arguments.delta", **where, call_id=item.call_id, delta=chunk
            )
            await self._first_output(run)
            await trio.sleep(TEXT_DELTA_SECONDS / self.speed)
        await self._send(
            "response.function_call_arguments.done",
            **where,
            call_id=item.call_id,
            name=item.name,
            arguments=plan.arguments,
        )
        item.status = "completed"
        await self._output_done(run, item)

    async def _add_output(self, run: ResponseRun, item: Item) -> int:
        index = len(run.output)
        run.output.append(item)
        previous = run._previous[item.id] = self.conversation.append(item)
        wire = item.wire()
        await self._send(
            "response.output_item.added", response_id=run.id, output_index=index, item=wire
        )
        await self.outbox.send(
            self.events.event(self.events.names.item_added, previous_item_id=previous, item=wire)
        )
        return index

    async def _output_done(self, run: ResponseRun, item: Item) -> None:
        wire = item.wire()
        index = run.output.index(item)
        await self._send(
            "response.output_item.done", response_id=run.id, output_index=index, item=wire
        )
        done = self.events.item_done(run._previous.get(item.id), wire)
        if done is not None:
            await self.outbox.send(done)

    async def _finish(self, run: ResponseRun, status: str, details: Any = None) -> None:
        run.closed = True
        await self._send("response.done", response=self.response_object(run, status, details))

    async def _first_output(self, run: ResponseRun) -> None:
        if not run.produced:
            run.produced = True
            await self.on_first_output()

    async def _send(self, event_type: str, /, **fields: Any) -> None:
        await self.outbox.send(self.events.event(event_type, **fields))

    @staticmethod
    def _say(item: Item, piece: str, key: str) -> None:
        item.text += piece
        item.content[0][key] = item.text

    def _usage(self, run: ResponseRun) -> dict[str, Any]:
        # Deterministic stand-ins for token counts: about a token per word, per 50 ms of audio.
        text_out = sum(len((item.text or item.arguments or "").split()) for item in run.output)
        audio_out = sum(item.audio_ms for item in run.output) // 50
        text_in = sum(len(item.text.split()) for item in self.conversation.items)
        return {
            "total_tokens": text_in + text_out + audio_out,
            "input_tokens": text_in,
            "output_tokens": text_out + audio_out,
            "input_token_details": {"cached_tokens": 0, "text_tokens": text_in, "audio_tokens": 0},
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }


def _pieces(text: str) -> list[str]:
    """Transcript deltas: two words each, spaces kept, so they join back into ``text``."""
    words = _WORD.findall(text)
    pieces = ["".join(words[i : i + 2]) for i in range(0, len(words), 2)]
    if text and not pieces:
        pieces = [text]
    elif pieces and not text.startswith(pieces[0]):
        pieces[0] = text[: len(text) - len("".join(pieces))] + pieces[0]
    return pieces
