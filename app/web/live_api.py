"""The live board's two streams, as server-sent events behind the admin token.

* ``GET /api/admin/live`` — every live call's row, then each change (a new call, a state or
  agent change, the end with its reason and stored conversation).
* ``GET /api/admin/live/<session_id>`` — one call: its row and transcript so far, then each
  line, interruption and row change, until the call ends.

Why server-sent events and not a WebSocket: the stream only goes one way; it is a plain HTTP
response, so it shares the admin API's auth check, headers (CSP included) and proxies'
handling, and a closed tab is an ordinary HTTP disconnect.  The page reads it with ``fetch()``
and a stream reader rather than ``EventSource``, because only ``fetch`` can send the token as
``Authorization: Bearer``: it never appears in a URL or an access log.

Each response is one `Watcher` of the `LiveHub`: this module drains it at the browser's pace
(hypercorn's send waits for the socket), which the call never sees.  A watcher the hub dropped
for lagging gets a ``lagged`` event and the stream ends; the page reconnects and starts over
from a snapshot.  A comment line every `HEARTBEAT` seconds keeps idle proxies from closing the
stream and lets a vanished browser be noticed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio
from quart import Blueprint, Response

from app.admission.relay import Relay
from app.live.hub import CallFeed, LiveHub, Watcher
from app.live.projection import Update
from app.web.common import admin_refusal, problem

HEARTBEAT = 15.0


def sse(event: str, data: Any) -> bytes:
    """One server-sent event (JSON has no raw newlines, so one ``data:`` line suffices)."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def drain(watcher: Watcher, first: bytes, done: Callable[[], None]) -> AsyncIterator[bytes]:
    """The event stream of one watcher: ``first``, then its updates; ``done`` unsubscribes."""
    try:
        yield first
        while True:
            update: Update | None = None
            with trio.move_on_after(HEARTBEAT):
                try:
                    update = await watcher.receive.receive()
                except trio.EndOfChannel:
                    break
            yield b": keep-alive\n\n" if update is None else sse(update.event, update.as_json())
        if watcher.lagged:
            yield sse("lagged", {"message": "This view fell behind and lost updates."})
    finally:
        done()


def stream(body: AsyncIterator[bytes]) -> Response:
    response = Response(
        body,
        content_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.timeout = None  # quart's RESPONSE_TIMEOUT would cut a long call off
    return response


def create_live_api(relay: Relay, hub: LiveHub) -> Blueprint:
    api = Blueprint("live_api", __name__, url_prefix="/api/admin/live")

    def authorised() -> Response | None:
        return admin_refusal(relay.settings.admin_token)

    def feeds() -> list[CallFeed]:
        return [call.feed for call in relay.registry.calls()]

    @api.get("")
    async def board() -> Response:
        refused = authorised()
        if refused is not None:
            return refused
        watcher = hub.watch_board()
        rows = [feed.row().as_json() for feed in feeds()]
        first = sse("snapshot", {"calls": rows})
        return stream(drain(watcher, first, lambda: hub.unwatch_board(watcher)))

    @api.get("/<session_id>")
    async def call(session_id: str) -> Response:
        refused = authorised()
        if refused is not None:
            return refused
        feed = next((feed for feed in feeds() if feed.session_id == session_id), None)
        if feed is None:
            return problem(404, "no live call with that session id")
        watcher, row, lines = feed.watch()
        first = sse("snapshot", {"row": row.as_json(), "lines": [line.as_json() for line in lines]})
        return stream(drain(watcher, first, lambda: feed.unwatch(watcher)))

    return api
