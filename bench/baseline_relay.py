"""The benchmark's baseline: a minimal aiohttp relay in the style of Azure's RTMiddleTier.

    .venv/bin/python bench/baseline_relay.py --upstream ws://127.0.0.1:P/v1/realtime --port Q

Why it exists: a capacity figure measured on a shared machine means little on its own.
bench/relay_bench.py runs this peer in the same invocation as the relay, minutes apart, and
reports the relay's figures as ratios to it.  It is what a team would otherwise pick (the
RTMiddleTier sample of azure-search-openai-demo: aiohttp on asyncio, two forwarding coroutines
per call, every event parsed with ``json.loads`` and written back with ``json.dumps``), and it does
none of the relay's work: no document, no tracker, no tools, no limits.  It is a dev dependency
of the benchmark only (the ``bench`` extra), never imported by the app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import suppress
from typing import Any

import aiohttp
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)


def _process_to_server(data: str) -> str | None:
    message: Any = json.loads(data)
    if message.get("type") == "session.update":
        message.get("session", {}).pop("tools", None)  # RTMiddleTier sets its own tools
    return json.dumps(message)


def _process_to_client(data: str) -> str | None:
    message: Any = json.loads(data)
    kind = message.get("type")
    if kind == "response.function_call_arguments.delta":
        return None  # RTMiddleTier withholds tool calls from the browser
    if kind == "session.created":
        message.get("session", {}).pop("instructions", None)
    return json.dumps(message)


async def realtime(request: web.Request) -> web.WebSocketResponse:
    # Declines permessage-deflate, as the relay does by default (WS_COMPRESSION=false).
    browser = web.WebSocketResponse(compress=False)
    await browser.prepare(request)
    # As RTMiddleTier: a client session per call (a shared one would cap calls at its
    # connector's limit of 100 connections).
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(request.app[UPSTREAM]) as model,
    ):

        async def from_browser() -> None:
            async for message in browser:
                if message.type == aiohttp.WSMsgType.TEXT:
                    forward = _process_to_server(message.data)
                    if forward is not None:
                        await model.send_str(forward)
            await model.close()

        async def from_model() -> None:
            async for message in model:
                if message.type == aiohttp.WSMsgType.TEXT:
                    forward = _process_to_client(message.data)
                    if forward is not None:
                        await browser.send_str(forward)
            await browser.close()

        # One side going away while the other was sending ends the call, quietly.
        with suppress(aiohttp.ClientConnectionResetError):
            await asyncio.gather(from_browser(), from_model())
    return browser


async def serve(upstream: str, port: int) -> None:
    app = web.Application()
    app[UPSTREAM] = upstream
    app.router.add_get("/api/realtime", realtime)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"relay listening on http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()  # until the benchmark terminates this process
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the model's ws:// URL")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.upstream, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
