"""The conversation tracker: Realtime events in, a :class:`ConversationRecord` out.

Both dialects' event names are accepted at all times (they never collide), so a tracker built
for the wrong dialect still records the call; ``dialect`` is informational.

Error handling: the tracker never raises on what peers send. Events that are not objects, lack
keys, carry wrong types, have unknown types or talk about items never seen are ignored as far as
they cannot be used (see :mod:`app.record.tracker._fields`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from app.record.redaction import Redacted
from app.record.tracker._handlers import EventHandlers
from app.record.tracker._items import ItemOrder, TrackedItem, base64_chars_per_ms
from app.record.tracker._record import ConversationRecord
from app.rules.dialect import BETA_NAMES, GA_NAMES, Dialect
from app.rules.handoff import requested_agent

logger = logging.getLogger("app.record.tracker")

_Handler = Callable[[Mapping[str, Any], float], None]


@attrs.define(eq=False)
class ConversationTracker(EventHandlers):
    """Follow one call's events and keep what the conversation document needs.

    The relay calls :meth:`observe_client` for each parsed browser event, :meth:`observe_upstream`
    for each parsed upstream event and :meth:`observe_audio_delta` for each assistant audio chunk
    it does not parse; ``at`` is the monotonic time (seconds) it saw the event. The interruption
    rules compare these times, so they must come from one clock.

    What counts (the protocol facts that shape the conversation record):

    * order is the conversation's item order (:class:`~app.record.tracker._items.ItemOrder`), not
    the
      arrival order, because input transcriptions often complete after the reply;
    * user messages come from input transcriptions and ``input_text`` content, including a
      client's ``conversation.item.create`` the upstream never echoes (matched by item id when
      the client gave one, else by text, so that an echo does not duplicate it);
    * assistant messages come from the transcript / text ``.done`` events, or the deltas
      streamed so far if the call ends first;
    * an assistant item is interrupted when the user starts speaking while it still plays, or
      when the model confirms a truncate (``conversation.item.truncated``; the client's request
      alone changes nothing, since the model may refuse it): the message then holds the heard
      share of its text and ``said`` the whole of it, so no client can erase what the agent
      said; ``interruptions`` counts the interrupted assistant messages;
    * ``response.done`` with status ``cancelled`` alone says nothing about interruption.
    """

    dialect: Dialect = attrs.field(default=Dialect.GA, kw_only=True)
    initial_agent: str = attrs.field(default="root", kw_only=True)
    #: Bytes a second of the model's output audio: PCM16 24 kHz (a browser's), or 8,000 for
    #: G.711 (a phone's); playback estimates and heard fractions are measured with it.
    audio_bytes_per_second: int = attrs.field(default=48_000, kw_only=True)

    _items: dict[str, TrackedItem] = attrs.field(init=False, factory=dict)
    _order: ItemOrder = attrs.field(init=False, factory=ItemOrder)
    #: client-created user text items without an id, awaiting their echo: (key, text).
    _unechoed: list[tuple[str, str]] = attrs.field(init=False, factory=list)
    _client_keys: Iterator[int] = attrs.field(init=False, factory=itertools.count)
    _last_audio_item: TrackedItem | None = attrs.field(init=False, default=None)
    _tools: list[str] = attrs.field(init=False, factory=list)
    _agents: list[str] = attrs.field(init=False)
    _revision: int = attrs.field(init=False, default=0)
    _cached: ConversationRecord | None = attrs.field(init=False, default=None)
    _cached_revision: int = attrs.field(init=False, default=-1)
    _client_handlers: dict[str, _Handler] = attrs.field(init=False)
    _upstream_handlers: dict[str, _Handler] = attrs.field(init=False)

    @property
    def _chars_per_ms(self) -> float:
        return base64_chars_per_ms(self.audio_bytes_per_second)

    @_agents.default
    def _initial_agents(self) -> list[str]:
        return [self.initial_agent]

    def __attrs_post_init__(self) -> None:
        self._client_handlers = {
            "conversation.item.create": self._on_client_item_create,
        }
        upstream: dict[str, _Handler] = {
            "input_audio_buffer.committed": self._on_committed,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "conversation.item.input_audio_transcription.completed": self._on_transcription,
            "conversation.item.truncated": self._on_truncate,
            "response.output_item.added": self._on_output_item,
            "response.output_item.done": self._on_output_item,
            "response.function_call_arguments.done": self._on_function_call_done,
        }
        for names in (GA_NAMES, BETA_NAMES):
            upstream[names.item_added] = self._on_item_added
            if names.item_done is not None:
                upstream[names.item_done] = self._on_item_added
            upstream[names.audio_delta] = self._on_audio_delta
            upstream[names.transcript_delta] = self._on_assistant_delta
            upstream[names.text_delta] = self._on_assistant_delta
            upstream[names.transcript_done] = self._on_transcript_done
            upstream[names.text_done] = self._on_text_done
        self._upstream_handlers = upstream

    # -- public API -------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """A counter that moves whenever the record may have changed.

        It never stays put when the record changes (so a checkpoint keyed on it misses nothing)
        and seldom moves when it does not: audio deltas, the bulk of the traffic, move it only
        for an item already truncated, whose kept text depends on the audio sent.
        """
        return self._revision

    @property
    def message_count(self) -> int:
        """How many messages :meth:`record` holds now (cached per revision)."""
        return len(self.record().messages)

    def record(self) -> ConversationRecord:
        """A snapshot of the conversation so far; cheap to call again until something changes."""
        if self._cached is None or self._cached_revision != self._revision:
            found = (self._items[item_id].message() for item_id in self._order)
            messages = tuple(message for message in found if message is not None)
            self._cached = ConversationRecord(
                messages=messages,
                interruptions=sum(1 for message in messages if message.interrupted),
                tools_called=tuple(self._tools),
                agents_used=tuple(self._agents),
                initial_agent=self.initial_agent,
            )
            self._cached_revision = self._revision
        return self._cached

    def observe_client(self, event: Mapping[str, Any], at: float) -> None:
        """Take note of a parsed browser-to-upstream event."""
        self._dispatch(self._client_handlers, event, at)

    def observe_upstream(self, event: Mapping[str, Any], at: float) -> None:
        """Take note of a parsed upstream-to-browser event (audio deltas included)."""
        self._dispatch(self._upstream_handlers, event, at)

    def observe_audio_delta(self, item_id: str, base64_chars: int, at: float) -> None:
        """Count an assistant audio chunk of ``base64_chars`` base64 characters for ``item_id``.

        The hot path: the relay extracts the item id and payload length without parsing the
        event, and calls this for every chunk, so it does a dictionary lookup and two additions.
        The arguments are trusted (the relay produced them), unlike events.
        """
        item = self._items.get(item_id)
        if item is None:
            item = self._append_item(item_id, role="assistant")
        if item.first_audio_at is None:
            item.first_audio_at = at
            self._last_audio_item = item
        item.audio_chars += base64_chars
        if item.audio_end_ms is not None:
            self._revision += 1

    def observe_handoff(self, agent: str, at: float) -> None:
        """Record a hand-off to ``agent`` that the relay performed.

        The only way a hand-off enters the record: a ``transfer_to_<agent>`` function call is
        only a request, which the relay may refuse.  ``agents_used`` is unique.
        """
        self._handoff(agent)

    # -- plumbing ---------------------------------------------------------------------------

    def _dispatch(self, handlers: dict[str, _Handler], event: object, at: float) -> None:
        if not isinstance(event, Mapping):
            return
        kind = event.get("type")
        if not isinstance(kind, str):
            return
        handler = handlers.get(kind)
        if handler is not None:
            handler(event, at)

    def _touch(self) -> None:
        self._revision += 1

    def _get_item(self, item_id: str) -> TrackedItem:
        """The item called ``item_id``, created (unplaced) if new; the caller places it."""
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = TrackedItem(
                id=item_id, chars_per_ms=self._chars_per_ms
            )
        return item

    def _append_item(self, item_id: str, *, role: str) -> TrackedItem:
        """The item called ``item_id``; if new, it takes ``role`` and is placed last."""
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = TrackedItem(
                id=item_id, role=role, chars_per_ms=self._chars_per_ms
            )
            self._order.append(item_id)
        return item

    def _interrupt(self, item: TrackedItem) -> None:
        if not item.interrupted:
            item.interrupted = True
            logger.info("Interruption detected for item %s", item.id)
            self._touch()

    def _handoff(self, agent: str) -> None:
        if isinstance(agent, str) and agent and agent not in self._agents:
            self._agents.append(agent)
            logger.debug("Tracked hand-off to agent %s", agent)
            self._touch()

    def _tool_called(self, name: str) -> None:
        if requested_agent(name) is not None:
            # A hand-off request, not a tool.  Whether it happens is the relay's decision (the
            # agent may not exist): it reports the ones it performs through observe_handoff.
            return
        if name not in self._tools:
            self._tools.append(name)
            self._touch()

    def _set_final(self, item: TrackedItem, index: int, text: str) -> None:
        part = item.part(index)
        if part.final != text:
            part.final = text
            logger.debug("Tracked %s message: %s", item.role, Redacted(text))
            self._touch()
