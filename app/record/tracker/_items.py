"""What the tracker knows about each conversation item, and the items' order.

Kept apart from the event handling so that the rules that decide a message's final text (which
parts count, partial text, the heard fraction of an interrupted reply) read in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import attrs

from app.record.tracker._record import Message, Sender

#: PCM16 at 24 kHz is 48,000 bytes a second; base64 carries 3 bytes in 4 characters.
BASE64_CHARS_PER_SECOND = 48_000 * 4 / 3
BASE64_CHARS_PER_MS = BASE64_CHARS_PER_SECOND / 1000


def base64_chars_per_ms(audio_bytes_per_second: int) -> float:
    """Base64 characters per millisecond of audio in a format of ``audio_bytes_per_second``
    (48,000 for PCM16 at 24 kHz; 8,000 for G.711 at 8 kHz, a phone call's)."""
    return audio_bytes_per_second * 4 / 3 / 1000


@attrs.define(eq=False)
class Part:
    """One content part of an item: its final text, or the deltas streamed so far."""

    final: str | None = None
    deltas: list[str] = attrs.Factory(list)


@attrs.define(eq=False)
class TrackedItem:
    """Mutable state of one conversation item, filled in by events in any order."""

    id: str
    role: str | None = None
    #: the item type (``message``, ``function_call``, ...), when an event said so.
    kind: str | None = None
    parts: dict[int, Part] = attrs.Factory(dict)
    first_audio_at: float | None = None
    audio_chars: int = 0
    #: how much of the audio the listener heard, from a truncate the model confirmed
    #: (``conversation.item.truncated``); ``None`` if never truncated.
    audio_end_ms: float | None = None
    interrupted: bool = False
    function_name: str | None = None
    arguments_done: bool = False
    #: The audio format's rate in base64 characters (see `base64_chars_per_ms`).
    chars_per_ms: float = BASE64_CHARS_PER_MS

    @property
    def sender(self) -> Sender | None:
        """Who said this item, or ``None`` if it is not a user or assistant message."""
        if self.kind not in (None, "message"):
            return None
        if self.role == "user":
            return "user"
        if self.role == "assistant":
            return "assistant"
        return None

    def part(self, index: int) -> Part:
        """The content part at ``index``, created empty if new."""
        part = self.parts.get(index)
        if part is None:
            part = self.parts[index] = Part()
        return part

    def playback_end(self) -> float | None:
        """When the listener finishes hearing this item's audio, if it started at first delta.

        An estimate: the browser starts playing about when the first delta arrives and plays in
        real time, while the model sends audio faster than real time.
        """
        if self.first_audio_at is None:
            return None
        return self.first_audio_at + self.audio_chars / (self.chars_per_ms * 1000)

    def heard_fraction(self) -> float:
        """The share of the audio heard before a truncate, clamped to [0, 1].

        Computed against all audio sent for the item, when the record is built, so that deltas
        of a cancelled response still in flight at the truncate do not skew it. Without any
        audio to compare with, nothing can be estimated and the whole text is kept.
        """
        if self.audio_end_ms is None:
            return 1.0
        sent_ms = self.audio_chars / self.chars_per_ms
        if sent_ms <= 0:
            return 1.0
        return min(1.0, max(0.0, self.audio_end_ms / sent_ms))

    def said(self) -> str:
        """The item's whole text: final parts, or an assistant's streamed deltas when no final
        came.

        Partial assistant text is kept because a call can end mid-reply, and what was said so
        far is still part of the conversation. User transcription deltas are not: a user item
        whose transcription never completed yields no message.
        """
        pieces: list[str] = []
        for position in sorted(self.parts):
            part = self.parts[position]
            if part.final is not None:
                pieces.append(part.final.strip())
            elif self.role == "assistant" and part.deltas:
                pieces.append("".join(part.deltas).strip())
        return " ".join(piece for piece in pieces if piece)

    def text(self) -> str:
        """What the listener heard: `said`, cut to the heard share after a confirmed truncate."""
        text = self.said()
        if self.audio_end_ms is not None:
            text = cut_at_word_boundary(text, self.heard_fraction())
        return text

    def message(self) -> Message | None:
        """The message this item contributes to the record, if any (empty text: none)."""
        sender = self.sender
        if sender is None:
            return None
        said = self.said()
        if not said:
            return None
        heard = said if self.audio_end_ms is None else self.text()
        # Only the assistant is interrupted: a peer's audio or truncate naming a user item
        # (which the protocol never does) must not mark the caller's words.
        interrupted = self.interrupted and sender == "assistant"
        return Message(
            sender=sender,
            message=heard,
            interrupted=interrupted,
            said=said if heard != said else None,
        )


def cut_at_word_boundary(text: str, fraction: float) -> str:
    """Keep the first ``fraction`` of ``text``, ending at a word end.

    This assumes speech is uniformly paced over the audio, so the heard share of the audio is
    the heard share of the characters: an estimate. The cut goes to the last word end not past
    the proportional character position (a word the listener did not hear to its end is
    dropped), so it may keep nothing at all; the caller then drops the message.
    """
    if fraction >= 1.0:
        return text
    limit = math.floor(len(text) * max(fraction, 0.0))
    if limit >= len(text):
        return text
    if text[limit].isspace():
        return text[:limit].rstrip()
    # ``limit`` falls inside a word: back up to the whitespace before it.
    while limit > 0 and not text[limit - 1].isspace():
        limit -= 1
    return text[:limit].rstrip()


@attrs.define(eq=False)
class ItemOrder:
    """The conversation's item order, following the server's ``previous_item_id`` links.

    Placement rules:

    * an item announced with a known ``previous_item_id`` goes right after that item, moving it
      if it was already placed (items first seen through other events are only provisionally
      placed, and an announcement knows better);
    * an item announced without one (``null`` or missing), or after an item we never saw, is
      appended, or stays where it is if already placed. The protocol reads ``null`` as "at the
      start", but GA makes the field optional and servers omit it; appending is right in both
      readings for the first item, and for a later one an omitted link is far likelier than a
      message inserted before the whole conversation;
    * items first seen through any other event are appended in arrival order.

    Inserting is linear in the number of items; a call has hundreds at most, and announcements
    are rare control events, not the audio hot path.
    """

    _ids: list[str] = attrs.Factory(list)
    _members: set[str] = attrs.Factory(set)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def append(self, item_id: str) -> None:
        """Place ``item_id`` last, if it is not placed yet."""
        if item_id not in self._members:
            self._ids.append(item_id)
            self._members.add(item_id)

    def place(self, item_id: str, previous_id: str | None) -> None:
        """Place ``item_id`` right after ``previous_id``, per the rules in the class docstring."""
        if previous_id is None or previous_id == item_id or previous_id not in self._members:
            self.append(item_id)
            return
        self.remove(item_id)
        self._ids.insert(self._ids.index(previous_id) + 1, item_id)
        self._members.add(item_id)

    def remove(self, item_id: str) -> None:
        """Forget ``item_id``, if placed."""
        if item_id in self._members:
            self._ids.remove(item_id)
            self._members.discard(item_id)
