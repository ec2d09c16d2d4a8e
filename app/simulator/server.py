"""The simulator as a standalone websocket server (trio-websocket).

Each connection runs one :func:`~app.simulator.session.run_session`.  Its options come from the
URL the client dialled (:meth:`SimulatorOptions.from_query`), so the relay can point its upstream
URL at the simulator unchanged (``/v1/realtime?model=...`` speaks GA, Azure's preview form
``/openai/realtime?api-version=...`` speaks beta) and a test can ask for a fault in the URL.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Final

import trio
from trio_websocket import WebSocketConnection, WebSocketRequest, serve_websocket

from app.simulator.faults import FAILURE_CODE, SimulatedClose
from app.simulator.options import SimulatorOptions
from app.simulator.session import run_session

logger = logging.getLogger(__name__)

#: Bound on the closing handshake after a simulated failure (the peer may never answer it).
CLOSE_TIMEOUT: Final = 5.0


async def serve(
    host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve simulated Realtime sessions on ``host:port`` until cancelled.

    Supports ``nursery.start``: ``port = await nursery.start(serve, "127.0.0.1", 0)`` returns the
    port actually bound (useful with port 0).

    Per connection: options from the request URL; ``refuse`` rejects the handshake with HTTP 503
    and unusable options with HTTP 400; a fault switch closes the websocket with its code.
    """
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_websocket, _handle, host, port, None))
        task_status.started(server.listeners[0].port)


async def _handle(request: WebSocketRequest) -> None:
    try:
        options = SimulatorOptions.from_query(request.path)
    except ValueError as exc:
        await request.reject(400, body=str(exc).encode())
        return
    if options.refuse:
        await request.reject(503, body=b"simulator refusing connections (refuse=1)")
        return
    ws = await request.accept()
    try:
        await run_session(partial(_receive, ws), ws.send_message, options)
    except SimulatedClose as close:
        with trio.move_on_after(CLOSE_TIMEOUT):
            await ws.aclose(close.code, close.reason)
    except Exception:
        # The edge of one connection: a simulator bug ends that connection, loudly, not the
        # server (a benchmark runs hundreds of connections through one server).
        logger.exception("simulated session failed (path %s)", request.path)
        with trio.move_on_after(CLOSE_TIMEOUT):
            await ws.aclose(FAILURE_CODE, "simulator error")


async def _receive(ws: WebSocketConnection) -> str:
    message = await ws.get_message()
    if isinstance(message, bytes):
        # The Realtime API speaks text frames; a binary frame gets the invalid-JSON error.
        return message.decode("utf-8", errors="replace")
    return message
