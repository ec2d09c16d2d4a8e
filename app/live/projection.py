"""What a supervisor sees of one live call, worked out from the call's events without any I/O.

The call feeds the same parsed control events it gives the tracker (never audio deltas); the
projection answers with board updates: transcript lines as they complete, interruptions, and
the call's state (listening / the agent speaking / a tool running).  Like `app.record.tracker` it
imports no trio or quart, so it is tested by replaying event sequences.

Two levels of work, so that an unwatched call costs next to nothing:

* `CallProjection.follow_state` runs for every control event: one dictionary lookup on the
  event type.  It keeps the row's state right, so a supervisor who opens the board mid-call
  sees the truth at once.
* `CallProjection.observe_client` / `observe_upstream` build lines, and run only while someone
  watches (the feed checks first).  Texts go through ``scrub`` (the PII redactor when the relay
  wires one in), so the board never shows what the stored document would not.

State rules (the events that move it):

* ``response.created``: the agent is speaking (generating a response), and its transcript is
  pending until a transcript / text ``.done`` or ``response.done``;
* ``response.function_call_arguments.done``: a tool is running, until the next
  ``response.created`` (the relay asks for one once every tool answered);
* ``response.done`` and ``input_audio_buffer.speech_started``: back to listening, unless a tool
  is still running.

Interruptions: a ``conversation.item.truncate`` (the client cut the reply's playback) or the
caller starting to speak while a reply is being generated marks the reply's line interrupted.
The tracker's own rule (playback time from audio deltas) decides the stored flag; the board
cannot see audio deltas, so a barge-in after generation finished shows only when the client
truncates (the voice client always does).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import attrs

from app.record.tracker import ConversationRecord
from app.rules.dialect import BETA_NAMES, GA_NAMES
from app.rules.handoff import requested_agent

State = Literal["listening", "speaking", "tool"]
LineKind = Literal["user", "assistant", "tool", "handoff", "note"]
Scrub = Callable[[str], str]


_TRANSCRIPT_DONE = {
    GA_NAMES.transcript_done: "transcript",
    GA_NAMES.text_done: "text",
    BETA_NAMES.transcript_done: "transcript",
    BETA_NAMES.text_done: "text",
}
_ASSISTANT_DELTAS = frozenset(
    {GA_NAMES.transcript_delta, GA_NAMES.text_delta, BETA_NAMES.transcript_delta}
    | {BETA_NAMES.text_delta}
)
#: The events that can move the state (the only ones `follow_state` looks at).
STATE_EVENTS = frozenset(
    {
        "response.created",
        "response.done",
        "response.function_call_arguments.done",
        "input_audio_buffer.speech_started",
        *_TRANSCRIPT_DONE,
    }
)


def identity(text: str) -> str:
    return text


@attrs.frozen
class Line:
    """One transcript line.  ``key`` is the conversation item's id where there is one, so a
    later `Interrupted` can find it."""

    kind: LineKind
    text: str
    key: str
    interrupted: bool = False

    event = "line"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "key": self.key,
            "interrupted": self.interrupted,
        }


@attrs.frozen
class Interrupted:
    """The line with ``key`` was cut short by the caller."""

    key: str

    event = "interrupted"

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key}


@attrs.frozen
class Row:
    """A call as the board lists it.  ``elapsed`` is the duration when the row was made (the
    page counts on from there); ``reason`` and ``conversation`` are set once the call ended."""

    session_id: str
    customer_id: str
    agent: str
    state: State
    elapsed: float
    reason: str | None = None
    #: the stored conversation's id, when the call ended and its document was written.
    conversation: str | None = None

    event = "row"

    def as_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "customer_id": self.customer_id,
            "agent": self.agent,
            "state": self.state,
            "elapsed": round(self.elapsed, 3),
            "ended": self.reason is not None,
            "reason": self.reason,
            "conversation": self.conversation,
        }


Update = Line | Interrupted | Row


@attrs.define(eq=False)
class CallProjection:
    """Follows one call's control events; see the module docstring for the rules."""

    scrub: Scrub = identity
    state: State = "listening"
    #: a response is being generated and its transcript has not completed yet.
    reply_pending: bool = False
    #: function names by item id, from ``response.output_item.added`` (the official
    #: ``function_call_arguments.done`` carries no name).
    _function_names: dict[str, str] = attrs.field(factory=dict)
    #: the assistant item being generated, if any: the one a barge-in interrupts.
    _replying: str | None = None
    _keys: Iterator[int] = attrs.field(factory=itertools.count)

    # -- always (cheap) ----------------------------------------------------------------------

    def follow_state(self, kind: object) -> bool:
        """Move the state for an event of type ``kind``; whether it changed."""
        if kind not in STATE_EVENTS:
            return False
        before = self.state
        if kind in _TRANSCRIPT_DONE:
            self.reply_pending = False
        elif kind == "response.created":
            self.state = "speaking"
            self.reply_pending = True
        elif kind == "response.function_call_arguments.done":
            self.state = "tool"
        else:  # response.done, speech_started
            self.reply_pending = self.reply_pending and kind != "response.done"
            if self.state != "tool":
                self.state = "listening"
        return self.state != before

    # -- while watched ------------------------------------------------------------------------

    def observe_client(self, event: Mapping[str, Any]) -> list[Update]:
        """Lines for a parsed browser event (typed user messages, truncations)."""
        kind = event.get("type")
        if kind == "conversation.item.create":
            item = _mapping(event, "item")
            if item.get("role") != "user" or item.get("type", "message") != "message":
                return []
            text = _input_text(item)
            if not text:
                return []
            key = _string(item, "id") or f"client-{next(self._keys)}"
            return [Line("user", self.scrub(text), key)]
        if kind == "conversation.item.truncate":
            item_id = _string(event, "item_id")
            return [Interrupted(item_id)] if item_id else []
        return []

    def observe_upstream(self, event: Mapping[str, Any]) -> list[Update]:
        """Lines for a parsed upstream event (call `follow_state` first: it owns the state)."""
        kind = event.get("type")
        if not isinstance(kind, str):
            return []
        key = _TRANSCRIPT_DONE.get(kind)
        if key is not None:
            return self._assistant_line(event, key)
        if kind in _ASSISTANT_DELTAS:
            self._replying = _string(event, "item_id") or self._replying
            return []
        if kind == "conversation.item.input_audio_transcription.completed":
            text = _string(event, "transcript")
            item_id = _string(event, "item_id") or f"user-{next(self._keys)}"
            return [Line("user", self.scrub(text.strip()), item_id)] if text.strip() else []
        if kind == "response.output_item.added":
            return self._output_item(_mapping(event, "item"))
        if kind == "response.function_call_arguments.done":
            return self._function_call(event)
        if kind == "conversation.item.truncated":
            item_id = _string(event, "item_id")
            return [Interrupted(item_id)] if item_id else []
        if kind == "input_audio_buffer.speech_started":
            return self._barge_in()
        if kind == "response.done":
            self._replying = None
        return []

    def _assistant_line(self, event: Mapping[str, Any], key: str) -> list[Update]:
        text = _string(event, key).strip()
        item_id = _string(event, "item_id") or f"assistant-{next(self._keys)}"
        return [Line("assistant", self.scrub(text), item_id)] if text else []

    def _output_item(self, item: Mapping[str, Any]) -> list[Update]:
        item_id = _string(item, "id")
        if not item_id:
            return []
        if item.get("type") == "function_call":
            name = _string(item, "name")
            if name:
                self._function_names[item_id] = name
        elif item.get("role") == "assistant":
            self._replying = item_id
        return []

    def _function_call(self, event: Mapping[str, Any]) -> list[Update]:
        item_id = _string(event, "item_id")
        name = _string(event, "name") or self._function_names.pop(item_id, "")
        key = item_id or f"call-{next(self._keys)}"
        agent = requested_agent(name)
        if agent is not None:
            return [Line("handoff", f"Hand-off to {agent}", key)]
        return [Line("tool", f"Tool call: {name or 'unnamed function'}", key)]

    def _barge_in(self) -> list[Update]:
        replying, self._replying = self._replying, None
        return [Interrupted(replying)] if replying is not None else []


