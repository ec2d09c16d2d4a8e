"""Function calls of the model, sans-IO: which to run, and when to ask for the next response.

The Realtime API rule: answer every function call of a response with a
``conversation.item.create`` (``function_call_output``), then send ONE ``response.create`` —
after all calls of that response are answered *and* the response is done.  A second
``response.create`` while a response is active fails with
``conversation_already_has_active_response``.

`FunctionCalls` follows the upstream's events (`observe`) and the tools' results (`answered`)
and returns what to do; the call performs it.  It also tells which events are the relay's own
business and must not reach the browser (`is_private`).

Decisions:
* A response that ended ``cancelled`` / ``incomplete`` / ``failed`` still gets its outputs (the
  calls are in the conversation) but no ``response.create``: the user interrupted, and the
  model should not resume speaking on its own.
* If another response is already active when one becomes ready (server VAD started one for new
  speech), no ``response.create`` is sent: the active response already sees the outputs.

No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

_ITEM_EVENTS = frozenset(
    {
        "response.output_item.added",
        "response.output_item.done",
        "conversation.item.created",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.retrieved",
    }
)
_PRIVATE_ITEM_TYPES = frozenset({"function_call", "function_call_output"})
_ARGUMENT_EVENTS = frozenset(
    {"response.function_call_arguments.delta", "response.function_call_arguments.done"}
)
RESPONSE_CREATE = json.dumps({"type": "response.create"})


@attrs.frozen
class RunTool:
    """Run function ``name`` for ``call_id`` with the model's JSON ``arguments``."""

    call_id: str
    name: str
    arguments: str


@attrs.frozen
class CreateResponse:
    """Send ``response.create``: every call of a finished response is answered."""


Action = RunTool | CreateResponse


@attrs.define
class _Response:
    pending: set[str] = attrs.field(factory=set)
    answered: int = 0
    done: bool = False
    completed: bool = False
    created: bool = False  # response.create already sent for it


def function_call_output(call_id: str, output: str) -> str:
    """The ``conversation.item.create`` answering ``call_id`` (the same in both dialects)."""
    return json.dumps(
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call_id, "output": output},
        }
    )


@attrs.define
class FunctionCalls:
    _names: dict[str, str] = attrs.field(factory=dict)  # call_id -> function name
    _response_of: dict[str, str] = attrs.field(factory=dict)  # call_id -> response id
    _responses: dict[str, _Response] = attrs.field(factory=dict)
    _active_response: str | None = None

    @staticmethod
    def is_private(event: Mapping[str, Any]) -> bool:
        """Whether the browser must not see ``event`` (function calls and their outputs)."""
        kind = event.get("type")
        if kind in _ARGUMENT_EVENTS:
            return True
        if kind in _ITEM_EVENTS:
            item = event.get("item")
            return isinstance(item, dict) and item.get("type") in _PRIVATE_ITEM_TYPES
        return False

    def observe(self, event: Mapping[str, Any]) -> list[Action]:
        """Follow one upstream event; what to do now."""
        kind = event.get("type")
        if kind == "response.created":
            self._active_response = _response_id(event.get("response"))
        elif kind == "response.output_item.added":
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                call_id = item.get("call_id")
                if isinstance(call_id, str) and isinstance(item.get("name"), str):
                    self._names[call_id] = item["name"]
        elif kind == "response.function_call_arguments.done":
            return self._arguments_done(event)
        elif kind == "response.done":
            return self._response_done(event.get("response"))
        return []

    def answered(self, call_id: str) -> list[Action]:
        """The output for ``call_id`` has been sent upstream; what to do now."""
        response_id = self._response_of.get(call_id)
        response = self._responses.get(response_id) if response_id else None
        if response is None or call_id not in response.pending:
            return []
        response.pending.discard(call_id)
        response.answered += 1
        return self._maybe_create(response)

    def _arguments_done(self, event: Mapping[str, Any]) -> list[Action]:
        call_id = event.get("call_id")
        if not isinstance(call_id, str) or call_id in self._response_of:
            return []
        name = event.get("name")
        if not isinstance(name, str):
            name = self._names.get(call_id, "")
        arguments = event.get("arguments")
        response_id = event.get("response_id")
        if not isinstance(response_id, str):
            response_id = self._active_response or ""
        self._response_of[call_id] = response_id
        self._responses.setdefault(response_id, _Response()).pending.add(call_id)
        return [RunTool(call_id, name, arguments if isinstance(arguments, str) else "{}")]

    def _response_done(self, payload: Any) -> list[Action]:
        response_id = _response_id(payload)
        if response_id == self._active_response:
            self._active_response = None
        response = self._responses.get(response_id or "")
        if response is None:
            return []
        response.done = True
        response.completed = isinstance(payload, dict) and payload.get("status") == "completed"
        return self._maybe_create(response)

    def _maybe_create(self, response: _Response) -> list[Action]:
        if (
            response.done
            and response.completed
            and not response.pending
            and response.answered
            and not response.created
            and self._active_response is None
        ):
            response.created = True
            return [CreateResponse()]
        return []


def _response_id(payload: Any) -> str | None:
    if isinstance(payload, dict) and isinstance(payload.get("id"), str):
        response_id: str = payload["id"]
        return response_id
    return None
