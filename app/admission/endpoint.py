"""``WS /api/realtime``: admit a browser, then hand it to a `Call`.

Served as a bare ASGI endpoint rather than a Quart websocket route: the call then reads the
ASGI ``websocket.disconnect`` itself (with the real close code) instead of being cancelled by the
framework, and the audio hot path skips Quart's per-message layer (measured ~20 % more frames a
second on the same core).  Everything before the accept is cheap and synchronous: checks that
fail answer with a plain HTTP status and a one-line reason (the ASGI websocket HTTP response
extension, which hypercorn supports), so a refused browser learns why.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import parse_qsl

import attrs

from app.admission.auth import AuthError, customer_for_call, origin_allowed
from app.admission.registry import Refused
from app.admission.relay import Relay
from app.call.browser import BrowserSocket, Receive, Send
from app.call.call import Call
from app.call.settings import CallLimits
from app.rules.client_events import shown
from app.rules.session_config import SessionSettings

log = logging.getLogger(__name__)


@attrs.define(eq=False)
class RealtimeEndpoint:
    relay: Relay

    @property
    def limits(self) -> CallLimits:
        return CallLimits.from_settings(self.relay.settings)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            if not self.relay.ready:
                raise Refused("the server is still starting")
            customer_id = self._admit(scope)
        except AuthError as exc:
            await _refuse(send, exc.status, str(exc))
            return
        except Refused as exc:
            await _refuse(send, exc.status, str(exc))
            return
        call = Call(
            session_id=uuid.uuid4().hex,
            customer_id=customer_id,
            receive=receive,
            browser=BrowserSocket(send),
            connector=self.relay.connector,
            recorder=self.relay.recorder,
            limits=self.limits,
            catalog=self.relay.catalog,
            session_settings=SessionSettings(
                transcription_model=self.relay.settings.input_transcription_model,
                voice=self.relay.settings.voice,
            ),
            live=self.relay.live,
            recordings=self.relay.recordings,
        )
        # Registered before the accept, so a call is counted (and drained) from the moment the
        # browser could send its first frame.
        with self.relay.registry.registered(call):
            await send({"type": "websocket.accept"})
            await call.run()

    def _admit(self, scope: dict[str, Any]) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        settings = self.relay.settings
        if not origin_allowed(headers.get("origin"), headers.get("host"), settings.allowed_origins):
            # Bounded and escaped: the header is the client's, and the reason is logged.
            raise AuthError(403, f"origin {shown(headers.get('origin'))} is not allowed")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        customer_id = customer_for_call(
            query,
            settings.call_token_secret,
            max_lifetime=settings.call_token_max_lifetime,
            issuer=settings.call_token_issuer,
            audience=settings.call_token_audience,
        )
        self.relay.registry.check_admission(customer_id)
        return customer_id


async def _refuse(send: Send, status: int, reason: str) -> None:
    body = (reason + "\n").encode()
    log.info("Refused a call: HTTP %d %s", status, reason)
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})
