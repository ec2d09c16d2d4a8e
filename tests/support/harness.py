"""Test harness: a real relay (hypercorn, trio worker) on 127.0.0.1 port 0, and real clients.

`running_relay` serves the app in the test's own trio run, so tests can look at the relay's
registry and store directly and wait on its events instead of sleeping.  Clients are
trio-websocket connections over TCP streams the test owns (`Client`), so a test can also drop the
TCP connection without a close frame, or simply stop sending, as a broken browser would.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio_websocket

from app.admission.relay import Relay, StoreFactory, make_connector
from app.model.simulator_upstream import SimulatorConnector
from app.model.upstream import Upstream, UpstreamConnector
from app.process.server import serve_until
from app.rules.dialect import Dialect
from app.settings import Settings
from app.simulator import SimulatorOptions
from app.store.base import ConversationStore
from app.store.factory import open_store
from app.web.application import RelayApp, create_app

IO_TIMEOUT = 10.0


def relay_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a relay under test: port 0, its own data dir, short limits."""
    values: dict[str, Any] = {
        "port": 0,
        "data_dir": data_dir,
        "call_idle_timeout": 30.0,
        "save_timeout": 5.0,
        "checkpoint_interval": 60.0,
        "shutdown_grace": 10.0,
    }
    values.update(overrides)
    return Settings(**values)


@attrs.define(eq=False)
class DelegatingConnector:
    """The relay's real upstream connector, for a test double to wrap (override `connect`).

    Pass one to `running_relay` (``wrap_connector=MyConnector``): production code stays
    untouched, and the test sees or shapes the upstream side.
    """

    inner: UpstreamConnector

    @property
    def description(self) -> str:
        return self.inner.description

    @property
    def dialect(self) -> Dialect:
        return self.inner.dialect

    async def connect(self, nursery: trio.Nursery) -> Upstream:
        return await self.inner.connect(nursery)


@attrs.define(eq=False)
class CopyingUpstream:
    """The real upstream, with a copy of every text frame the relay sends the model."""

    inner: Upstream
    sent: list[str]

    async def send(self, text: str) -> None:
        self.sent.append(text)
        await self.inner.send(text)

    async def receive(self) -> str | bytes:
        return await self.inner.receive()

    async def aclose(self, code: int = 1000) -> None:
        await self.inner.aclose(code)


@attrs.define(eq=False)
class CopyingConnector(DelegatingConnector):
    sent: list[str] = attrs.field(factory=list)

    async def connect(self, nursery: trio.Nursery) -> Upstream:
        return CopyingUpstream(await self.inner.connect(nursery), self.sent)


def copying_into(sent: list[str]) -> Callable[[UpstreamConnector], UpstreamConnector]:
    """A ``wrap_connector`` for `running_relay` whose connector copies frames into ``sent``."""
    return lambda inner: CopyingConnector(inner, sent)


@attrs.define(eq=False)
class RunningRelay:
    app: RelayApp
    port: int
    stop: trio.Event

    @property
    def store(self) -> ConversationStore:
        return self.app.relay.store

    def url(self, path: str = "/api/realtime", **query: str) -> str:
        from urllib.parse import urlencode

        suffix = f"?{urlencode(query)}" if query else ""
        return f"ws://127.0.0.1:{self.port}{path}{suffix}"

    async def wait_calls_ended(self) -> None:
        with trio.fail_after(IO_TIMEOUT):
            await self.app.relay.registry.wait_idle()

    async def documents(self) -> list[dict[str, Any]]:
        page = await self.store.recent(limit=100)
        return list(page.items)


