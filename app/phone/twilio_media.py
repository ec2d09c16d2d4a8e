"""Twilio Media Streams as a client dialect: a phone caller's side of a call (sans-IO).

Twilio connects a call's audio to the relay's websocket (TwiML ``<Connect><Stream>``,
bidirectional) and speaks JSON text messages keyed by ``event``:

* from Twilio: ``connected``, then ``start`` (stream and call ids, our custom parameters, the
  media format), ``media`` (20 ms of the caller's audio: base64 mu-law 8 kHz), ``dtmf``,
  ``mark`` (a mark we sent, echoed when the audio before it has played) and ``stop`` (the
  stream ended: the caller hung up);
* to Twilio: ``media`` (audio to play), ``mark`` (tell me when playback gets here) and
  ``clear`` (drop the audio buffered for playback, at once).

The model's session runs in ``g711_ulaw`` both ways, so the audio passes through untouched:
the caller's ``media`` payload becomes an ``input_audio_buffer.append``; a model audio delta
becomes a ``media`` message followed by a ``mark``.  When the model reports that the caller
started speaking while its reply is still playing, the dialect answers ``clear`` and a
``conversation.item.truncate`` cut where the last echoed mark says playback stood -- the rule
a browser follows for an interrupted reply.

`parse_start` reads the handshake; `TwilioMedia` is the dialect of one stream.  No I/O here.
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
from app.rules import g711
from app.rules.channels import Channel

__all__ = ["MULAW", "BadStream", "StreamStart", "TwilioMedia", "parse_start"]

#: The only media format Twilio streams (``start.mediaFormat.encoding``).
MULAW = "audio/x-mulaw"
#: Marks sent and not yet echoed that are remembered; a peer that never echoes them cannot grow
#: the call's memory (the oldest are forgotten: their audio counts as not heard).
MAX_PENDING_MARKS = 4096



class BadStream(ValueError):
    """The stream's handshake is not what Twilio sends (the socket is refused)."""


@attrs.frozen
class StreamStart:
    """The facts of Twilio's ``start`` message."""

    stream_sid: str
    call_sid: str
    #: Our ``<Parameter>`` values from the TwiML (the per-call token travels here).
    parameters: dict[str, str]


def parse_start(text: str) -> StreamStart | None:
    """The ``start`` message's facts; None for ``connected`` (which comes first).

    Raises:
        BadStream: anything else, or a ``start`` without its ids or in another format.
    """
    message = json_object(text)
    if message is None:
        raise BadStream("a message that is not a JSON object")
    event = message.get("event")
    if event == "connected":
        return None
    if event != "start":
        raise BadStream(f"expected 'start', got {str(event)[:40]!r}")
    start = message.get("start")
    if not isinstance(start, dict):
        raise BadStream("'start' without its object")
    stream_sid, call_sid = start.get("streamSid"), start.get("callSid")
    if not isinstance(stream_sid, str) or not stream_sid:
        raise BadStream("'start' without a streamSid")
    if not isinstance(call_sid, str) or not call_sid:
        raise BadStream("'start' without a callSid")
    media = start.get("mediaFormat")
    encoding = media.get("encoding") if isinstance(media, dict) else None
    if encoding != MULAW:
        raise BadStream(f"media format {str(encoding)[:40]!r}, expected {MULAW!r}")
    raw = start.get("customParameters")
    parameters = (
        {str(key): value for key, value in raw.items() if isinstance(value, str)}
        if isinstance(raw, dict)
        else {}
    )
    return StreamStart(stream_sid=stream_sid, call_sid=call_sid, parameters=parameters)


@attrs.define(eq=False)
class TwilioMedia:
    """The client dialect of one Twilio media stream."""

    stream_sid: str
    playback: Playback = attrs.field(factory=lambda: Playback(bytes_per_ms=g711.BYTES_PER_MS))
    #: Caller audio frames whose payload was not base64 (dropped, counted).
    bad_frames: int = 0
    #: DTMF digits the caller pressed (not forwarded: the model hears audio only).
    digits: str = ""
    _marks: dict[str, tuple[str, float]] = attrs.field(factory=dict)
    _next_mark: int = 0
    _media_head: str = attrs.field(init=False)
    _clear: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        sid = json.dumps(self.stream_sid)
        self._media_head = '{"event":"media","streamSid":' + sid + ',"media":{"payload":"'
        self._clear = '{"event":"clear","streamSid":' + sid + "}"

    @property
    def channel(self) -> Channel:
        return Channel.TWILIO

    # -- the caller's side ---------------------------------------------------------------------

    def from_caller(self, text: str, now: float) -> FromCaller:
        message = json_object(text)
        if message is None:
            return NOTHING_FROM_CALLER
        event = message.get("event")
        if event == "media":
            return self._media(message)
        if event == "mark":
            self._mark_played(message)
        elif event == "stop":
            return FromCaller(hung_up=True)
        elif event == "dtmf":
            dtmf = message.get("dtmf")
            digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
            if isinstance(digit, str) and len(self.digits) < 64:
                self.digits += digit[:1]
        return NOTHING_FROM_CALLER

    def _media(self, message: dict[str, Any]) -> FromCaller:
        media = message.get("media")
        if not isinstance(media, dict):
            self.bad_frames += 1
            return NOTHING_FROM_CALLER
        if media.get("track", "inbound") != "inbound":
            return NOTHING_FROM_CALLER
        payload = media.get("payload")
        event = audio_append(payload) if isinstance(payload, str) else None
        if event is None:
            self.bad_frames += 1
            return NOTHING_FROM_CALLER
        return FromCaller(to_model=(event,))

    def _mark_played(self, message: dict[str, Any]) -> None:
        mark = message.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str):
            return
        played = self._marks.pop(name, None)
        if played is not None:
            self.playback.heard(*played)

    # -- the model's side ----------------------------------------------------------------------

    def from_model(self, text: str, now: float) -> ToCaller:
        event = read_model_event(text)
        if isinstance(event, AudioOut):
            return self._play(event.item_id, event.audio)
        if event is SPEECH_STARTED:
            return self._barge_in()
        return NOTHING_TO_CALLER

    def _play(self, item_id: str, payload: str) -> ToCaller:
        if not payload:
            return NOTHING_TO_CALLER
        end_ms = self.playback.sent(item_id, len(payload) * 3 // 4 - payload.count("=", -2))
        name = f"m{self._next_mark}"
        self._next_mark += 1
        if len(self._marks) >= MAX_PENDING_MARKS:
            del self._marks[next(iter(self._marks))]
        self._marks[name] = (item_id, end_ms)
        media = self._media_head + payload + '"}}'
        mark = '{"event":"mark","streamSid":' + json.dumps(self.stream_sid)
        mark += ',"mark":{"name":"' + name + '"}}'
        return ToCaller(to_caller=(media, mark))

    def _barge_in(self) -> ToCaller:
        if not self.playback.playing:
            return NOTHING_TO_CALLER
        cuts = self.playback.interrupt()
        # Marks still pending belong to audio that will never play; Twilio may echo them
        # after the clear, and they must not count as heard.
        self._marks.clear()
        return ToCaller(
            to_caller=(self._clear,),
            to_model=tuple(truncate_event(cut.item_id, cut.audio_end_ms) for cut in cuts),
        )
