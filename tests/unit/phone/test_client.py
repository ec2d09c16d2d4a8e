"""PhoneClient and PhoneSocket over in-memory ASGI channels: what the call reads and sends."""

from __future__ import annotations

import json
from typing import Any

import trio

from app.call.browser import ASGIMessage
from app.phone.client import HANGUP_CODE, LOST_CODE, PhoneClient, PhoneSocket
from app.phone.twilio_media import TwilioMedia
from tests.support.twilio_messages import SID, SPEECH_STARTED, delta, mark_echo, media

Message = dict[str, Any]


def phone() -> tuple[PhoneClient, trio.MemorySendChannel[Message], list[Message]]:
    inbox, receive = trio.open_memory_channel[Message](16)
    sent: list[Message] = []

    async def send(message: ASGIMessage) -> None:
        sent.append(dict(message))

    socket = PhoneSocket(send, TwilioMedia(SID), clock=lambda: 0.0)
    return PhoneClient(receive.receive, socket, clock=lambda: 0.0), inbox, sent


def text(body: str) -> Message:
    return {"type": "websocket.receive", "text": body}


async def test_audio_in_hang_up_out() -> None:
    client, inbox, _ = phone()
    await inbox.send({"type": "websocket.receive", "bytes": b"ignored"})
    await inbox.send(text(media()))
    message = await client.receive()
    assert json.loads(message["text"])["type"] == "input_audio_buffer.append"
    await inbox.send(text(json.dumps({"event": "stop", "streamSid": SID})))
    assert await client.receive() == {"type": "websocket.disconnect", "code": HANGUP_CODE}
    assert client.hung_up


async def test_a_stream_that_ends_without_stop_is_lost_whatever_its_close_code() -> None:
    client, inbox, _ = phone()
    await inbox.send({"type": "websocket.disconnect", "code": 1000})
    assert await client.receive() == {"type": "websocket.disconnect", "code": LOST_CODE}


async def test_a_barge_in_clears_at_once_and_the_truncate_goes_out_before_the_next_frame() -> None:
    client, inbox, sent = phone()
    socket = client.socket
    await socket.send_text(delta("item_a", 100))
    await socket.send_text(delta("item_a", 100))
    first_mark = json.loads(sent[1]["text"])["mark"]["name"]
    await inbox.send(text(mark_echo(first_mark)))
    await inbox.send(text(media()))
    await client.receive()  # the echo is taken on the way to the caller's audio
    await socket.send_text(SPEECH_STARTED)
    assert json.loads(sent[-1]["text"]) == {"event": "clear", "streamSid": SID}
    await inbox.send(text(media()))
    truncate = json.loads((await client.receive())["text"])
    assert truncate["type"] == "conversation.item.truncate"
    assert truncate["audio_end_ms"] == 100
    assert json.loads((await client.receive())["text"])["type"] == "input_audio_buffer.append"


async def test_closing_hangs_up_once_and_nothing_is_sent_after() -> None:
    client, _, sent = phone()
    hung_up: list[bool] = []

    async def hang_up() -> None:
        hung_up.append(True)

    client.socket.hang_up = hang_up
    await client.socket.close(1001, "server shutting down")
    await client.socket.close(1001)
    await client.socket.send_text(delta("item_a", 20))
    await client.socket.send_error("upstream_error", "gone")
    assert sent == [{"type": "websocket.close", "code": 1001, "reason": "server shutting down"}]
    assert hung_up == [True]
    assert client.socket.errors == 1
