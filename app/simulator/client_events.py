"""Reading client events: defensively, and cheaply for audio.

Client events come from code under test, so anything can arrive: malformed JSON, a string where
an object belongs, a missing field.  Every reader here raises :class:`InvalidEvent`, which the
session turns into an ``error`` event; nothing the client sends can crash the simulator.

``input_audio_buffer.append`` is the hot path (50 frames a second per call, across hundreds of
calls in a benchmark).  :func:`append_audio` slices the base64 out of the frame without a JSON
parse when the frame has the usual shape, and gives up (returns ``None``) otherwise, so the
careful path still handles everything else.

No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from app.simulator.conversation import Item

_APPEND_PREFIXES: Final = (
    '{"type":"input_audio_buffer.append"',  # browsers' JSON.stringify
    '{"type": "input_audio_buffer.append"',  # Python's json.dumps defaults
)
_AUDIO_KEY: Final = '"audio"'
_MESSAGE_ROLES: Final = ("user", "assistant", "system")


class InvalidEvent(Exception):
    """A client event the simulator refuses; becomes an ``error`` event, like the real API's."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(code, message, param)
        self.code = code
        self.message = message
        self.param = param


def append_audio(text: str) -> str | None:
    """The base64 audio of an ``input_audio_buffer.append`` frame, or ``None``.

    ``None`` means "not an append, or not in the usual shape": parse it properly.  A quoted
    ``"audio"`` found here is a key, not a value, when a colon follows it (quotes inside JSON
    strings are escaped); base64 never contains a backslash, so one in the value means JSON
    escapes and the careful path.
    """
    if not text.startswith(_APPEND_PREFIXES):
        return None
    key = text.find(_AUDIO_KEY, len(_APPEND_PREFIXES[0]))
    if key < 0:
        return None
    after_key = key + len(_AUDIO_KEY)
    start = text.find('"', after_key)
    if start < 0 or text[after_key:start].strip() != ":":
        return None
    end = text.find('"', start + 1)
    if end < 0:
        return None
    value = text[start + 1 : end]
    return None if "\\" in value else value


def string(obj: dict[str, Any], key: str, param: str, *, default: str | None = None) -> str:
    """``obj[key]`` as a string (``default`` when absent, if given)."""
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise InvalidEvent("invalid_value", f"'{param}' must be a string.", param)
    return value


def integer(obj: dict[str, Any], key: str, param: str, *, default: int | None = None) -> int:
    """``obj[key]`` as a non-negative integer (``default`` when absent, if given)."""
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidEvent("invalid_value", f"'{param}' must be a non-negative integer.", param)
    return value


def mapping(obj: dict[str, Any], key: str, param: str, *, optional: bool = False) -> dict[str, Any]:
    """``obj[key]`` as a JSON object (``{}`` when absent and ``optional``)."""
    value = obj.get(key)
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent("invalid_value", f"'{param}' must be an object.", param)
    return value


def item_from_client(raw: dict[str, Any], new_id: Callable[[], str]) -> Item:
    """The conversation item a ``conversation.item.create`` asks for."""
    item_id = raw.get("id") or new_id()
    if not isinstance(item_id, str):
        raise InvalidEvent("invalid_value", "'item.id' must be a string.", "item.id")
    kind = raw.get("type")
    if kind == "message":
        role = raw.get("role")
        if role not in _MESSAGE_ROLES:
            raise InvalidEvent(
                "invalid_value", "'item.role' must be 'user', 'assistant' or 'system'.", "item.role"
            )
        content = raw.get("content", [])
        if not isinstance(content, list) or not all(isinstance(p, dict) for p in content):
            raise InvalidEvent(
                "invalid_value", "'item.content' must be an array of objects.", "item.content"
            )
        said = [part.get("text") or part.get("transcript") or "" for part in content]
        return Item(
            item_id,
            "message",
            role=str(role),
            text=" ".join(s for s in said if isinstance(s, str) and s),
            content=[dict(part) for part in content],
        )
    if kind == "function_call_output":
        return Item(
            item_id,
            "function_call_output",
            call_id=string(raw, "call_id", "item.call_id"),
            output=string(raw, "output", "item.output"),
        )
    if kind == "function_call":
        return Item(
            item_id,
            "function_call",
            call_id=string(raw, "call_id", "item.call_id"),
            name=string(raw, "name", "item.name"),
            arguments=string(raw, "arguments", "item.arguments", default=""),
        )
    raise InvalidEvent(
        "invalid_value",
        f"Invalid value: {kind!r}. Supported values are: 'message', 'function_call' and "
        "'function_call_output'.",
        "item.type",
    )
