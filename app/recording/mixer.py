"""The as-heard mixer: a call's audio events in, the stereo recording out.  Sans-IO.

Left is the caller, right is the agent, each placed at the moment the caller would have heard
or spoken it, on the call's own clock (seconds since the call started, passed in with every
event; nothing here reads a clock):

* **Caller audio** is placed where it arrived: a frame of *n* samples that arrives at *t*
  was spoken during the *n* samples before *t*.  Frames that arrive within
  `CALLER_TOLERANCE` of where the previous one ended are laid end to end (network jitter is
  not silence); a later one starts a new run at its own time (a muted or stalled browser).
* **Agent audio** is placed where it *played*, not where the model sent it: the model streams
  a reply faster than real time, and the browser (or the phone network) plays it out at real
  time from the first delta.  So each delta goes at the later of its arrival and the end of the
  audio queued before it.
* **Barge-in** cuts the agent's channel where the caller heard it stop, by the transcript's own
  rule: `heard_until` takes the ``audio_end_ms`` of the client's
  ``conversation.item.truncate`` (on phones, the provider's playback mark) and silences
  everything queued after that point; later deltas of that item are dropped.
* **Gaps**: audio the hot path had to drop (the writer fell behind) is reported with `lost`;
  it becomes silence of the same length, and `gaps` counts the runs.

`take` hands out the finished part, up to `HOLD` seconds before now (a truncate may still cut
what is queued after that), and `finish` the rest up to the call's end: audio queued past the
end was never heard and is dropped.  The output is interleaved PCM16 little-endian stereo at
``rate``; every sample is emitted exactly once, so the recording's length is the call's.
"""

from __future__ import annotations

from array import array
from typing import Final

import attrs

__all__ = ["CALLER_TOLERANCE", "HOLD", "MAX_LEAD", "AsHeardMixer"]

#: A caller frame arriving at most this much later than the previous one's end joins it.
CALLER_TOLERANCE: Final = 0.1
#: Seconds before "now" that `take` stops at: the agent's audio queued later may still be cut.
HOLD: Final = 1.0
#: Audio queued further than this ahead of its arrival (a runaway client, a reply longer than
#: any spoken one) is dropped and counted as a gap: it bounds the mixer's memory.
MAX_LEAD: Final = 180.0


