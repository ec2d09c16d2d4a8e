"""Azure Communication Services media streaming as a client dialect: a phone caller's side of a
call (sans-IO).

ACS Call Automation streams a call's audio to the websocket the relay names when it answers
(``enableBidirectional``, ``PCM24KMono``) and speaks JSON text messages keyed by ``kind``:

* from ACS: ``AudioMetadata`` (first: the stream's format, `parse_metadata`; the media socket
  refuses a stream in another format), ``AudioData`` (20 ms of the
  caller's audio, base64 PCM16 24 kHz mono; ``silent`` packets may carry no samples) and
  ``DtmfData`` (key presses);
* to ACS: ``AudioData`` (audio to play into the call) and ``StopAudio`` (drop what is queued
  for playback, at once).

PCM 24 kHz mono is the Realtime API's own format, so audio passes through as the same base64
text, never decoded or resampled.  The caller's ``AudioData`` becomes an
``input_audio_buffer.append``; a model audio delta becomes an outbound ``AudioData``.

ACS says nothing in-band about a hang-up (that comes as a ``CallDisconnected`` callback,
`app.phone.acs_routes`) nor about where playback stands, so the dialect keeps a playback
clock: ACS plays what it is sent in order and in real time, starting when it arrives (a chunk
that arrives while earlier audio still plays waits its turn).  When the model reports that the
caller started speaking while a reply still plays, the dialect answers ``StopAudio`` and the
``conversation.item.truncate`` a browser would send, cut where the clock says playback stood --
the heard-part rule for interrupted replies.  Audio of a reply cut that way that still arrives
(the model cancels a moment later) is dropped.

No I/O and no clock of its own: the caller passes the time, in seconds.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from app.phone.dialect import (
    NOTHING_FROM_CALLER,
    NOTHING_TO_CALLER,
    SPEECH_STARTED,
    AudioOut,
    FromCaller,
    ToCaller,
    audio_append,
    json_object,
    read_model_event,
    truncate_event,
)
from app.phone.playback import Playback
from app.rules.channels import Channel

__all__ = [
    "ACS_CHANNELS",
    "ACS_SAMPLE_RATE",
    "STOP_AUDIO",
    "AcsMedia",
    "BadMedia",
    "audio_data_message",
    "parse_metadata",
]

#: The format the relay answers calls with (``AudioFormat.PCM24_K_MONO``): the Realtime API's.
ACS_SAMPLE_RATE = 24_000
ACS_CHANNELS = 1
#: PCM16 at 24 kHz mono: bytes of audio per millisecond.
BYTES_PER_MS = ACS_SAMPLE_RATE * 2 * ACS_CHANNELS // 1000

#: Drops the audio ACS has queued for the call (the documented outbound message).
STOP_AUDIO = json.dumps({"kind": "StopAudio", "audioData": None, "stopAudio": {}})



class BadMedia(ValueError):
    """ACS sent something the relay cannot understand or play; the message says what."""


def audio_data_message(audio: str) -> str:
    """An outbound ``AudioData`` message playing ``audio`` (base64 PCM16 24 kHz mono)."""
    return '{"kind":"AudioData","audioData":{"data":"' + audio + '"},"stopAudio":null}'


def base64_bytes(text: str) -> int:
    """How many bytes ``text`` (valid base64) decodes to, without decoding it."""
    return len(text) * 3 // 4 - text[-2:].count("=") if text else 0


@attrs.define
class PlaybackClock:
    """When each piece of audio sent to ACS plays: ACS plays in order, in real time."""

    #: (start time, item id, ms of the item before this chunk, chunk ms), in play order.
    _chunks: list[tuple[float, str, float, float]] = attrs.field(factory=list)
    #: When everything sent so far has finished playing.
    ends_at: float = 0.0

    def add(self, item_id: str, before_ms: float, ms: float, now: float) -> None:
        start = max(now, self.ends_at)
        if start > self.ends_at:
            self._chunks.clear()  # all earlier audio has played
        self._chunks.append((start, item_id, before_ms, ms))
        self.ends_at = start + ms / 1000

    def position(self, now: float) -> tuple[str, float] | None:
        """The item playing at ``now`` and how much of it has been heard; None if silent."""
        if now >= self.ends_at:
            return None
        for start, item_id, before_ms, ms in reversed(self._chunks):
            if start <= now:
                return item_id, before_ms + min(ms, (now - start) * 1000)
        _, item_id, before_ms, _ = self._chunks[0]
        return item_id, before_ms

    def stop(self, now: float) -> None:
        self._chunks.clear()
        self.ends_at = now


@attrs.define
class AcsMedia:
    """The dialect of one ACS media stream (`app.phone.dialect.ClientDialect`)."""

    playback: Playback = attrs.field(factory=lambda: Playback(bytes_per_ms=BYTES_PER_MS))
    clock: PlaybackClock = attrs.field(factory=PlaybackClock)
    #: Messages from ACS that were not what the protocol says (dropped).
    bad_frames: int = 0
    #: Replies the caller talked over: their late audio is dropped.
    _cut: set[str] = attrs.field(factory=set)

    @property
    def channel(self) -> Channel:
        return Channel.ACS

    # -- caller -> model -----------------------------------------------------------------------

    def from_caller(self, text: str, now: float) -> FromCaller:
        """One message from ACS after the stream's `parse_metadata`: the caller's audio.

        A malformed message is counted in ``bad_frames`` and dropped, as a browser's bad frame
        would be refused: one lost packet is 20 ms of audio, not a reason to end a call.
        """
        message = json_object(text)
        kind = _field(message, "kind") if message is not None else None
        if kind == "AudioData":
            assert message is not None
            data = _field(message, "audioData")
            audio = _field(data, "data") if isinstance(data, dict) else None
            if audio == "":
                return NOTHING_FROM_CALLER  # a silent packet may carry no samples
            append = audio_append(audio) if isinstance(audio, str) else None
            if append is not None:
                return FromCaller(to_model=(append,))
        elif kind in ("AudioMetadata", "DtmfData"):
            return NOTHING_FROM_CALLER  # the format is settled; the agent is spoken to, not keyed
        self.bad_frames += 1
        return NOTHING_FROM_CALLER

    # -- model -> caller -----------------------------------------------------------------------

    def from_model(self, text: str, now: float) -> ToCaller:
        """One model event, as a browser would get it, at ``now``."""
        event = read_model_event(text)
        if isinstance(event, AudioOut):
            return self._play(event.item_id, event.audio, now)
        if event is SPEECH_STARTED:
            return self._barge_in(now)
        return NOTHING_TO_CALLER

    def _play(self, item_id: str, delta: str, now: float) -> ToCaller:
        if not delta or item_id in self._cut:
            return NOTHING_TO_CALLER
        size = base64_bytes(delta)
        end_ms = self.playback.sent(item_id, size)
        ms = size / BYTES_PER_MS
        self.clock.add(item_id, end_ms - ms, ms, now)
        return ToCaller(to_caller=(audio_data_message(delta),))

    def _barge_in(self, now: float) -> ToCaller:
        position = self.clock.position(now)
        if position is None:
            return NOTHING_TO_CALLER  # nothing is playing: nothing to stop
        self.playback.heard(*position)
        cuts = self.playback.interrupt()
        self.clock.stop(now)
        self._cut.update(cut.item_id for cut in cuts)
        return ToCaller(
            to_caller=(STOP_AUDIO,),
            to_model=tuple(truncate_event(cut.item_id, cut.audio_end_ms) for cut in cuts),
        )


def parse_metadata(text: str) -> dict[str, Any]:
    """The stream's first message, ``AudioMetadata``: its format must be the one the relay
    answered the call with.  Raises `BadMedia` saying what is wrong."""
    message = json_object(text)
    if message is None:
        raise BadMedia("a first message that is not a JSON object")
    kind = _field(message, "kind")
    if kind != "AudioMetadata":
        raise BadMedia(f"expected AudioMetadata first, got {str(kind)[:40]!r}")
    metadata = _field(message, "audioMetadata")
    if not isinstance(metadata, dict):
        raise BadMedia("AudioMetadata without its 'audioMetadata' object")
    encoding = _field(metadata, "encoding")
    rate = _field(metadata, "sampleRate")
    channels = _field(metadata, "channels")
    if (str(encoding).upper(), rate, channels) != ("PCM", ACS_SAMPLE_RATE, ACS_CHANNELS):
        raise BadMedia(
            f"ACS streams {encoding} at {rate} Hz with {channels} channel(s); the relay answers "
            f"calls for PCM at {ACS_SAMPLE_RATE} Hz mono (PCM24KMono)"
        )
    return metadata


def _field(message: dict[str, Any], name: str) -> Any:
    """A field as ACS spells it: camelCase, or PascalCase (its outbound samples' spelling)."""
    if name in message:
        return message[name]
    return message.get(name[0].upper() + name[1:])