@asynccontextmanager
async def running_relay(
    settings: Settings,
    *,
    simulator: SimulatorOptions | None = None,
    store_factory: StoreFactory | None = None,
    wrap_connector: Callable[[UpstreamConnector], UpstreamConnector] | None = None,
) -> AsyncIterator[RunningRelay]:
    """Serve a relay built from its parts; ``simulator`` sets the in-process simulator's
    options, ``store_factory`` opens the store's back end, and ``wrap_connector`` wraps the
    upstream connector the settings describe (a `DelegatingConnector` that records or shapes
    the upstream side).

    By default the simulator streams replies 50x faster than real time, so a turn takes
    milliseconds; tests about playback timing ask for real-time pacing explicitly.
    """
    connector: UpstreamConnector | None = None
    if settings.uses_simulator:
        connector = SimulatorConnector(simulator or SimulatorOptions(speed=50.0))
    if wrap_connector is not None:
        connector = wrap_connector(connector or make_connector(settings))
    relay = Relay.from_settings(
        settings, connector=connector, store_factory=store_factory or open_store
    )
    app = create_app(settings, relay)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        with trio.fail_after(IO_TIMEOUT):
            binds = await nursery.start(serve_until, app, settings, stop)
        port = int(binds[0].rsplit(":", 1)[1])
        try:
            yield RunningRelay(app, port, stop)
        finally:
            stop.set()


@attrs.define(eq=False)
class Client:
    """A browser stand-in: a trio-websocket connection over a TCP stream the test owns."""

    ws: trio_websocket.WebSocketConnection
    stream: trio.SocketStream

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(event))

    async def receive(self) -> dict[str, Any]:
        with trio.fail_after(IO_TIMEOUT):
            message = await self.ws.get_message()
        event: dict[str, Any] = json.loads(message)
        return event

    async def receive_until(self, event_type: str) -> list[dict[str, Any]]:
        """Events up to and including the first of ``event_type``."""
        events = []
        while True:
            event = await self.receive()
            events.append(event)
            if event["type"] == event_type:
                return events

    async def type_text(self, text: str) -> None:
        """Add a typed user message to the conversation (no response asked for)."""
        await self.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            }
        )

    async def say(self, text: str) -> list[dict[str, Any]]:
        """A typed user turn and the model's whole response to it."""
        await self.type_text(text)
        await self.send({"type": "response.create"})
        return await self.receive_until("response.done")

    async def hang_up(self, code: int = 1000) -> None:
        with trio.fail_after(IO_TIMEOUT):
            await self.ws.aclose(code)

    async def drop(self) -> None:
        """Vanish without a close frame: close the TCP connection under the websocket."""
        await self.stream.aclose()

    async def wait_closed(self) -> trio_websocket.CloseReason:
        """Read until the relay closes the connection; its close reason."""
        with trio.fail_after(IO_TIMEOUT):
            while True:
                try:
                    await self.ws.get_message()
                except trio_websocket.ConnectionClosed as exc:
                    assert exc.reason is not None
                    return exc.reason


@asynccontextmanager
async def connect(relay: RunningRelay, **query: str) -> AsyncIterator[Client]:
    """Open a call; the connection is cleaned up when the block exits."""
    async with trio.open_nursery() as nursery:
        with trio.fail_after(IO_TIMEOUT):
            stream = await trio.open_tcp_stream("127.0.0.1", relay.port)
            resource = relay.url(**query).split(str(relay.port), 1)[1]
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, f"127.0.0.1:{relay.port}", resource
            )
        try:
            yield Client(ws, stream)
        finally:
            with trio.move_on_after(1):
                await ws.aclose()
            await stream.aclose()
            nursery.cancel_scope.cancel()


@attrs.frozen
class UpgradeAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


async def http_upgrade(port: int, resource: str, **headers: str) -> UpgradeAnswer:
    """Send a websocket handshake by hand and read the answer's head (and body, if refused).

    For what trio-websocket's client does not show: the negotiated extensions, and the status
    and reason of a refused handshake.
    """
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {resource} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    with trio.fail_after(IO_TIMEOUT):
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            await stream.send_all(request)
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = await stream.receive_some(4096)
                assert chunk, "connection closed during the handshake"
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode().split("\r\n")
            answer_headers = {
                k.strip().lower(): v.strip()
                for k, v in (line.split(":", 1) for line in header_lines)
            }
            length = int(answer_headers.get("content-length", "0"))
            while len(body) < length:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                body += chunk
    return UpgradeAnswer(int(status_line.split()[1]), answer_headers, body)


async def expect_refusal(port: int, resource: str, status: int, **headers: str) -> str:
    """Attempt a call that must be refused; the refusal's body (a one-line reason)."""
    answer = await http_upgrade(port, resource, **headers)
    assert answer.status == status, answer
    return answer.body.decode()
