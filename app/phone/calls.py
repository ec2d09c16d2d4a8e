"""What every phone provider's media socket does with a caller: refuse the stream, or make it a
`Call` whose client side is a `PhoneClient` and run it like a browser's.

Resource handling: `run_phone_call` owns nothing beyond the call it awaits (registered in the
relay's registry for its whole life, so limits and the shutdown drain count it).
"""

from __future__ import annotations

import uuid

import trio

from app.admission.relay import Relay
from app.call.browser import ASGIMessage, Receive, Send
from app.call.call import Call
from app.call.settings import CallLimits
from app.phone.client import PhoneClient
from app.rules.session_config import AudioFormat, SessionSettings

__all__ = ["REFUSE_TIMEOUT", "phone_call", "refuse_stream"]

#: Bound on closing a refused stream (the close frame and the peer's answer).
REFUSE_TIMEOUT = 2.0


def phone_call(
    relay: Relay,
    client: PhoneClient,
    customer_id: str | None,
    audio_format: AudioFormat = AudioFormat.PCM16,
) -> Call:
    """The call of a phone caller whose side is ``client``, on the relay's settings."""
    settings = relay.settings
    return Call(
        session_id=uuid.uuid4().hex,
        customer_id=customer_id,
        receive=client.receive,
        browser=client.socket,
        connector=relay.connector,
        recorder=relay.recorder,
        limits=CallLimits.from_settings(settings),
        catalog=relay.catalog,
        session_settings=SessionSettings(
            transcription_model=settings.input_transcription_model,
            voice=settings.voice,
            audio_format=audio_format,
        ),
        live=relay.live,
        channel=client.socket.dialect.channel,
        recordings=relay.recordings,
    )


async def refuse_stream(send: Send, receive: Receive, code: int, reason: str) -> None:
    """Close with ``code`` and read until the peer answers (bounded), so it reads the code."""
    message: ASGIMessage = {"type": "websocket.close", "code": code, "reason": reason}
    with trio.move_on_after(REFUSE_TIMEOUT):
        await send(message)
        while (await receive())["type"] != "websocket.disconnect":
            pass

