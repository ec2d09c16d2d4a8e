"""Text as UTF-8 can carry it: one rule for every peer's strings (pure).

JSON may hold a lone UTF-16 surrogate (``"\\ud800"`` is valid JSON, and browsers send one for a
broken string); Python decodes it to a ``str`` that no UTF-8 encoder takes.  A peer speaking
UTF-8 on the wire (the model) reads it as U+FFFD; so does the relay, wherever such text could
reach an encoder: the tracker's reads, the document, the in-process simulator's frames.
"""

from __future__ import annotations

__all__ = ["well_formed"]


def well_formed(text: str) -> str:
    """``text`` with each lone UTF-16 surrogate replaced by U+FFFD, so that it encodes as UTF-8.

    ASCII text (audio frames, most events) is returned after one cheap check.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text
