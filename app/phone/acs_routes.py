"""Azure Communication Services: the Event Grid webhook that answers a call, the Call Automation
callbacks, and the media socket a call's audio uses.

``POST /api/phone/acs/incoming?key=ACS_WEBHOOK_KEY`` is the Event Grid subscription's webhook.
Without the key it is refused (401) before the body is read.  It answers Event Grid's
subscription validation handshake, and answers each ``Microsoft.Communication.IncomingCall``
through the SDK (`app.phone.acs_client`) with media streaming to the media socket and a callback
URL, both carrying the call's token (`app.phone.acs_auth.CallTokens`).  A relay that cannot take
the call now (full, draining, starting) rejects it: the caller hears busy.

``POST /api/phone/acs/callbacks?token=...`` takes Call Automation's events for the call.  Without
a valid token, or without ACS's signature (JWT), it is refused (401) and logged, before the body
is read.  ``CallDisconnected`` is the caller hanging up: the call ends as ``user_hangup``.

``WS /api/phone/acs/media?token=...`` is the stream.  The token and ACS's signature are checked
before anything is read (close 1008 and a log line otherwise), then the stream's first message,
``AudioMetadata``, must name the format the call was answered with (PCM 24 kHz mono; otherwise
close 1008 and the call is hung up); then the caller is a `Call` like
any browser, its client side a `PhoneClient` over the `AcsMedia` dialect.  ACS says nothing on
the stream when the caller hangs up; when the stream ends the socket waits briefly for the
``CallDisconnected`` callback, then asks Call Automation whether the call is still up (the
callback may have reached another worker process): gone means ``user_hangup``, still up means
the stream dropped (``connection_lost``, and the relay hangs up so the caller is not left in
silence).  When the relay ends a call (limits, shutdown, the model gone) it hangs up through the
SDK, and the document keeps the relay's reason.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import trio
from quart import Blueprint, Response, request

from app.admission.registry import Refused
from app.admission.relay import Relay
from app.call.browser import ASGIMessage, Receive, Send
from app.call.call import Call
from app.model.azure_credential import CredentialFactory, default_credential
from app.phone.acs_auth import AcsSignatures, CallClaims, CallTokens, SignatureError, webhook_key_ok
from app.phone.acs_client import AcsClient, CallAutomation, CallAutomationError
from app.phone.acs_events import (
    CallEvent,
    EventError,
    IncomingCall,
    Validation,
    read_callbacks,
    read_webhook,
)
from app.phone.acs_media import AcsMedia, BadMedia, parse_metadata
from app.phone.caller_id import CallerIds
from app.phone.calls import phone_call, refuse_stream
from app.phone.client import PhoneClient, PhoneSocket
from app.rules.reasons import DisconnectReason
from app.settings import Settings

__all__ = [
    "CALLBACKS_PATH",
    "INCOMING_PATH",
    "MEDIA_PATH",
    "AcsLine",
    "AcsMediaEndpoint",
    "AcsPhone",
    "create_acs_api",
]

log = logging.getLogger(__name__)

INCOMING_PATH = "/api/phone/acs/incoming"
CALLBACKS_PATH = "/api/phone/acs/callbacks"
MEDIA_PATH = "/api/phone/acs/media"
#: An Event Grid post holds at most a few events of a few kilobytes; far larger is not ACS.
MAX_POST_BYTES = 1024 * 1024
#: After the media stream ends, how long to wait for ``CallDisconnected`` before asking ACS.
HANGUP_GRACE = 2.0
#: A call's token outlives the longest call by this much (ACS posts the last callbacks after it).
TOKEN_MARGIN = 600.0
#: Seconds ACS has after the websocket opens to send its first message, ``AudioMetadata``.
HANDSHAKE_TIMEOUT = 10.0
#: Bound on hanging up (or asking about) a call at the end, past the SDK's own timeouts.
END_TIMEOUT = 15.0


@attrs.define(eq=False)
class AcsLine:
    """What this process knows of one answered call, by its token's id."""

    correlation_id: str
    call_connection_id: str | None = None
    #: ACS said the call is over (``CallDisconnected``).
    disconnected: trio.Event = attrs.field(factory=trio.Event)
    call: Call | None = None
    client: PhoneClient | None = None


