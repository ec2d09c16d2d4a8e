"""The conversation document's ``recording`` object.  Pure.

``{"name": "<document id>.wav", "where": "blob" | "local", "format": "audio/wav",
"seconds": float, "complete": bool, "cut_by_crash": bool, "gaps": int}``: ``complete`` is
true when the recording was neither cut by a crash nor has gaps.  The field is absent from
the document of a call that was not recorded.
"""

from __future__ import annotations

from typing import Any, Final, Literal

__all__ = ["FIELD_KEYS", "FORMAT", "recording_field", "recording_name"]

FORMAT: Final = "audio/wav"
FIELD_KEYS: Final = frozenset(
    {"name", "where", "format", "seconds", "complete", "cut_by_crash", "gaps"}
)


def recording_name(document_id: str) -> str:
    """The recording's blob or file name for the document ``document_id``."""
    return f"{document_id}.wav"


def recording_field(
    *,
    name: str,
    where: Literal["blob", "local"],
    seconds: float,
    cut_by_crash: bool,
    gaps: int,
) -> dict[str, Any]:
    """The ``recording`` object; ``seconds`` rounded to the millisecond."""
    return {
        "name": name,
        "where": where,
        "format": FORMAT,
        "seconds": round(max(0.0, seconds), 3),
        "complete": not cut_by_crash and gaps == 0,
        "cut_by_crash": cut_by_crash,
        "gaps": gaps,
    }
