"""Type-checked reads from parsed JSON that a peer sent.

The tracker must never raise on what a browser or the upstream sends, whatever its shape.
Rather than catching broadly around each handler (which would also hide our own bugs), every
read goes through these helpers, which answer ``None`` when the value is missing or of the wrong
type, so handlers say ``if value is None: return``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from app.rules.text import well_formed


def text(obj: Mapping[str, Any], key: str) -> str | None:
    """``obj[key]`` if it is a string, each lone UTF-16 surrogate replaced by U+FFFD.

    A browser may send one (``"\\ud800"`` is valid JSON); the model, speaking UTF-8, hands the
    text back with U+FFFD in its place.  Reading both the same way keeps one message per item
    (a client's copy is matched to the model's echo by its text).
    """
    value = obj.get(key)
    return well_formed(value) if isinstance(value, str) else None


def identifier(obj: Mapping[str, Any], key: str) -> str | None:
    """``obj[key]`` if it is a non-empty string (item ids, call ids, names)."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def mapping(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """``obj[key]`` if it is a JSON object."""
    value = obj.get(key)
    return value if isinstance(value, Mapping) else None


def array(obj: Mapping[str, Any], key: str) -> Sequence[Any]:
    """``obj[key]`` if it is a JSON array, else an empty one."""
    value = obj.get(key)
    return value if isinstance(value, list | tuple) else ()


def index(obj: Mapping[str, Any], key: str) -> int:
    """``obj[key]`` as a non-negative index; 0 when missing or malformed.

    Content indexes are almost always 0 and the text they label is still worth keeping when a
    peer gets the index wrong, so a bad index degrades to 0 instead of dropping the event.
    """
    value = obj.get(key)
    if type(value) is int and value >= 0:
        return value
    return 0


def number(obj: Mapping[str, Any], key: str) -> float | None:
    """``obj[key]`` if it is a finite JSON number (``bool`` is not a number here)."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        result = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return result if math.isfinite(result) else None
