"""A stand-in for Twilio's side of a phone call, speaking Twilio's documented protocol.

`place_call` does what Twilio does when someone dials the number: it posts the voice webhook with
the caller's form fields, signed with the account's auth token by the ``twilio`` package's own
`RequestValidator` (as Twilio signs it); reads the TwiML answer; opens the ``<Stream>``'s
websocket (the public host mapped to the relay's loopback port, as DNS and a proxy would) and
sends ``connected`` and ``start`` with the ``<Parameter>`` values.  `TwilioStream` then streams
the caller's audio as ``media`` messages of 20 ms mu-law, paced in real time, and plays the
relay's audio the way Twilio's buffer does: each 20 ms the caller speaks, 20 ms of the buffered
reply plays, and a ``mark`` is echoed once the audio before it has played; ``clear`` empties the
buffer and echoes the marks still pending.

`speech_ulaw` makes real speech for the caller: espeak-ng, converted by sox to mu-law 8 kHz
(scripts/install-speech installs both).
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ElementTree
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx
import trio
import trio_websocket
from twilio.request_validator import RequestValidator

from tests.support.speech import ULAW_8K, spoken

IO_TIMEOUT = 10.0
FRAME_MS = 20
FRAME_BYTES = 160  # 20 ms of mu-law at 8 kHz
SILENCE = b"\xff" * FRAME_BYTES
PUBLIC_BASE_URL = "https://relay.example.test"


def speech_ulaw(text: str) -> bytes:
    """``text`` spoken by espeak-ng, as raw mu-law 8 kHz mono (what a phone line carries)."""
    return spoken(text, ULAW_8K)


def signed_headers(auth_token: str, url: str, form: dict[str, str]) -> dict[str, str]:
    signature = RequestValidator(auth_token).compute_signature(url, form)
    return {"X-Twilio-Signature": signature}


def voice_form(call_sid: str, caller: str) -> dict[str, str]:
    """The fields Twilio posts to a number's voice webhook (the ones that matter here)."""
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": "+15550001111",
        "Caller": caller,
        "Direction": "inbound",
        "From": caller,
        "To": "+15550001111",
    }


async def post_voice(
    port: int, auth_token: str, form: dict[str, str], *, signature: str | None = None
) -> httpx.Response:
    """Post the voice webhook as Twilio would (signed), or with ``signature`` instead."""
    path = "/api/phone/twilio/voice"
    headers = signed_headers(auth_token, PUBLIC_BASE_URL + path, form)
    if signature is not None:
        headers = {"X-Twilio-Signature": signature} if signature else {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=IO_TIMEOUT) as http:
        return await http.post(path, data=form, headers=headers)


@attrs.frozen
class StreamInstruction:
    url: str
    parameters: dict[str, str]


def read_twiml(xml: str) -> StreamInstruction:
    """The ``<Connect><Stream>`` of a TwiML answer (and that it hangs up after it)."""
    root = ElementTree.fromstring(xml)
    stream = root.find("./Connect/Stream")
    assert stream is not None, xml
    assert [child.tag for child in root] == ["Connect", "Hangup"], xml
    parameters = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    return StreamInstruction(stream.attrib["url"], parameters)


