"""The hot path's side of the recording: hand audio to the writer, never wait for it.

The client and upstream loops call `RecordingTap.caller_frame` / `agent_delta` with the very
string they relay (no copy: the writer finds the base64 in it later), and the call passes
barge-ins (`heard_until`).  Everything goes through one trio memory channel with
``send_nowait`` under a byte bound (`RECORDING_BUFFER_BYTES`): when the writer has fallen that
far behind, the frame is not recorded, its length is counted, and the recording later gets
that much silence and a gap (`AsHeardMixer.lost`).  The voice is never delayed: nothing here
awaits, and a dropped frame costs one string search to measure it.
"""

from __future__ import annotations

import math
import re
from typing import Final

import attrs
import trio

from app.recording.stats import RecordingStats

__all__ = [
    "AGENT",
    "AGENT_B64",
    "CALLER",
    "CALLER_B64",
    "HEARD_UNTIL",
    "LOST",
    "RECORDING_BUFFER_BYTES",
    "Item",
    "RecordingTap",
    "base64_of",
]

#: Frame text the writer may be behind by, per call: about 8 s of audio both ways at 24 kHz.
RECORDING_BUFFER_BYTES: Final = 1 << 20
#: What an item costs besides its text (the tuple, the float), for the byte bound.
_ITEM_OVERHEAD: Final = 64

CALLER: Final = 0  # (CALLER, at, frame text with an "audio" field, "", 0)
CALLER_B64: Final = 1  # (CALLER_B64, at, base64, "", 0)
AGENT: Final = 2  # (AGENT, at, delta frame text, item id, 0)
AGENT_B64: Final = 3  # (AGENT_B64, at, base64, item id, 0)
HEARD_UNTIL: Final = 4  # (HEARD_UNTIL, at, "", item id, audio_end_ms)
LOST: Final = 5  # (LOST, at, "", "", caller samples << 32 | agent samples)

#: One event for the writer: kind, time on the call's clock, text, item id, number.
Item = tuple[int, float, str, str, int]

_AUDIO_FIELD = re.compile(r'"(?:audio|delta)"\s*:\s*"([A-Za-z0-9+/=]*)"')
_COMPACT_KEYS = ('"audio":"', '"delta":"')


def base64_of(text: str) -> str:
    """The base64 audio of a frame the loops recognised (``audio`` or ``delta``), or "".

    Two string searches for the compact layout every client and server writes; a regular
    expression for any other spacing (`app.rules.frames` lets whitespace through)."""
    for key in _COMPACT_KEYS:
        start = text.find(key)
        if start >= 0:
            start += len(key)
            end = text.find('"', start)
            if end >= 0:
                return text[start:end]
    match = _AUDIO_FIELD.search(text)
    return match.group(1) if match else ""


@attrs.define(eq=False)
class RecordingTap:
    """The sending side, owned by one call.  ``bytes_per_sample``: 2 (PCM16) or 1 (G.711)."""

    send: trio.MemorySendChannel[Item]
    stats: RecordingStats
    bytes_per_sample: int = 2
    limit: int = RECORDING_BUFFER_BYTES
    #: Bytes of item text sent and not yet received by the writer (it subtracts them).
    queued: int = 0
    _lost_caller: int = attrs.field(default=0, init=False)
    _lost_agent: int = attrs.field(default=0, init=False)

    @classmethod
    def open(
        cls,
        stats: RecordingStats,
        *,
        bytes_per_sample: int = 2,
        limit: int = RECORDING_BUFFER_BYTES,
    ) -> tuple[RecordingTap, trio.MemoryReceiveChannel[Item]]:
        """A tap and the writer's end of its channel."""
        # The byte bound is the real one; the item bound only stops a flood of tiny items.
        send, receive = trio.open_memory_channel[Item](max(16, limit // 256))
        return cls(send, stats, bytes_per_sample, limit), receive

    def caller_frame(self, text: str, at: float) -> None:
        """A plain ``input_audio_buffer.append`` the client loop forwarded unparsed."""
        if not self._offer((CALLER, at, text, "", 0)):
            self._lost_caller += self._samples(len(base64_of(text)))

    def caller_audio(self, b64: str, at: float) -> None:
        """The base64 ``audio`` of an append that took the careful path."""
        if not self._offer((CALLER_B64, at, b64, "", 0)):
            self._lost_caller += self._samples(len(b64))

    def agent_delta(self, item_id: str, text: str, b64_length: int, at: float) -> None:
        """A model audio delta the upstream loop relayed unparsed (``b64_length`` from
        `app.rules.frames.audio_delta_facts`)."""
        if not self._offer((AGENT, at, text, item_id, 0)):
            self._lost_agent += self._samples(b64_length)

    def agent_audio(self, item_id: str, b64: str, at: float) -> None:
        """The base64 ``delta`` of an audio delta that took the careful path."""
        if not self._offer((AGENT_B64, at, b64, item_id, 0)):
            self._lost_agent += self._samples(len(b64))

    def heard_until(self, item_id: str, audio_end_ms: int, at: float) -> None:
        """The caller heard ``item_id`` up to ``audio_end_ms`` only: the client's
        ``conversation.item.truncate``, or a phone provider's playback mark at a barge-in."""
        item = (HEARD_UNTIL, at, "", item_id, max(0, int(audio_end_ms)))
        # Not held to the byte bound (it carries no audio), only to the channel's item bound.
        if not self._flush_lost(at) or not self._send(item, _ITEM_OVERHEAD):
            # The agent's channel will not be cut where it should: the recording says so.
            self._lost_agent += 1

    def close(self) -> None:
        """No more items (the call is ending); what was lost last goes to the writer if it can."""
        self._flush_lost(trio.current_time())
        self.send.close()

    def _offer(self, item: Item) -> bool:
        if (self._lost_caller or self._lost_agent) and not self._flush_lost(item[1]):
            return False
        size = len(item[2]) + _ITEM_OVERHEAD
        if self.queued + size > self.limit:
            self.stats.dropped_items += 1
            return False
        return self._send(item, size)

    def _send(self, item: Item, size: int) -> bool:
        try:
            self.send.send_nowait(item)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self.stats.dropped_items += 1
            return False
        self.queued += size
        return True

    def _flush_lost(self, at: float) -> bool:
        """Tell the writer what was dropped, before anything newer; False if it cannot take it."""
        caller, agent = self._lost_caller, self._lost_agent
        if not caller and not agent:
            return True
        try:
            self.send.send_nowait((LOST, at, "", "", min(caller, 0xFFFFFFFF) << 32 | agent))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        self.queued += _ITEM_OVERHEAD
        self._lost_caller = self._lost_agent = 0
        return True

    def _samples(self, b64_length: int) -> int:
        return math.ceil(b64_length * 3 / 4) // self.bytes_per_sample