@attrs.define(eq=False)
class AsHeardMixer:
    """Mixes one call; ``rate`` is the recording's sample rate (24000 on the web)."""

    rate: int
    #: Runs of audio lost before it reached the mixer, or dropped by `MAX_LEAD`.
    gaps: int = attrs.field(default=0, init=False)
    #: Samples per channel handed out so far.
    emitted: int = attrs.field(default=0, init=False)
    finished: bool = attrs.field(default=False, init=False)

    _left: bytearray = attrs.field(factory=bytearray, init=False)
    _right: bytearray = attrs.field(factory=bytearray, init=False)
    _caller_end: int | None = attrs.field(default=None, init=False)
    _agent_end: int = attrs.field(default=0, init=False)
    #: Per agent item: its audio's pieces as (offset in the item, position, samples).
    _items: dict[str, list[tuple[int, int, int]]] = attrs.field(factory=dict, init=False)
    _cut: set[str] = attrs.field(factory=set, init=False)

    @property
    def seconds(self) -> float:
        """Length of the audio handed out so far."""
        return self.emitted / self.rate

    def caller_audio(self, pcm: bytes, at: float) -> None:
        """``pcm`` (PCM16 mono) from the caller, received ``at`` seconds into the call."""
        samples = len(pcm) // 2
        if not samples or self.finished:
            return
        ideal = self._index(at) - samples
        end = self._caller_end
        start = end if end is not None and ideal <= end + self._index(CALLER_TOLERANCE) else ideal
        self._caller_end = self._place(self._left, start, pcm, at)

    def agent_audio(self, item_id: str, pcm: bytes, at: float) -> None:
        """``pcm`` (PCM16 mono) of the agent's item ``item_id``, received ``at`` seconds in."""
        samples = len(pcm) // 2
        if not samples or self.finished or item_id in self._cut:
            return
        start = max(self._index(at), self._agent_end)
        pieces = self._items.setdefault(item_id, [])
        offset = pieces[-1][0] + pieces[-1][2] if pieces else 0
        end = self._place(self._right, start, pcm, at)
        if end > start:
            pieces.append((offset, start, end - start))
        self._agent_end = max(self._agent_end, end)

    def heard_until(self, item_id: str, audio_end_ms: int) -> None:
        """The caller heard item ``item_id`` only up to ``audio_end_ms`` (a barge-in): silence
        the agent's channel from there on, and drop the item's later audio.

        An item with no audio yet, or an ``audio_end_ms`` past its audio, cuts from the end of
        what was queued for it (the rest of the queue was not heard either).
        """
        self._cut.add(item_id)
        pieces = self._items.get(item_id)
        if not pieces or self.finished:
            return
        heard = max(0, audio_end_ms) * self.rate // 1000
        cut_at = pieces[-1][1] + pieces[-1][2]
        for offset, position, samples in pieces:
            if heard < offset + samples:
                cut_at = position + max(0, heard - offset)
                break
        self._silence_right(cut_at)
        self._agent_end = max(cut_at, self.emitted)

    def lost(self, caller_samples: int, agent_samples: int, at: float) -> None:
        """Audio dropped before it reached the mixer, noticed ``at`` seconds in: one gap, and
        that much silence where the audio would have gone."""
        if self.finished or (caller_samples <= 0 and agent_samples <= 0):
            return
        self.gaps += 1
        if caller_samples > 0:
            start = self._caller_end
            if start is None or self._index(at) - caller_samples > start:
                start = max(0, self._index(at) - caller_samples)
            self._caller_end = start + caller_samples
        if agent_samples > 0:
            self._agent_end = max(self._agent_end, self._index(at)) + agent_samples

    def take(self, now: float) -> bytes:
        """The finished part: stereo PCM16 up to `HOLD` seconds before ``now``."""
        if self.finished:
            return b""
        return self._emit(self._index(now - HOLD))

    def finish(self, end: float) -> bytes:
        """The rest, up to the call's ``end``; nothing is accepted afterwards."""
        if self.finished:
            return b""
        out = self._emit(self._index(end))
        self.finished = True
        self._left.clear()
        self._right.clear()
        self._items.clear()
        return out

    # -- inside --------------------------------------------------------------------------------

    def _index(self, seconds: float) -> int:
        return round(seconds * self.rate)

    def _place(self, channel: bytearray, start: int, pcm: bytes, at: float) -> int:
        """Write ``pcm`` at sample ``start``; the sample after the last one kept."""
        samples = len(pcm) // 2
        limit = self._index(at + MAX_LEAD)
        end = min(start + samples, limit)
        if end < start + samples:
            self.gaps += 1
        first = max(start, self.emitted)
        if end <= first:
            return max(end, start)
        low = (first - self.emitted) * 2
        high = (end - self.emitted) * 2
        if len(channel) < high:
            channel.extend(bytes(high - len(channel)))
        skip = (first - start) * 2
        channel[low:high] = pcm[skip : skip + high - low]
        return end

    def _silence_right(self, start: int) -> None:
        low = max(0, (start - self.emitted) * 2)
        if low < len(self._right):
            del self._right[low:]

    def _emit(self, until: int) -> bytes:
        samples = until - self.emitted
        if samples <= 0:
            return b""
        size = samples * 2
        out = array("h", bytes(4 * samples))
        out[0::2] = _channel(self._left, size)
        out[1::2] = _channel(self._right, size)
        del self._left[:size]
        del self._right[:size]
        self.emitted = until
        return out.tobytes()


def _channel(buffer: bytearray, size: int) -> array[int]:
    """The first ``size`` bytes of ``buffer`` as samples, padded with silence."""
    piece = bytes(buffer[:size])
    if len(piece) < size:
        piece += bytes(size - len(piece))
    return array("h", piece)
