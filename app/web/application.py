"""The relay as one ASGI application.

`RelayApp` routes ``WS /api/realtime`` to the bare `RealtimeEndpoint`, a phone provider's media
socket to its endpoint (`app.phone.routes`), and everything else to the
quart-trio app.  It also owns the lifespan: the relay's services (store, flusher) live in a
nursery opened by the lifespan task, so they are started before the first request and stopped
— live calls drained and saved first — after the server stops accepting connections.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import trio

from app.admission.endpoint import RealtimeEndpoint
from app.admission.relay import Relay
from app.call.browser import ASGIMessage, Receive, Send
from app.fastpath import hypercorn_adapter
from app.phone.routes import phone_routes
from app.settings import Settings
from app.store.base import StoreError
from app.web.routes import create_web

log = logging.getLogger(__name__)

REALTIME_PATH = "/api/realtime"


@attrs.define(eq=False)
class RelayApp:
    relay: Relay
    web: Any
    realtime: RealtimeEndpoint
    #: Other bare websocket endpoints by path: the phone providers' media streams.
    sockets: dict[str, Any] = attrs.field(factory=dict)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket" and scope["path"] == REALTIME_PATH:
            await self.realtime(scope, receive, send)
        elif kind == "websocket" and scope["path"] in self.sockets:
            await self.sockets[scope["path"]](scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.web(scope, receive, send)

    async def _lifespan(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        async with trio.open_nursery() as services:
            startup = await receive()
            try:
                await self.relay.start(services)
            except Exception as exc:
                # A store that cannot be opened is the user's to fix: say why, no traceback.
                log.error("Start-up failed: %s", exc, exc_info=not isinstance(exc, StoreError))
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                services.cancel_scope.cancel()
                return
            replay: ASGIMessage | None = startup

            async def receive_for_web() -> ASGIMessage:
                nonlocal replay
                if replay is not None:
                    message, replay = replay, None
                    return message
                message = await receive()
                if message["type"] == "lifespan.shutdown":
                    await self.relay.aclose()
                return message

            try:
                await self.web(scope, receive_for_web, send)
            finally:
                services.cancel_scope.cancel()


def create_app(settings: Settings, relay: Relay | None = None) -> RelayApp:
    """Build the app around ``relay`` (default: the one the settings describe); no client or
    file is opened until the lifespan starts."""
    hypercorn_adapter.install(compression=settings.ws_compression)
    relay = relay or Relay.from_settings(settings)
    phone = phone_routes(relay)
    web = create_web(relay)
    for blueprint in phone.blueprints:
        web.register_blueprint(blueprint)
    return RelayApp(
        relay=relay, web=web, realtime=RealtimeEndpoint(relay), sockets=dict(phone.sockets)
    )
