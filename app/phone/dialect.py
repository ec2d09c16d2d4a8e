"""The seam between a phone provider and a call: what a client dialect takes and returns.

A client dialect is a sans-IO translator for one provider (h11's shape: text in, values out, no
I/O).  `ClientDialect.from_caller` reads one provider message from the caller's side and says
what it means for the model (Realtime client events, in order) and whether the caller hung up;
`ClientDialect.from_model` reads one model event the call would have sent a browser and says
what goes to the caller (provider messages: audio, a playback mark, "stop playing now") and
which client events the relay must send the model itself (a browser sends
``conversation.item.truncate`` after a barge-in; for a phone the relay does, from where the
provider says playback stood).

`client.PhoneClient` performs the results; everything after it is the browser's path.

No I/O here.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any, Protocol

import attrs

from app.rules.channels import Channel
from app.rules.dialect import BETA_NAMES, GA_NAMES

__all__ = [
    "SPEECH_STARTED",
    "AudioOut",
    "ClientDialect",
    "FromCaller",
    "ToCaller",
    "audio_append",
    "json_object",
    "read_model_event",
    "truncate_event",
]

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


@attrs.frozen
class FromCaller:
    """What one provider message from the caller's side means."""

    #: Realtime client events (JSON text) for the model, in order.
    to_model: tuple[str, ...] = ()
    #: The provider said the caller hung up (the call ends as ``user_hangup``).
    hung_up: bool = False


@attrs.frozen
class ToCaller:
    """What one model event means for the caller's side."""

    #: Provider messages (JSON text) for the caller's socket, in order.
    to_caller: tuple[str, ...] = ()
    #: Client events (JSON text) the relay sends the model on the caller's behalf.
    to_model: tuple[str, ...] = ()


NOTHING_FROM_CALLER = FromCaller()
NOTHING_TO_CALLER = ToCaller()


class ClientDialect(Protocol):
    """One provider's media protocol, as a call's client."""

    @property
    def channel(self) -> Channel:
        """The document's ``channel`` for calls in this dialect."""
        ...

    def from_caller(self, text: str, now: float) -> FromCaller:
        """One text message from the provider's socket, received at ``now``."""
        ...

    def from_model(self, text: str, now: float) -> ToCaller:
        """One model event (JSON text, as a browser would get it), sent at ``now``."""
        ...


def audio_append(payload: str) -> str | None:
    """The ``input_audio_buffer.append`` for a base64 ``payload``; None if it is not base64.

    Written in the layout `app.rules.frames.is_plain_audio_append` recognises, so the call's
    frame policy forwards it on the hot path, unparsed, under the same limits as a browser's.
    """
    if _BASE64.fullmatch(payload) is None:
        return None
    return '{"type":"input_audio_buffer.append","audio":"' + payload + '"}'


def truncate_event(item_id: str, audio_end_ms: int) -> str:
    """The ``conversation.item.truncate`` a browser sends when the caller barged in."""
    return json.dumps(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": audio_end_ms,
        }
    )


class _SpeechStarted(enum.Enum):
    """The model heard the caller start speaking (``input_audio_buffer.speech_started``)."""

    EVENT = "input_audio_buffer.speech_started"


SPEECH_STARTED = _SpeechStarted.EVENT


@attrs.frozen
class AudioOut:
    """A model audio delta: audio of item ``item_id`` for the caller (base64, the session's
    format)."""

    item_id: str
    audio: str


_AUDIO_DELTA_PREFIXES = tuple(f'{{"type":"{n.audio_delta}"' for n in (GA_NAMES, BETA_NAMES))
_AUDIO_DELTA_TYPES = frozenset(n.audio_delta for n in (GA_NAMES, BETA_NAMES))
_ITEM_ID = re.compile(r'"item_id"\s*:\s*"([^"\\]*)"')
_DELTA_KEY = '"delta":"'


def read_model_event(text: str) -> AudioOut | _SpeechStarted | None:
    """What a phone needs of one model event (JSON text, GA or beta): audio to play, the
    caller starting to speak, or None for everything else.

    An audio delta in the compact layout the model sends is read without parsing its JSON
    (the hot path: one search for the audio, one for the item id); any other layout is parsed.
    """
    if text.startswith(_AUDIO_DELTA_PREFIXES):
        delta = _compact_audio_delta(text)
        if delta is not None:
            return delta
    elif SPEECH_STARTED.value not in text and "audio.delta" not in text:
        return None  # nothing else the model says reaches a phone
    event = json_object(text)
    if event is None:
        return None
    kind = event.get("type")
    if kind == SPEECH_STARTED.value:
        return SPEECH_STARTED
    if kind in _AUDIO_DELTA_TYPES:
        item_id, audio = event.get("item_id"), event.get("delta")
        if isinstance(item_id, str) and isinstance(audio, str):
            return AudioOut(item_id, audio)
    return None


def _compact_audio_delta(text: str) -> AudioOut | None:
    start = text.find(_DELTA_KEY)
    if start < 0:
        return None
    start += len(_DELTA_KEY)
    end = text.find('"', start)
    if end < 0:
        return None
    match = _ITEM_ID.search(text, 0, start) or _ITEM_ID.search(text, end)
    if match is None:
        return None
    return AudioOut(match.group(1), text[start:end])


def json_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object, or None if it is not one."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
