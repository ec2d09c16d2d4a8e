"""The relay's side of the upstream (model) connection.

A call talks to its upstream through `Upstream`: ``send`` a text frame, ``receive`` the next one,
``aclose``.  Two implementations:

* `WebSocketUpstream` — a trio-websocket client connection to a Realtime endpoint.
* `app.model.simulator_upstream.InProcessUpstream` — the built-in simulator running as a task,
joined
  by two memory channels (no sockets: the embedded default and the cheapest peer for demos).
  It lives in its own module, so a relay with a real upstream never loads the simulator.

Both are opened by a connector's ``connect(nursery)``.  The nursery given there owns the
connection's background task (trio-websocket's reader, or the simulator) and must outlive the
call's own nursery, so that the call's shielded shutdown can still close the upstream politely:
a close handshake needs the reader task alive to see the peer's answer.

Error handling: every way an upstream can fail surfaces as one of two exceptions of ours,
`UpstreamUnavailable` (could not connect) and `UpstreamClosed` (the connection ended), raised
``from None`` so callers never need to know trio-websocket's exception zoo.
"""

from __future__ import annotations

import logging
import ssl
from typing import Protocol
from urllib.parse import urlsplit

import attrs
import trio
import trio_websocket

from app.fastpath.socket_stream import ReadinessSocketStream
from app.fastpath.websocket_client import wrap_client_stream
from app.model.upstream_auth import NoAuth, UpstreamAuth
from app.rules.dialect import Dialect
from app.rules.urls import host_and_port, shown_url

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
# Largest upstream message accepted; Realtime servers send audio in chunks far below this.
MAX_UPSTREAM_MESSAGE = 16 * 1024 * 1024
# Bytes per read of the upstream socket: several audio deltas per system call under load
# (trio-websocket's default of 4 KiB holds about two).
RECEIVE_BUFFER = 64 * 1024
# Messages trio-websocket's reader may queue for the call: with its default of 1, a read that
# brought several deltas hands them over one task switch at a time.
MESSAGE_QUEUE = 16


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or refused the connection; the message says which."""


class UpstreamClosed(Exception):
    """The upstream connection ended; ``code`` is its close code (1006 when none was sent)."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason or ""

    @property
    def clean(self) -> bool:
        return self.code == 1000


class Upstream(Protocol):
    async def send(self, text: str) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def aclose(self, code: int = 1000) -> None: ...


class UpstreamConnector(Protocol):
    """Opens upstream connections for calls; ``description`` never contains a secret."""

    @property
    def description(self) -> str: ...

    @property
    def dialect(self) -> Dialect: ...

    async def connect(self, nursery: trio.Nursery) -> Upstream: ...


