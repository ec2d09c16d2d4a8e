"""Twilio: the voice webhook that answers a call, and the media socket the call's audio uses.

``POST /api/phone/twilio/voice`` is the number's "A call comes in" webhook.  Twilio signs it
(``X-Twilio-Signature``: HMAC of the URL it requested and the form fields, keyed with the
account's auth token); a request without a signature is refused before its body is read, one
with a wrong signature before any field is used.  The answer is TwiML (the ``twilio`` package's
`VoiceResponse`): ``<Connect><Stream>`` to the media socket, carrying a per-call token as a
stream parameter (Twilio's stream URLs take no query string), then ``<Hangup/>``: when the
relay closes the stream the call ends.

``WS /api/phone/twilio/media`` is the stream.  Twilio's first messages (``connected``,
``start``) come before anything else; the token in ``start`` must have been minted for that
call, else the socket is closed with 1008 and the refusal logged.  Then the caller is a `Call`
like any browser, its client side a `PhoneClient` over the `TwilioMedia` dialect, its model
session in ``g711_ulaw``.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import trio
from quart import Blueprint, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from app.admission.registry import Refused
from app.admission.relay import Relay
from app.call.browser import Receive, Send
from app.phone import tokens
from app.phone.caller_id import CallerIds
from app.phone.calls import phone_call, refuse_stream
from app.phone.client import PhoneClient, PhoneSocket
from app.phone.twilio_media import BadStream, StreamStart, TwilioMedia, parse_start
from app.rules.session_config import AudioFormat

__all__ = ["MEDIA_PATH", "VOICE_PATH", "TwilioMediaEndpoint", "TwilioPhone", "create_twilio_api"]

log = logging.getLogger(__name__)

VOICE_PATH = "/api/phone/twilio/voice"
MEDIA_PATH = "/api/phone/twilio/media"
TOKEN_PURPOSE = "twilio-media"
#: Seconds Twilio has after the websocket opens to send ``connected`` and ``start``.
HANDSHAKE_TIMEOUT = 10.0
#: Messages read looking for ``start`` (``connected`` comes first).
HANDSHAKE_MESSAGES = 3
#: A voice webhook's form is a few hundred bytes; anything far larger is not Twilio.
MAX_WEBHOOK_BYTES = 64 * 1024


@attrs.frozen
class TwilioPhone:
    """Twilio's settings, as the routes need them."""

    auth_token: str = attrs.field(repr=False)
    #: The https address at which Twilio reaches the relay (``PUBLIC_BASE_URL``).
    public_base_url: str
    caller_ids: CallerIds

    def signed_url(self, path: str, query: str) -> str:
        """The URL Twilio requested, as it signed it: the public address, not the one we see."""
        base = self.public_base_url.rstrip("/")
        return f"{base}{path}" + (f"?{query}" if query else "")

    def media_url(self) -> str:
        parts = urlsplit(self.public_base_url.rstrip("/") + MEDIA_PATH)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


def answer(phone: TwilioPhone, call_sid: str, customer_id: str | None, *, now: float) -> str:
    """The TwiML that connects ``call_sid`` to the media socket, then hangs up."""
    token = tokens.mint(phone.auth_token, TOKEN_PURPOSE, call_sid, customer_id, now=now)
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=phone.media_url())
    stream.parameter(name="token", value=token)
    response.append(connect)
    response.hangup()
    return str(response)


def busy() -> str:
    """The TwiML for a call the relay cannot take now: the caller hears a busy signal."""
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)


def create_twilio_api(relay: Relay, phone: TwilioPhone) -> Blueprint:
    api = Blueprint("twilio", __name__)
    validator = RequestValidator(phone.auth_token)

    @api.post(VOICE_PATH)
    async def voice() -> Response:
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            log.warning("Refused a Twilio voice webhook without a signature")
            return Response("missing X-Twilio-Signature\n", 403, content_type="text/plain")
        if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
            log.warning("Refused a Twilio voice webhook of %s bytes", request.content_length)
            return Response("request too large\n", 413, content_type="text/plain")
        form = await request.form
        url = phone.signed_url(request.path, request.query_string.decode("latin-1"))
        if not validator.validate(url, form, signature):
            log.warning("Refused a Twilio voice webhook with a bad signature (for %s)", url)
            return Response("invalid X-Twilio-Signature\n", 403, content_type="text/plain")
        call_sid = form.get("CallSid", "")
        if not call_sid:
            return Response("CallSid missing\n", 400, content_type="text/plain")
        customer_id = phone.caller_ids.customer_id(form.get("From"))
        try:
            if not relay.ready:
                raise Refused("the server is still starting")
            relay.registry.check_admission(customer_id)
        except Refused as exc:
            log.info("Rejected Twilio call %s: %s", call_sid, exc)
            return Response(busy(), content_type="text/xml")
        log.info("Answering Twilio call %s", call_sid)
        return Response(
            answer(phone, call_sid, customer_id, now=time.time()), content_type="text/xml"
        )

    return api


@attrs.define(eq=False)
class TwilioMediaEndpoint:
    """``WS /api/phone/twilio/media``: a Twilio media stream becomes a call."""

    relay: Relay
    phone: TwilioPhone

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        start = await self._handshake(receive)
        if start is None:
            await refuse_stream(send, receive, 1008, "expected Twilio's start message")
            return
        try:
            token = tokens.verify(
                self.phone.auth_token,
                TOKEN_PURPOSE,
                start.parameters.get("token"),
                start.call_sid,
            )
        except tokens.InvalidCallToken as exc:
            log.warning("Refused a Twilio media stream for call %s: %s", start.call_sid, exc)
            await refuse_stream(send, receive, 1008, "invalid token")
            return
        relay = self.relay
        try:
            if not relay.ready:
                raise Refused("the server is still starting")
            relay.registry.check_admission(token.customer_id)
        except Refused as exc:
            log.warning("Refused Twilio call %s: %s", start.call_sid, exc)
            await refuse_stream(send, receive, 1013, str(exc))
            return
        client = PhoneClient(receive, PhoneSocket(send, TwilioMedia(start.stream_sid)))
        call = phone_call(relay, client, token.customer_id, AudioFormat.G711_ULAW)
        log.info("Twilio call %s is session %s", start.call_sid, call.session_id)
        with relay.registry.registered(call):
            await call.run()

    async def _handshake(self, receive: Receive) -> StreamStart | None:
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            for _ in range(HANDSHAKE_MESSAGES):
                message = await receive()
                if message["type"] != "websocket.receive":
                    return None
                try:
                    start = parse_start(message.get("text") or "")
                except BadStream as exc:
                    log.warning("Refused a Twilio media stream: %s", exc)
                    return None
                if start is not None:
                    return start
        log.warning("Refused a Twilio media stream: no start message")
        return None
