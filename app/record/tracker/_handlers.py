"""The tracker's event handlers: what each Realtime event means for the conversation record.

`EventHandlers` is the half of `ConversationTracker` that reads events (items, user speech,
assistant output, function calls); the tracker itself keeps the state, the dispatch tables and
the public API.  Pure, like the rest of the tracker: events and times in, state changes out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from app.record.tracker import _fields as fields
from app.record.tracker._items import ItemOrder, TrackedItem

__all__ = ["EventHandlers"]


class EventHandlers:
    """Handlers of `ConversationTracker`; the state and helpers they use are the tracker's."""

    __slots__ = ()

    if TYPE_CHECKING:  # the tracker's state and helpers, declared for the type checker
        _items: dict[str, TrackedItem]
        _order: ItemOrder
        _unechoed: list[tuple[str, str]]
        _client_keys: Iterator[int]
        _last_audio_item: TrackedItem | None

        def _touch(self) -> None: ...
        def _get_item(self, item_id: str) -> TrackedItem: ...
        def _append_item(self, item_id: str, *, role: str) -> TrackedItem: ...
        def _interrupt(self, item: TrackedItem) -> None: ...
        def _tool_called(self, name: str) -> None: ...
        def _set_final(self, item: TrackedItem, index: int, text: str) -> None: ...
        def observe_audio_delta(self, item_id: str, base64_chars: int, at: float) -> None: ...

    # -- items ------------------------------------------------------------------------------

    def _describe(self, item: TrackedItem, obj: Mapping[str, Any]) -> None:
        """Learn an item's type, role, function name and user text from its JSON."""
        kind = fields.identifier(obj, "type")
        if kind is not None:
            item.kind = kind
        role = fields.identifier(obj, "role")
        if role is not None and item.role is None:
            item.role = role
        if item.kind == "function_call":
            name = fields.identifier(obj, "name")
            if name is not None and item.function_name is None:
                item.function_name = name
                if item.arguments_done:
                    self._tool_called(name)
        if item.role != "user" or item.sender is None:
            return
        for position, content in enumerate(fields.array(obj, "content")):
            if not isinstance(content, Mapping):
                continue
            content_type = content.get("type")
            if content_type == "input_text":
                text = fields.text(content, "text")
            elif content_type == "input_audio" and item.part(position).final is None:
                # Set when an item is created with a transcript, or echoed after transcription.
                text = fields.text(content, "transcript")
            else:
                continue
            if text is not None:
                self._set_final(item, position, text)

    def _on_item_added(self, event: Mapping[str, Any], at: float) -> None:
        obj = fields.mapping(event, "item")
        item_id = None if obj is None else fields.identifier(obj, "id")
        if obj is None or item_id is None:
            return
        if item_id not in self._items:
            self._claim_unechoed(obj)
        self._describe(self._get_item(item_id), obj)
        self._order.place(item_id, fields.identifier(event, "previous_item_id"))
        self._touch()

    def _claim_unechoed(self, obj: Mapping[str, Any]) -> None:
        """Drop the client-side copy of a user text item that the upstream now announces."""
        if not self._unechoed or obj.get("role") != "user":
            return
        text = _input_text(obj)
        for position, (key, client_text) in enumerate(self._unechoed):
            if client_text == text:
                del self._unechoed[position]
                del self._items[key]
                self._order.remove(key)
                return

    def _on_output_item(self, event: Mapping[str, Any], at: float) -> None:
        obj = fields.mapping(event, "item")
        item_id = None if obj is None else fields.identifier(obj, "id")
        if obj is None or item_id is None:
            return
        item = self._get_item(item_id)
        self._describe(item, obj)
        self._order.append(item_id)
        self._touch()

    def _on_committed(self, event: Mapping[str, Any], at: float) -> None:
        item_id = fields.identifier(event, "item_id")
        if item_id is None:
            return
        item = self._get_item(item_id)
        if item.role is None:
            item.role = "user"
        self._order.place(item_id, fields.identifier(event, "previous_item_id"))
        self._touch()

    def _on_client_item_create(self, event: Mapping[str, Any], at: float) -> None:
        obj = fields.mapping(event, "item")
        if obj is None or obj.get("role") != "user" or obj.get("type", "message") != "message":
            return
        text = _input_text(obj)
        if not text.strip():
            return
        item_id = fields.identifier(obj, "id")
        if item_id is not None and item_id in self._items:
            return  # already announced by the upstream: that copy wins
        if item_id is None:
            item_id = f"\0client-{next(self._client_keys)}"  # cannot collide with a real id
            self._unechoed.append((item_id, text))
        item = self._get_item(item_id)
        self._describe(item, obj)
        self._order.place(item_id, fields.identifier(event, "previous_item_id"))
        self._touch()

    # -- user speech ------------------------------------------------------------------------

    def _on_transcription(self, event: Mapping[str, Any], at: float) -> None:
        item_id = fields.identifier(event, "item_id")
        transcript = fields.text(event, "transcript")
        if item_id is None or transcript is None:
            return
        item = self._append_item(item_id, role="user")
        if item.role == "user":
            self._set_final(item, fields.index(event, "content_index"), transcript)

    def _on_speech_started(self, event: Mapping[str, Any], at: float) -> None:
        item = self._last_audio_item
        if item is None or item.interrupted:
            return
        end = item.playback_end()
        if end is not None and at < end:
            self._interrupt(item)

    def _on_truncate(self, event: Mapping[str, Any], at: float) -> None:
        item_id = fields.identifier(event, "item_id")
        audio_end_ms = fields.number(event, "audio_end_ms")
        if item_id is None or audio_end_ms is None:
            return
        item = self._items.get(item_id)
        if item is None or item.role not in (None, "assistant"):
            return
        item.audio_end_ms = max(0.0, audio_end_ms)
        self._touch()
        self._interrupt(item)

    # -- assistant output -------------------------------------------------------------------

    def _on_audio_delta(self, event: Mapping[str, Any], at: float) -> None:
        item_id = fields.identifier(event, "item_id")
        delta = fields.text(event, "delta")
        if item_id is not None and delta is not None:
            self.observe_audio_delta(item_id, len(delta), at)

    def _assistant_item(self, event: Mapping[str, Any]) -> TrackedItem | None:
        item_id = fields.identifier(event, "item_id")
        if item_id is None:
            return None
        item = self._append_item(item_id, role="assistant")
        return item if item.role == "assistant" else None

    def _on_assistant_delta(self, event: Mapping[str, Any], at: float) -> None:
        item = self._assistant_item(event)
        delta = fields.text(event, "delta")
        if item is None or delta is None:
            return
        part = item.part(fields.index(event, "content_index"))
        if part.final is None:
            part.deltas.append(delta)
            self._touch()

    def _on_transcript_done(self, event: Mapping[str, Any], at: float) -> None:
        self._assistant_done(event, "transcript")

    def _on_text_done(self, event: Mapping[str, Any], at: float) -> None:
        self._assistant_done(event, "text")

    def _assistant_done(self, event: Mapping[str, Any], key: str) -> None:
        item = self._assistant_item(event)
        text = fields.text(event, key)
        if item is not None and text is not None:
            self._set_final(item, fields.index(event, "content_index"), text)

    def _on_function_call_done(self, event: Mapping[str, Any], at: float) -> None:
        """A completed function call: a tool use, or a hand-off when named ``transfer_to_*``.

        The official event types carry no ``name`` (some servers add it): it is otherwise taken
        from the function-call item, which may even be announced after this event.
        """
        name = fields.identifier(event, "name")
        item_id = fields.identifier(event, "item_id")
        if item_id is not None:
            item = self._get_item(item_id)
            self._order.append(item_id)
            item.kind = "function_call"
            item.arguments_done = True
            if item.function_name is None:
                item.function_name = name
            name = item.function_name
            self._touch()  # an item it names that held text is no longer a message
        if name is not None:
            self._tool_called(name)


def _input_text(obj: Mapping[str, Any]) -> str:
    """The ``input_text`` content of an item's JSON, joined; empty if it has none."""
    texts = (
        fields.text(content, "text")
        for content in fields.array(obj, "content")
        if isinstance(content, Mapping) and content.get("type") == "input_text"
    )
    return " ".join(text for text in texts if text)
