"""Cheap recognition of the two frames that make up almost all of a call's traffic.

A voice call is ~50 audio frames a second each way.  Parsing every one of them as JSON would be
the relay's largest per-frame cost after the socket itself, and the relay needs nothing from the
browser's audio and only two facts from the model's (which item, how much audio).  So:

* `is_plain_audio_append` recognises a browser ``input_audio_buffer.append`` written the way
  every Realtime client writes it (``type`` first, optional ``event_id``, base64 ``audio``) with
  one regular-expression match; the frame is then known to be well-formed JSON and is forwarded
  untouched.  Anything else takes the careful path (full parse).
* `audio_delta_facts` pulls ``item_id`` and the length of the base64 ``delta`` out of a model
  audio delta with two string searches.  A frame it cannot read is parsed in full instead.
"""

from __future__ import annotations

import re

from app.rules.dialect import BETA_NAMES, GA_NAMES

_AUDIO_APPEND = re.compile(
    r'\{\s*"type"\s*:\s*"input_audio_buffer\.append"\s*'
    r'(?:,\s*"event_id"\s*:\s*"[A-Za-z0-9_.:-]*"\s*)?'
    r',\s*"audio"\s*:\s*"[A-Za-z0-9+/=]*"\s*'
    r'(?:,\s*"event_id"\s*:\s*"[A-Za-z0-9_.:-]*"\s*)?\}'
)
# The compact layout every Realtime server writes: ``type`` first, no spaces.
_AUDIO_DELTA_PREFIXES = tuple(
    f'{{"type":"{names.audio_delta}"' for names in (GA_NAMES, BETA_NAMES)
)
_ITEM_ID = re.compile(r'"item_id"\s*:\s*"([^"\\]*)"')
_DELTA_KEY = '"delta":"'


def is_plain_audio_append(text: str) -> bool:
    """True if ``text`` is a well-formed ``input_audio_buffer.append`` in the usual layout."""
    return text.startswith('{"type":"input_audio_buffer.append"') and (
        _AUDIO_APPEND.fullmatch(text) is not None
    )


def audio_delta_facts(text: str) -> tuple[str, int] | None:
    """``(item_id, base64 length)`` of a model audio delta; None if not one we can read."""
    if not text.startswith(_AUDIO_DELTA_PREFIXES):
        return None
    start = text.find(_DELTA_KEY)
    if start < 0:
        return None
    start += len(_DELTA_KEY)
    end = text.find('"', start)
    match = _ITEM_ID.search(text, 0, start) or _ITEM_ID.search(text, end)
    if end < 0 or match is None:
        return None
    return match.group(1), end - start


def utf8_length_exceeds(text: str, limit: int) -> bool:
    """Whether ``text`` is over ``limit`` bytes in UTF-8, without encoding in the common case."""
    length = len(text)
    if length > limit:
        return True
    if length * 4 <= limit:
        return False
    return len(text.encode("utf-8")) > limit