@attrs.define(eq=False)
class AcsPhone:
    """ACS's settings and services as the routes need them, and the calls of this process."""

    webhook_key: str = attrs.field(repr=False)
    #: The https address at which ACS reaches the relay (``PUBLIC_BASE_URL``).
    public_base_url: str
    caller_ids: CallerIds
    tokens: CallTokens
    signatures: AcsSignatures
    automation: CallAutomation
    lines: dict[str, AcsLine] = attrs.field(factory=dict)
    #: Lines kept for calls without a stream here (answered by this process, or reported to it
    #: by callbacks while another worker holds the stream): the oldest go first beyond this.
    max_idle_lines: int = 1000
    #: After a stream ends, how long to wait for ``CallDisconnected`` before asking ACS.
    hangup_grace: float = HANGUP_GRACE

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        caller_ids: CallerIds,
        credential: CredentialFactory = default_credential,
    ) -> AcsPhone:
        """ACS as the settings describe it (`Settings.acs_enabled` must be true)."""
        assert settings.acs_webhook_key and settings.acs_resource_id
        assert settings.public_base_url
        if settings.acs_connection_string is not None:
            automation = AcsClient.from_connection_string(settings.acs_connection_string)
        else:
            assert settings.acs_endpoint is not None
            automation = AcsClient.from_endpoint(settings.acs_endpoint, credential)
        return cls(
            webhook_key=settings.acs_webhook_key,
            public_base_url=settings.public_base_url,
            caller_ids=caller_ids,
            # Callbacks come until the call ends: the token lives as long as the longest call.
            tokens=CallTokens.from_webhook_key(
                settings.acs_webhook_key, lifetime=settings.call_max_duration + TOKEN_MARGIN
            ),
            signatures=AcsSignatures(
                audience=settings.acs_resource_id, jwks_url=settings.acs_jwks_url
            ),
            automation=automation,
        )

    def callback_url(self, token: str) -> str:
        return f"{self.public_base_url.rstrip('/')}{CALLBACKS_PATH}?{urlencode({'token': token})}"

    def media_url(self, token: str) -> str:
        parts = urlsplit(self.public_base_url.rstrip("/") + MEDIA_PATH)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path, urlencode({"token": token}), ""))

    def line(self, claims: CallClaims) -> AcsLine:
        """This process's line for the call ``claims`` names (made on first use)."""
        line = self.lines.get(claims.token_id)
        if line is None:
            idle = [key for key, known in self.lines.items() if known.call is None]
            for key in idle[: max(0, len(idle) - self.max_idle_lines + 1)]:
                del self.lines[key]  # oldest first: dicts keep insertion order
            line = self.lines[claims.token_id] = AcsLine(claims.correlation_id)
        return line

    async def answer(self, relay: Relay, call: IncomingCall) -> None:
        """Answer (or, if the relay cannot take it now, reject) one incoming call."""
        customer_id = self.caller_ids.customer_id(call.caller)
        try:
            if not relay.ready:
                raise Refused("the server is still starting")
            relay.registry.check_admission(customer_id)
        except Refused as exc:
            log.info("Rejecting ACS call %s: %s", call.correlation_id, exc)
            await self.automation.reject(call.context)
            return
        token = self.tokens.issue(call.correlation_id, customer_id, time.time())
        claims = self.tokens.check(token)
        line = self.line(claims)
        try:
            line.call_connection_id = await self.automation.answer(
                call.context, self.callback_url(token), self.media_url(token)
            )
        except BaseException:
            del self.lines[claims.token_id]
            raise
        log.info(
            "Answered ACS call %s (connection %s)", call.correlation_id, line.call_connection_id
        )

    def on_event(self, claims: CallClaims, event: CallEvent) -> None:
        """A Call Automation event about the call ``claims`` names."""
        line = self.line(claims)
        line.call_connection_id = line.call_connection_id or event.call_connection_id
        detail = f": {event.detail}" if event.detail else ""
        if event.kind == "CallDisconnected":
            log.info("ACS call %s: CallDisconnected%s", claims.correlation_id, detail)
            line.disconnected.set()
            if line.call is None:
                self.lines.pop(claims.token_id, None)  # no stream here to end
            else:
                if line.client is not None:
                    line.client.hung_up = True
                line.call.end(DisconnectReason.USER_HANGUP)
        elif event.kind == "MediaStreamingFailed":
            log.warning("ACS call %s: media streaming failed%s", claims.correlation_id, detail)
            if line.call is not None:
                line.call.end(DisconnectReason.CONNECTION_LOST)
        else:
            log.info("ACS call %s: %s%s", claims.correlation_id, event.kind, detail)


def create_acs_api(relay: Relay, phone: AcsPhone) -> Blueprint:
    api = Blueprint("acs", __name__)

    @api.post(INCOMING_PATH)
    async def incoming() -> Response:
        if not webhook_key_ok(request.args.get("key"), phone.webhook_key):
            log.warning("Refused an ACS webhook post without the right ?key=")
            return _text(401, "a valid ?key= is required")
        if (request.content_length or 0) > MAX_POST_BYTES:
            return _text(413, "request too large")
        try:
            events = read_webhook(await _body())
        except EventError as exc:
            log.warning("Refused an ACS webhook post: %s", exc)
            return _text(400, str(exc))
        for event in events:
            if isinstance(event, Validation):
                log.info("Answered Event Grid's subscription validation")
                return _json({"validationResponse": event.code})
            try:
                await phone.answer(relay, event)
            except CallAutomationError as exc:
                # 503: Event Grid delivers the event again, and the call may still be answered.
                log.error("ACS call %s not answered: %s", event.correlation_id, exc)
                return _text(503, "the call could not be answered")
        return _json({})

    @api.post(CALLBACKS_PATH)
    async def callbacks() -> Response:
        try:
            claims = phone.tokens.check(request.args.get("token"))
            await phone.signatures.check(request.headers.get("Authorization"))
        except SignatureError as exc:
            log.warning("Refused an ACS callback: %s", exc)
            return _text(401, "unauthorized")
        if (request.content_length or 0) > MAX_POST_BYTES:
            return _text(413, "request too large")
        try:
            events = read_callbacks(await _body())
        except EventError as exc:
            log.warning("Refused an ACS callback: %s", exc)
            return _text(400, str(exc))
        for event in events:
            phone.on_event(claims, event)
        return _json({})

    return api