def snapshot_lines(record: ConversationRecord, reply_pending: bool, scrub: Scrub) -> list[Line]:
    """The transcript so far, for a supervisor who starts watching mid-call.

    Built from the tracker's record (the stored document's view).  The record has no item ids,
    so lines get positional keys; a reply whose transcript is still pending is left out (it
    arrives as a line when its transcript completes), and tools and hand-offs, which the record
    keeps only as name lists, come as one note.
    """
    messages = list(record.messages)
    if reply_pending and messages and messages[-1].sender == "assistant":
        messages.pop()
    lines = [
        Line(message.sender, scrub(message.message), f"earlier-{n}", message.interrupted)
        for n, message in enumerate(messages)
    ]
    earlier = [f"tools {', '.join(record.tools_called)}"] if record.tools_called else []
    if len(record.agents_used) > 1:
        earlier.append(f"hand-offs to {', '.join(record.agents_used[1:])}")
    if earlier:
        lines.append(Line("note", f"Before you joined: {'; '.join(earlier)}", "earlier-note"))
    return lines


def _mapping(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _string(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _input_text(item: Mapping[str, Any]) -> str:
    content = item.get("content")
    if not isinstance(content, list):
        return ""
    texts = (
        _string(part, "text")
        for part in content
        if isinstance(part, Mapping) and part.get("type") == "input_text"
    )
    return " ".join(text.strip() for text in texts if text.strip())