@attrs.define(eq=False)
class TwilioStream:
    """Twilio's end of one media stream."""

    ws: trio_websocket.WebSocketConnection
    tcp: trio.SocketStream
    stream_sid: str
    #: Audio received for playback, not yet played (bytes), with the marks between it.
    buffer: deque[bytes | str] = attrs.field(factory=deque)
    played_ms: int = 0
    received_audio: bytearray = attrs.field(factory=bytearray)
    clears: int = 0
    #: (name, played_ms) of every mark echoed because its audio played, in order.
    echoed: list[tuple[str, int]] = attrs.field(factory=list)
    #: played_ms when each clear arrived.
    cleared_at: list[int] = attrs.field(factory=list)
    audio_arrived: trio.Event = attrs.field(factory=trio.Event)
    closed: trio.Event = attrs.field(factory=trio.Event)
    close_code: int | None = None
    _sequence: int = 2

    def _message(self, event: str, **body: Any) -> str:
        self._sequence += 1
        message = {
            "event": event,
            "sequenceNumber": str(self._sequence),
            "streamSid": self.stream_sid,
        }
        return json.dumps(message | body)

    async def listen(self) -> None:
        """Take the relay's messages until it closes the stream (run in a task)."""
        try:
            while True:
                message = json.loads(await self.ws.get_message())
                assert message["streamSid"] == self.stream_sid
                if message["event"] == "media":
                    audio = base64.b64decode(message["media"]["payload"])
                    self.received_audio += audio
                    self.buffer.append(audio)
                    self.audio_arrived.set()
                elif message["event"] == "mark":
                    self.buffer.append(message["mark"]["name"])
                elif message["event"] == "clear":
                    self.clears += 1
                    self.cleared_at.append(self.played_ms)
                    pending = [m for m in self.buffer if isinstance(m, str)]
                    self.buffer.clear()
                    for name in pending:  # Twilio returns the marks it dropped
                        await self._echo(name, played=False)
        except trio_websocket.ConnectionClosed as exc:
            self.close_code = exc.reason.code if exc.reason is not None else None
        finally:
            self.closed.set()
            await self.tcp.aclose()

    async def _echo(self, name: str, *, played: bool = True) -> None:
        if played:
            self.echoed.append((name, self.played_ms))
        await self.ws.send_message(self._message("mark", mark={"name": name}))

    async def _play(self, ms: int) -> None:
        """``ms`` of the buffered reply plays; marks reached on the way are echoed."""
        budget = ms * 8
        while self.buffer and (budget > 0 or isinstance(self.buffer[0], str)):
            head = self.buffer[0]
            if isinstance(head, str):
                self.buffer.popleft()
                await self._echo(head)
                continue
            taken = head[:budget]
            budget -= len(taken)
            self.played_ms += len(taken) // 8
            if len(taken) == len(head):
                self.buffer.popleft()
            else:
                self.buffer[0] = head[len(taken) :]

    async def say(self, audio: bytes, *, pace: float = FRAME_MS / 1000) -> None:
        """Stream ``audio`` (mu-law) as 20 ms ``media`` messages in real time, playing meanwhile."""
        for offset in range(0, len(audio), FRAME_BYTES):
            frame = audio[offset : offset + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff")
            payload = base64.b64encode(frame).decode()
            media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload}
            await self.ws.send_message(self._message("media", media=media))
            await self._play(FRAME_MS)
            await trio.sleep(pace)

    async def silence(self, ms: int, *, pace: float = FRAME_MS / 1000) -> None:
        await self.say(SILENCE * (ms // FRAME_MS), pace=pace)

    async def hang_up(self) -> None:
        """The caller hangs up: Twilio sends ``stop`` and closes the stream."""
        await self.ws.send_message(
            self._message("stop", stop={"accountSid": "AC", "callSid": "CA"})
        )
        await self.ws.aclose()

    async def drop(self) -> None:
        """The stream breaks without a ``stop`` or a close frame."""
        await self.tcp.aclose()


async def open_stream(
    port: int, instruction: StreamInstruction, nursery: trio.Nursery, *, call_sid: str
) -> TwilioStream:
    """Open the ``<Stream>``'s websocket and send ``connected`` and ``start``."""
    path = urlsplit(instruction.url).path
    with trio.fail_after(IO_TIMEOUT):
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        ws = await trio_websocket.wrap_client_stream(nursery, tcp, f"127.0.0.1:{port}", path)
    stream_sid = "MZ" + call_sid[2:]
    await ws.send_message(
        json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    )
    start = {
        "accountSid": "AC" + "0" * 32,
        "streamSid": stream_sid,
        "callSid": call_sid,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": instruction.parameters,
    }
    await ws.send_message(
        json.dumps(
            {"event": "start", "sequenceNumber": "1", "start": start, "streamSid": stream_sid}
        )
    )
    return TwilioStream(ws, tcp, stream_sid)


async def place_call(
    port: int, auth_token: str, nursery: trio.Nursery, *, call_sid: str, caller: str
) -> TwilioStream:
    """Dial the number: the signed webhook, its TwiML, the media stream opened and started."""
    response = await post_voice(port, auth_token, voice_form(call_sid, caller))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    stream = await open_stream(port, read_twiml(response.text), nursery, call_sid=call_sid)
    nursery.start_soon(stream.listen)
    return stream