@attrs.define(eq=False)
class AcsMediaEndpoint:
    """``WS /api/phone/acs/media``: an ACS media stream becomes a call."""

    relay: Relay
    phone: AcsPhone

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            claims = self.phone.tokens.check(query.get("token"))
            await self.phone.signatures.check(headers.get("authorization"))
        except SignatureError as exc:
            log.warning("Refused an ACS media stream: %s", exc)
            await refuse_stream(send, receive, 1008, "unauthorized")
            return
        relay = self.relay
        try:
            if not relay.ready:
                raise Refused("the server is still starting")
            relay.registry.check_admission(claims.customer_id)
        except Refused as exc:
            log.warning("Refused ACS call %s: %s", claims.correlation_id, exc)
            await refuse_stream(send, receive, 1013, str(exc))
            await self._hang_up(headers.get("x-ms-call-connection-id"))
            return
        line = self.phone.line(claims)
        line.call_connection_id = line.call_connection_id or headers.get("x-ms-call-connection-id")
        problem = await self._handshake(receive)
        if problem is not None:
            log.warning("Refused ACS call %s's media stream: %s", claims.correlation_id, problem)
            await refuse_stream(send, receive, 1008, "unexpected media format")
            self.phone.lines.pop(claims.token_id, None)
            await self._hang_up(line.call_connection_id)
            return
        await self._run(claims, line, receive, send)

    async def _handshake(self, receive: Receive) -> str | None:
        """Read ACS's first message, ``AudioMetadata``; what is wrong with it, or None."""
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            message = await receive()
            if message["type"] != "websocket.receive":
                return "the stream ended before its AudioMetadata"
            try:
                parse_metadata(message.get("text") or "")
            except BadMedia as exc:
                return str(exc)
            return None
        return f"no AudioMetadata within {HANDSHAKE_TIMEOUT:g} s"

    async def _run(self, claims: CallClaims, line: AcsLine, receive: Receive, send: Send) -> None:
        relay = self.relay

        async def hang_up() -> None:
            if not line.disconnected.is_set():
                await self._hang_up(line.call_connection_id)

        async def receive_stream() -> ASGIMessage:
            message = await receive()
            if message["type"] == "websocket.disconnect" and call.reason is None:
                # The stream ended while the call was on: a hang-up, or a drop?
                client.hung_up = client.hung_up or await self._caller_hung_up(line)
            return message

        client = PhoneClient(receive_stream, PhoneSocket(send, AcsMedia(), hang_up=hang_up))
        call = phone_call(relay, client, claims.customer_id)
        line.call, line.client = call, client
        if line.disconnected.is_set():
            call.end(DisconnectReason.USER_HANGUP)  # the caller was quicker than the stream
        log.info("ACS call %s is session %s", claims.correlation_id, call.session_id)
        try:
            with relay.registry.registered(call):
                await call.run()
        finally:
            self.phone.lines.pop(claims.token_id, None)
            if call.reason is DisconnectReason.CONNECTION_LOST:
                # The stream dropped but the call may still be up: do not leave the caller in
                # silence.
                with trio.CancelScope(shield=True):
                    await hang_up()

    async def _caller_hung_up(self, line: AcsLine) -> bool:
        """The stream ended: did the caller hang up (rather than the stream drop)?"""
        with trio.move_on_after(self.phone.hangup_grace):
            await line.disconnected.wait()
            return True
        if line.call_connection_id is None:
            return False
        try:
            with trio.move_on_after(END_TIMEOUT):
                return not await self.phone.automation.is_connected(line.call_connection_id)
        except CallAutomationError as exc:
            log.warning("Could not ask ACS whether call %s is up: %s", line.correlation_id, exc)
        return False

    async def _hang_up(self, call_connection_id: str | None) -> None:
        if call_connection_id is None:
            return
        try:
            with trio.move_on_after(END_TIMEOUT):
                await self.phone.automation.hang_up(call_connection_id)
                return
            log.warning("ACS did not hang up call %s in time", call_connection_id)
        except CallAutomationError as exc:
            log.warning("%s", exc)


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), 200, content_type="application/json")


async def _body() -> bytes:
    data = await request.get_data()
    return data if isinstance(data, bytes) else data.encode()


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status, content_type="text/plain; charset=utf-8")
