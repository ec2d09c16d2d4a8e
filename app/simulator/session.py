"""One simulated Realtime session: reads client events, answers as the real service would.

Transport-agnostic: :func:`run_session` takes a ``receive`` and a ``send`` of JSON text, so the
relay can run it in-process over memory channels and :mod:`app.simulator.server` can run it over a
websocket.  One task (the caller's) reads and handles client events in order; each response
streams in a task of the session's own nursery (see :mod:`app.simulator.turns`), so input keeps
being read, and can interrupt the response, while the response plays out.

This module is the protocol front: it parses and dispatches client events, keeps the session
configuration and the conversation items, and answers invalid events with ``error`` events.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed

from app.simulator import config
from app.simulator.client_events import (
    InvalidEvent,
    append_audio,
    integer,
    item_from_client,
    mapping,
    string,
)
from app.simulator.conversation import Conversation, Item
from app.simulator.events import EventFactory
from app.simulator.faults import Outbox
from app.simulator.options import SimulatorOptions
from app.simulator.turns import Turns

Handler = Callable[[dict[str, Any]], Awaitable[None]]


async def run_session(
    receive: Callable[[], Awaitable[str]],
    send: Callable[[str], Awaitable[None]],
    options: SimulatorOptions,
) -> None:
    """Run one simulated Realtime session until the peer goes away or a fault closes it.

    ``receive()`` returns client events as JSON text; ``send(text)`` emits server events.

    Resource handling: responses stream in a nursery owned by this call; it is cancelled and
    waited for before this returns, so nothing outlives the session.

    Error handling: the peer going away (``receive`` raising ``trio.EndOfChannel`` or
    ``trio_websocket.ConnectionClosed``, or ``send`` failing the same way) ends the session
    quietly.  Invalid client events get ``error`` events and never end it.

    Raises:
        SimulatedClose: a fault switch (``close_after``, ``error_after``) ended the session; the
            transport should close the connection with its ``code`` and ``reason``.
    """
    events = EventFactory(options.dialect)
    with trio.CancelScope() as scope:
        outbox = Outbox(send, options, scope, events.server_error)
        async with trio.open_nursery() as nursery:
            session = _Session(options, events, outbox, nursery)
            await outbox.open()
            await session.send("session.created", session=session.config)
            await session.read(receive)
            nursery.cancel_scope.cancel()
    if outbox.closing is not None:
        raise outbox.closing


@attrs.define(eq=False)
class _Session:
    """The state of one session and the handlers of its client events."""

    options: SimulatorOptions
    events: EventFactory
    outbox: Outbox
    nursery: trio.Nursery
    config: dict[str, Any] = attrs.field(init=False)
    conversation: Conversation = attrs.Factory(Conversation)
    turns: Turns = attrs.field(init=False)
    _handlers: dict[str, Handler] = attrs.Factory(dict)
    _echo_head: str = ""
    _echo_middle: str = ""

    def __attrs_post_init__(self) -> None:
        options = self.options
        session_id = options.session_id or f"sess_sim_{secrets.token_hex(8)}"
        self.config = config.default_session(options.dialect, session_id, options.model)
        self.turns = Turns(
            options.dialect,
            self.events,
            self.outbox,
            self.conversation,
            self.nursery,
            options.speed,
        )
        self.turns.configure(self.config)
        if options.echo:
            response_id, item_id = self.events.new_id("resp"), self.events.new_id("item")
            self._echo_head, self._echo_middle = self.events.echo_template(response_id, item_id)
        self._handlers = {
            "session.update": self._on_session_update,
            "input_audio_buffer.append": self._on_append,
            "input_audio_buffer.commit": lambda _: self.turns.commit(),
            "input_audio_buffer.clear": lambda _: self.turns.clear(),
            "conversation.item.create": self._on_item_create,
            "conversation.item.truncate": self._on_truncate,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.retrieve": self._on_item_retrieve,
            "response.create": self._on_response_create,
            "response.cancel": lambda event: self.turns.cancel_response(event.get("response_id")),
        }

    async def send(self, event_type: str, /, **fields: Any) -> None:
        await self.outbox.send(self.events.event(event_type, **fields))

    async def read(self, receive: Callable[[], Awaitable[str]]) -> None:
        """Handle client events in order until the peer goes away."""
        echo = self.options.echo
        while True:
            try:
                text = await receive()
            except (trio.EndOfChannel, ConnectionClosed):
                return
            if self.outbox.stalled:
                continue  # a stalled peer ignores its input
            b64 = append_audio(text)
            if b64 is None:
                await self._handle(text)
            elif echo:
                await self._echo(b64)
            else:
                try:
                    await self.turns.append(b64)
                except InvalidEvent:
                    await self._handle(text)  # again, carefully: the error names the event

    async def _handle(self, text: str) -> None:
        try:
            event = json.loads(text)
        except (ValueError, RecursionError):
            event = None
        if not isinstance(event, dict):
            await self.outbox.send(
                self.events.error("invalid_json", "The event is not a valid JSON object.")
            )
            return
        client_event_id = event.get("event_id")
        if not isinstance(client_event_id, str):
            client_event_id = None
        kind = event.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        try:
            if handler is None:
                raise InvalidEvent(
                    "unknown_event", f"Invalid value: {kind!r}: unknown event type.", "type"
                )
            await handler(event)
        except InvalidEvent as invalid:
            await self.outbox.send(
                self.events.error(
                    invalid.code,
                    invalid.message,
                    param=invalid.param,
                    client_event_id=client_event_id,
                )
            )

    async def _echo(self, b64: str) -> None:
        event_id = self.events.new_id("event")
        await self.outbox.send(self._echo_head + event_id + self._echo_middle + b64 + '"}')

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        update = mapping(event, "session", "session")
        foreign = config.foreign_keys(self.options.dialect, update)
        if foreign:
            param = f"session.{foreign[0]}"
            raise InvalidEvent("unknown_parameter", f"Unknown parameter: '{param}'.", param)
        self.config = config.merge(self.config, update)
        self.turns.configure(self.config)
        await self.send("session.updated", session=self.config)

    async def _on_append(self, event: dict[str, Any]) -> None:
        b64 = string(event, "audio", "audio")
        if self.options.echo:
            await self._echo(b64)
        else:
            await self.turns.append(b64)

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        override = mapping(event, "response", "response", optional=True)
        dialect = self.options.dialect
        if config.modalities_key(dialect) in override:
            text_only = config.text_only(dialect, override)
        else:
            text_only = self.turns.text_only
        await self.turns.create_response(text_only)

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        item = item_from_client(mapping(event, "item", "item"), lambda: self.events.new_id("item"))
        if self.conversation.find(item.id) is not None:
            raise InvalidEvent("invalid_value", f"Item '{item.id}' already exists.", "item.id")
        previous = self.conversation.append(item)
        for added in self.events.items_added(previous, item.wire()):
            await self.outbox.send(added)

    async def _on_truncate(self, event: dict[str, Any]) -> None:
        item = self._item(event)
        content_index = integer(event, "content_index", "content_index", default=0)
        audio_end_ms = integer(event, "audio_end_ms", "audio_end_ms")
        if item.role != "assistant" or content_index != 0:
            raise InvalidEvent(
                "invalid_value",
                "Only the audio of an assistant message can be truncated.",
                "item_id",
            )
        if audio_end_ms > item.audio_ms:
            raise InvalidEvent(
                "invalid_value",
                f"audio_end_ms ({audio_end_ms}) exceeds the audio length of item "
                f"'{item.id}' ({item.audio_ms} ms).",
                "audio_end_ms",
            )
        item.audio_ms = audio_end_ms
        await self.send(
            "conversation.item.truncated",
            item_id=item.id,
            content_index=content_index,
            audio_end_ms=audio_end_ms,
        )

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item = self._item(event)
        self.conversation.remove(item.id)
        await self.send("conversation.item.deleted", item_id=item.id)

    async def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        await self.send("conversation.item.retrieved", item=self._item(event).wire())

    def _item(self, event: dict[str, Any]) -> Item:
        item_id = string(event, "item_id", "item_id")
        item = self.conversation.find(item_id)
        if item is None:
            raise InvalidEvent(
                "invalid_value", f"Item with item_id '{item_id}' not found.", "item_id"
            )
        return item
