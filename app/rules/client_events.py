"""What a caller may ask of the model: an allow-list of client events, each with its fields.

The relay owns the agent: its instructions, its tools and what the conversation holds besides
the caller's own words.  A client (the browser, later a phone dialect's translator) may only
speak and steer the turn-taking, so `check_client_event` passes exactly these, and refuses the
rest:

======================================  ==================================================
event                                   what it may carry besides ``type`` and ``event_id``
======================================  ==================================================
``input_audio_buffer.append``           ``audio`` (base64 text)
``input_audio_buffer.commit``/``clear`` nothing
``conversation.item.create``            ``previous_item_id``; ``item``: a user ``message``
                                        (``id``, ``type``, ``role``, ``content``) whose
                                        content parts are ``input_text`` (``text``) or
                                        ``input_audio`` (``audio``)
``conversation.item.truncate``          ``item_id``, ``content_index``, ``audio_end_ms``
                                        (whole numbers from 0)
``response.create``                     nothing: no ``response`` object, so none of the
                                        session's fields (instructions, tools, tool choice,
                                        voice, conversation, input items ...)
``response.cancel``                     ``response_id``
``session.update``                      only what `filter_browser_session_update` keeps
                                        (voice, turn detection, noise reduction, formats)
======================================  ==================================================

Everything else -- another event type, an unknown field, a wrong type, a ``system`` or
``assistant`` message, a ``function_call`` or ``function_call_output`` item, a transcript
written by the client -- is a `Refused`: the caller answers it with an ``error`` event, does not
forward the event and counts it.  A ``session.update`` is the one event cut rather than refused
(the browser's own page sends one with its audio preferences); what was cut is reported in
`Allowed.dropped` so the caller can count and log it.

The messages name the offending type or field in a bounded, printable form (`shown`), never a
whole client value.  Pure: no I/O, no clock; the phone dialects use it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from app.rules.dialect import Dialect
from app.rules.session_config import filter_browser_session_update

__all__ = [
    "ALLOWED_EVENTS",
    "Allowed",
    "Refused",
    "check_client_event",
    "shown",
]

#: The longest client string quoted in an error message or a log line.
SHOWN_CHARS: Final = 40

_ENVELOPE: Final = frozenset({"type", "event_id"})

#: Each allowed event type and the top-level fields it may carry.
ALLOWED_EVENTS: Final[Mapping[str, frozenset[str]]] = {
    "input_audio_buffer.append": _ENVELOPE | {"audio"},
    "input_audio_buffer.commit": _ENVELOPE,
    "input_audio_buffer.clear": _ENVELOPE,
    "conversation.item.create": _ENVELOPE | {"previous_item_id", "item"},
    "conversation.item.truncate": _ENVELOPE | {"item_id", "content_index", "audio_end_ms"},
    "response.create": _ENVELOPE,
    "response.cancel": _ENVELOPE | {"response_id"},
    "session.update": _ENVELOPE | {"session"},
}

_ITEM_FIELDS: Final = frozenset({"id", "type", "role", "content"})
_CONTENT_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "input_text": frozenset({"type", "text"}),
    "input_audio": frozenset({"type", "audio"}),
}
#: The keys of what a client may set in a session: the path (audio, input, output) and the
#: fields of a format, turn detection and noise reduction (both dialects).
_SETTING_KEYS: Final = frozenset(
    {
        "type", "audio", "input", "output", "format", "voice", "turn_detection",
        "noise_reduction", "input_audio_noise_reduction", "input_audio_format",
        "output_audio_format", "rate", "threshold", "prefix_padding_ms",
        "silence_duration_ms", "create_response", "interrupt_response", "eagerness",
        "idle_timeout_ms",
    }
)  # fmt: skip
_STRING_FIELDS: Final = frozenset(
    {"event_id", "audio", "previous_item_id", "item_id", "response_id"}
)
_COUNT_FIELDS: Final = frozenset({"content_index", "audio_end_ms"})
_NULLABLE: Final = frozenset({"previous_item_id"})


@attrs.frozen
class Allowed:
    """Forward ``event``: the client's own object (the very same), or a cut-down copy of a
    ``session.update``."""

    event: dict[str, Any]
    #: Fields of a ``session.update`` that were cut (dotted paths), for counting and logging.
    dropped: tuple[str, ...] = ()


@attrs.frozen
class Refused:
    """Do not forward: answer with an ``error`` event (``code``, ``message``) and count it."""

    code: str
    message: str
    event_id: str | None = None


def shown(value: object) -> str:
    """A client value as it may appear in an error message or a log line: printable ASCII,
    at most `SHOWN_CHARS` characters, quoted (control characters and newlines escaped)."""
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    text = value
    clipped = text[:SHOWN_CHARS]
    quoted = ascii(clipped)
    return quoted if len(text) <= SHOWN_CHARS else quoted + "..."


def check_client_event(event: dict[str, Any], dialect: Dialect) -> Allowed | Refused:
    """Whether a parsed client event (a JSON object with a string ``type``) may reach the model.

    ``dialect`` is the upstream's (the shape of ``session.update`` differs).
    """
    kind = event.get("type")
    raw_id = event.get("event_id")
    event_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 128 else None
    fields = ALLOWED_EVENTS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        return Refused(
            "event_not_allowed",
            f"Client events of type {shown(kind)} are not relayed to the model; the relay "
            "owns the agent. The event was not forwarded.",
            event_id,
        )
    problem = _unknown_field(event, fields) or _wrong_types(event)
    if problem is None and kind == "conversation.item.create":
        problem = _item_problem(event.get("item"))
    if problem is None and kind == "session.update":
        forwarded, dropped = filter_browser_session_update(event, dialect)
        if forwarded is None:
            problem = "it sets nothing a client may change (voice, turn detection, formats)"
        else:
            problem = _setting_problem(forwarded["session"])
            if problem is None:
                return Allowed(forwarded, tuple(dropped))
    if problem is not None:
        return Refused(
            "field_not_allowed",
            f"{kind} refused: {problem}. The event was not forwarded.",
            event_id,
        )
    return Allowed(event)


def _setting_problem(value: object, name: str = "session") -> str | None:
    """Why a kept setting is not a plain value (a string, a number, or an object of those with
    the keys the protocol defines for it), or None.  The allowed paths lead to a voice, a format,
    turn detection or noise reduction: never to anything that holds text for the model."""
    if isinstance(value, str | int | float | bool) or value is None:
        return None
    if not isinstance(value, Mapping):
        return f"{name} must be a string, a number or an object"
    for key, child in value.items():
        if key not in _SETTING_KEYS:
            return f"a client may not set {shown(key)} in {name}"
        if isinstance(child, Mapping) and name.count(".") < 3:
            problem = _setting_problem(child, f"{name}.{key}")
        elif isinstance(child, str | int | float | bool) or child is None:
            problem = None
        else:
            problem = f"{name}.{key} must be a plain value"
        if problem is not None:
            return problem
    return None


def _unknown_field(value: Mapping[str, Any], fields: frozenset[str]) -> str | None:
    for key in value:
        if key not in fields:
            return f"a client may not set {shown(key)}"
    return None


def _wrong_types(event: Mapping[str, Any]) -> str | None:
    for key, value in event.items():
        if key in _STRING_FIELDS and not isinstance(value, str):
            if value is None and key in _NULLABLE:
                continue
            return f"{key} must be a string"
        if key in _COUNT_FIELDS and not _is_count(value):
            return f"{key} must be a whole number from 0"
    return None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _item_problem(item: object) -> str | None:
    """Why ``item`` is not a user message of text or audio, or None if it is one."""
    if not isinstance(item, Mapping):
        return "item must be an object"
    unknown = _unknown_field(item, _ITEM_FIELDS)
    if unknown is not None:
        return unknown + " on an item"
    if item.get("type", "message") != "message":
        return f"only message items, not {shown(item.get('type'))}"
    if item.get("role") != "user":
        return f"only user messages, not role {shown(item.get('role'))}"
    if "id" in item and not isinstance(item["id"], str):
        return "item.id must be a string"
    content = item.get("content")
    if not isinstance(content, list) or not content:
        return "item.content must be a non-empty list"
    for part in content:
        if not isinstance(part, Mapping):
            return "each content part must be an object"
        part_type = part.get("type")
        allowed = _CONTENT_FIELDS.get(part_type) if isinstance(part_type, str) else None
        if allowed is None:
            return f"content parts are input_text or input_audio, not {shown(part_type)}"
        unknown = _unknown_field(part, allowed)
        if unknown is not None:
            return f"{unknown} on an {part_type} part"
        payload = "text" if part_type == "input_text" else "audio"
        if not isinstance(part.get(payload), str):
            return f"an {part_type} part needs a string {payload}"
    return None
