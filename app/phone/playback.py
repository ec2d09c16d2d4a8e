"""Where the caller's playback of the model's audio stands, and what a barge-in cuts.

The model sends a reply's audio faster than real time; the provider buffers it and plays it out.
When the caller starts speaking (the model's ``input_audio_buffer.speech_started``), whatever is
still buffered must be dropped at once (Twilio ``clear``, ACS ``StopAudio``) and the model told
how much of its reply was heard (``conversation.item.truncate``), so that its context -- and the
transcript the tracker keeps -- hold the heard part only, exactly as for a browser.

`Playback` keeps, for each assistant item whose audio is not yet fully heard, how much was sent
and how much was heard.  The dialect reports audio sent (`sent`) and playback progress
(`heard`: Twilio echoes a mark when the audio before it has played; a dialect without marks
can report progress by the clock).  `interrupt` returns the truncations to send and forgets
everything buffered.

No I/O here.
"""

from __future__ import annotations

import attrs

__all__ = ["Playback", "Truncation"]


@attrs.frozen
class Truncation:
    """The model's item ``item_id`` was heard up to ``audio_end_ms``."""

    item_id: str
    audio_end_ms: int


@attrs.define
class _Item:
    sent_ms: float = 0.0
    heard_ms: float = 0.0


@attrs.define
class Playback:
    """Audio sent to the caller and heard by the caller, per assistant item, in play order."""

    #: Bytes of audio per millisecond in the call's format (mu-law 8 kHz: 8; PCM16 24 kHz: 48).
    bytes_per_ms: float
    _items: dict[str, _Item] = attrs.field(factory=dict)

    def sent(self, item_id: str, audio_bytes: int) -> float:
        """``audio_bytes`` more of ``item_id`` went to the caller; where it now ends (ms)."""
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item()
        item.sent_ms += audio_bytes / self.bytes_per_ms
        return item.sent_ms

    def heard(self, item_id: str, audio_ms: float) -> None:
        """The caller has heard ``item_id`` up to ``audio_ms``; earlier items were heard whole."""
        if item_id not in self._items:
            return
        for earlier in list(self._items):
            if earlier == item_id:
                break
            del self._items[earlier]
        item = self._items[item_id]
        item.heard_ms = min(item.sent_ms, max(item.heard_ms, audio_ms))
        if item.heard_ms >= item.sent_ms and len(self._items) > 1:
            # Heard whole, and a later item is already queued: this one is done.
            del self._items[item_id]

    @property
    def playing(self) -> bool:
        """Whether audio sent to the caller has not been heard yet."""
        return any(item.heard_ms < item.sent_ms for item in self._items.values())

    def interrupt(self) -> list[Truncation]:
        """The caller barged in: the items cut short and how much of each was heard.

        Everything buffered is forgotten (the provider is told to drop it).  An item heard whole
        needs no truncation; one not heard at all is truncated at 0.
        """
        cut = [
            Truncation(item_id, int(item.heard_ms))
            for item_id, item in self._items.items()
            if item.heard_ms < item.sent_ms
        ]
        self._items.clear()
        return cut
