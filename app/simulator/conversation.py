"""The simulated model's view of the conversation: items in order, as the real service keeps them.

Items carry their wire shape (what ``conversation.item.*`` events show) plus what the simulator
needs to decide its next reply: the plain text an item says, and for assistant audio how many
milliseconds were sent (``conversation.item.truncate`` may not cut beyond it).

No I/O here.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

ITEM_OBJECT: Final = "realtime.item"


@attrs.define(eq=False)
class Item:
    """One conversation item: a message, a function call or a function call's output."""

    id: str
    type: str
    role: str | None = None
    status: str = "completed"
    #: What the item says, for the agent's intent matching: typed text, the scripted transcript
    #: of an utterance, or an assistant reply.
    text: str = ""
    #: Message content parts, in wire shape.
    content: list[dict[str, Any]] = attrs.Factory(list)
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    #: Assistant audio sent for this item so far, in milliseconds.
    audio_ms: int = 0

    @property
    def is_user_message(self) -> bool:
        return self.type == "message" and self.role == "user"

    def wire(self) -> dict[str, Any]:
        """The item as ``conversation.item.*`` and ``response.output_item.*`` events show it."""
        shape: dict[str, Any] = {"id": self.id, "object": ITEM_OBJECT, "type": self.type}
        if self.type == "message":
            shape.update(status=self.status, role=self.role, content=self.content)
        elif self.type == "function_call":
            shape.update(
                status=self.status, call_id=self.call_id, name=self.name, arguments=self.arguments
            )
        else:
            shape.update(call_id=self.call_id, output=self.output)
        return shape


@attrs.define(eq=False)
class Conversation:
    """The items of one session, in conversation order."""

    items: list[Item] = attrs.Factory(list)
    _by_id: dict[str, Item] = attrs.Factory(dict)

    def append(self, item: Item) -> str | None:
        """Add ``item`` at the end; returns the id of the item before it (``previous_item_id``)."""
        previous = self.items[-1].id if self.items else None
        self.items.append(item)
        self._by_id[item.id] = item
        return previous

    def find(self, item_id: str) -> Item | None:
        return self._by_id.get(item_id)

    def remove(self, item_id: str) -> bool:
        """Delete an item; False when there is no such item."""
        item = self._by_id.pop(item_id, None)
        if item is None:
            return False
        self.items.remove(item)
        return True

    def function_call(self, call_id: str | None) -> Item | None:
        """The function call item with ``call_id``, if any."""
        for item in reversed(self.items):
            if item.type == "function_call" and item.call_id == call_id:
                return item
        return None