def dialect_for_url(url: str) -> Dialect:
    """The dialect an endpoint speaks, from its URL form (see realtime-protocol.md).

    ``/openai/realtime?api-version=...`` is Azure's preview endpoint and speaks beta;
    ``/v1/realtime`` (OpenAI) and ``/openai/v1/realtime`` (Azure GA) speak GA.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/openai/realtime") or "api-version=" in parts.query:
        return Dialect.BETA
    return Dialect.GA


@attrs.define(eq=False)
class WebSocketUpstream:
    """A trio-websocket connection seen as an `Upstream`."""

    _ws: trio_websocket.WebSocketConnection

    async def send(self, text: str) -> None:
        try:
            await self._ws.send_message(text)
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def receive(self) -> str | bytes:
        try:
            message: str | bytes = await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None
        return message

    async def aclose(self, code: int = 1000) -> None:
        with trio.move_on_after(CLOSE_TIMEOUT):
            await self._ws.aclose(code)


def _closed(exc: trio_websocket.ConnectionClosed) -> UpstreamClosed:
    reason = exc.reason
    if reason is None:
        return UpstreamClosed(1006)
    return UpstreamClosed(int(reason.code), reason.reason)


@attrs.define(eq=False)
class WebSocketConnector:
    """Connects to a Realtime endpoint over WebSocket (ws:// or wss://)."""

    url: str
    auth: UpstreamAuth = attrs.field(factory=NoAuth, repr=False)
    connect_timeout: float = CONNECT_TIMEOUT
    dialect: Dialect = attrs.field()
    description: str = attrs.field()

    @dialect.default
    def _dialect_default(self) -> Dialect:
        return dialect_for_url(self.url)

    @description.default
    def _description_default(self) -> str:
        return shown_url(self.url)

    async def connect(self, nursery: trio.Nursery) -> Upstream:
        try:
            upstream: Upstream = await nursery.start(self._hold_connection)
        except trio.TooSlowError:
            raise UpstreamUnavailable(
                f"no answer from {self.description} within {self.connect_timeout:g} s"
            ) from None
        except trio_websocket.ConnectionRejected as exc:
            if exc.status_code in (401, 403):
                raise UpstreamUnavailable(
                    f"{self.description} rejected the relay's credentials "
                    f"(HTTP {exc.status_code}): check the API key or the identity's role"
                ) from None
            raise UpstreamUnavailable(
                f"{self.description} refused the connection (HTTP {exc.status_code})"
            ) from None
        except (OSError, trio_websocket.HandshakeError, trio.BrokenResourceError) as exc:
            raise UpstreamUnavailable(
                f"cannot connect to {self.description}: {exc or type(exc).__name__}"
            ) from None
        return upstream

    async def _hold_connection(
        self, *, task_status: trio.TaskStatus[Upstream] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Own one connection for its lifetime, in the nursery given to `connect`.

        Resource handling: the TCP (or TLS) stream is opened here and closed here, whatever
        happens; trio-websocket's own client helpers leave the socket of a refused handshake
        open.  The websocket's reader task runs in a nursery of ours, so a handshake failure it
        raises is turned into one plain exception for `connect` (through ``nursery.start``)
        instead of crashing the caller's nursery.  Once connected, the connection lives until
        that nursery is cancelled; a later failure reaches the call as `UpstreamClosed` from
        ``receive``, so it is only logged here.
        """
        parts = urlsplit(self.url)
        secure = parts.scheme == "wss"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        # An HTTP request target is never empty: a URL with no path means "/".
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        stream: trio.abc.Stream | None = None
        started = False
        try:
            with trio.fail_after(self.connect_timeout):
                headers = await self.auth.headers()
                # The TCP stream is the cheaper ReadinessSocketStream (app/fastpath), under TLS
                # too; otherwise this is what trio.open_ssl_over_tcp_stream does.
                stream = ReadinessSocketStream.wrap(await trio.open_tcp_stream(host, port))
                if secure:
                    stream = trio.SSLStream(
                        stream,
                        ssl.create_default_context(),
                        server_hostname=host,
                        https_compatible=True,
                    )
            async with trio.open_nursery() as nursery:
                with trio.fail_after(self.connect_timeout):
                    ws = await wrap_client_stream(
                        nursery,
                        stream,
                        host_and_port(parts),
                        resource,
                        extra_headers=headers,
                        max_message_size=MAX_UPSTREAM_MESSAGE,
                        receive_buffer_size=RECEIVE_BUFFER,
                        message_queue_size=MESSAGE_QUEUE,
                    )
                task_status.started(WebSocketUpstream(ws))
                started = True
                await trio.sleep_forever()
        except BaseExceptionGroup as group:
            if not started:
                raise _handshake_failure(group) from None
            cancelled, failures = group.split(trio.Cancelled)
            if failures is not None:
                log.warning("Upstream connection to %s ended: %r", self.description, failures)
            if cancelled is not None:
                raise cancelled from None
        finally:
            if stream is not None:
                await trio.aclose_forcefully(stream)


def _handshake_failure(group: BaseExceptionGroup) -> BaseException:
    """The one meaningful failure in a group raised while connecting (reader task + caller)."""
    expected = (trio_websocket.HandshakeError, OSError, trio.TooSlowError, trio.BrokenResourceError)
    for leaf in _leaves(group):
        if isinstance(leaf, expected):
            return leaf
    return group


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        leaves.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return leaves
