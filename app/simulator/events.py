"""Building server events: deterministic ids, the real API's key order, the dialect's spelling.

Ids are counters per session (``event_0001``, ``item_0001``, ``resp_0001``, ``call_0001``), so two
runs of the same test see the same ids.  Events are serialised with ``type`` first and
``event_id`` second, as the real services send them; compact separators keep frames small.
"""

from __future__ import annotations

import json
from typing import Any, Final

import attrs

from app.rules.dialect import Dialect, EventNames, names
from app.rules.text import well_formed

ERROR_INVALID_REQUEST: Final = "invalid_request_error"
ERROR_SERVER: Final = "server_error"


def dumps(value: Any) -> str:
    """Compact JSON text, as sent on the wire: valid UTF-8 text.

    A client may send a lone UTF-16 surrogate (``"\\ud800"`` is valid JSON) in a text item
    that the simulator echoes; like a real service, whose frames are UTF-8, it replaces it with
    U+FFFD rather than hand on text no UTF-8 encoder takes (the relay's send to the browser, or
    its own websocket, would fail and end the call).  ASCII text, the audio included, is
    returned as it is after one cheap check.
    """
    return well_formed(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


@attrs.define(eq=False)
class EventFactory:
    """Ids and server events for one session, spelled in ``dialect``."""

    dialect: Dialect
    names: EventNames = attrs.field(init=False)
    _counters: dict[str, int] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.names = names(self.dialect)

    def new_id(self, prefix: str) -> str:
        """The next id with ``prefix`` (``item`` -> ``item_0001``, ``item_0002``...)."""
        count = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = count
        return f"{prefix}_{count:04d}"

    def event(self, event_type: str, /, **fields: Any) -> str:
        """A server event as JSON text: ``type``, then ``event_id``, then ``fields`` in order."""
        return dumps({"type": event_type, "event_id": self.new_id("event"), **fields})

    def error(
        self,
        code: str,
        message: str,
        *,
        error_type: str = ERROR_INVALID_REQUEST,
        param: str | None = None,
        client_event_id: str | None = None,
    ) -> str:
        """An ``error`` event; ``client_event_id`` names the client event that caused it."""
        return self.event(
            "error",
            error={
                "type": error_type,
                "code": code,
                "message": message,
                "param": param,
                "event_id": client_event_id,
            },
        )

    def server_error(self) -> str:
        """The ``error`` event of the ``error_after`` fault switch."""
        return self.error(
            ERROR_SERVER,
            "The server had an error while processing your request (simulated).",
            error_type=ERROR_SERVER,
        )

    def items_added(self, previous_item_id: str | None, item: dict[str, Any]) -> list[str]:
        """The event(s) announcing a new conversation item.

        Beta sends ``conversation.item.created``; GA sends ``conversation.item.added`` and, once
        the item is complete, ``conversation.item.done``.  Items added complete (by the client,
        or committed audio) get both GA events at once.
        """
        added = self.event(self.names.item_added, previous_item_id=previous_item_id, item=item)
        done = self.item_done(previous_item_id, item)
        return [added] if done is None else [added, done]

    def item_done(self, previous_item_id: str | None, item: dict[str, Any]) -> str | None:
        """GA's ``conversation.item.done``; ``None`` in beta, which has no such event."""
        if self.names.item_done is None:
            return None
        return self.event(self.names.item_done, previous_item_id=previous_item_id, item=item)

    @property
    def audio_content_type(self) -> str:
        """Content part type of assistant audio inside an item."""
        return "output_audio" if self.dialect is Dialect.GA else "audio"

    @property
    def text_content_type(self) -> str:
        """Content part type of assistant text inside an item."""
        return "output_text" if self.dialect is Dialect.GA else "text"

    def echo_template(self, response_id: str, item_id: str) -> tuple[str, str]:
        """Head and middle of an echoed audio delta, for string formatting on the hot path.

        The frame is ``head + event_id + middle + base64 + '"}'``: no JSON encoder per frame.
        """
        head = '{"type":"' + self.names.audio_delta + '","event_id":"'
        middle = (
            f'","response_id":"{response_id}","item_id":"{item_id}",'
            '"output_index":0,"content_index":0,"delta":"'
        )
        return head, middle
