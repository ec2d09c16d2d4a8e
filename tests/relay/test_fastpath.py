"""The fast-path adapters keep trio's stream contract, over real loopback sockets.

`ReadinessSocketStream` must behave as `trio.SocketStream` does: bytes intact and in order (also
when the kernel takes a send only in parts), EOF as ``b""``, cancellation before anything is sent,
closed and broken streams as trio's exceptions.  `RelayTCPServer.protocol_send` must never
interleave two frames, and `RelayWebSocketConnection` must deliver large and small messages
intact and in order.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
from hypercorn.config import Config
from hypercorn.events import Closed, RawData

from app.fastpath import handoff
from app.fastpath.hypercorn_server import RelayTCPServer
from app.fastpath.socket_stream import ReadinessSocketStream
from app.fastpath.websocket_client import RelayWebSocketConnection, wrap_client_stream

IO_TIMEOUT = 10.0
# Far more than a loopback connection's send and receive buffers together (tcp_wmem and
# tcp_rmem allow 4 + 6 MiB at most by default): the kernel takes it in parts and the sender waits.
LARGE = 32 * 1024 * 1024


@asynccontextmanager
async def connected_pair() -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream]]:
    """A client and a server `trio.SocketStream` joined over 127.0.0.1."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with listeners[0]:
        client = await trio.open_tcp_stream("127.0.0.1", port)
        server = await listeners[0].accept()
        assert isinstance(server, trio.SocketStream)
        async with client, server:
            yield client, server


async def read_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    received = bytearray()
    while len(received) < size:
        chunk = await stream.receive_some(65536)
        assert chunk, "the peer closed early"
        received += chunk
    return bytes(received)


async def test_wrap_replaces_only_plain_socket_streams() -> None:
    async with connected_pair() as (client, _):
        fast = ReadinessSocketStream.wrap(client)
        assert isinstance(fast, ReadinessSocketStream)
        assert ReadinessSocketStream.wrap(fast) is fast
        assert fast.socket is client.socket


async def test_large_and_small_payloads_arrive_intact_and_in_order() -> None:
    payload = os.urandom(LARGE)
    async with connected_pair() as (client, server):
        sender = ReadinessSocketStream(client)
        receiver = ReadinessSocketStream(server)
        with trio.fail_after(IO_TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender.send_all, payload)
                assert await read_exactly(receiver, LARGE) == payload
            await sender.send_all(b"tail")
            assert await read_exactly(receiver, 4) == b"tail"


async def test_eof_reads_as_empty_bytes() -> None:
    async with connected_pair() as (client, server):
        receiver = ReadinessSocketStream(server)
        await ReadinessSocketStream(client).send_eof()
        with trio.fail_after(IO_TIMEOUT):
            assert await receiver.receive_some() == b""
        with pytest.raises(ValueError, match="max_bytes"):
            await receiver.receive_some(0)


async def test_two_senders_at_once_is_a_busy_error() -> None:
    async with connected_pair() as (client, server):
        sender = ReadinessSocketStream(client)
        with trio.fail_after(IO_TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender.send_all, os.urandom(LARGE))
                await trio.testing.wait_all_tasks_blocked()  # the first waits for room
                with pytest.raises(trio.BusyResourceError):
                    await sender.send_all(b"x")
                await read_exactly(server, LARGE)


async def test_a_cancelled_send_sends_nothing() -> None:
    async with connected_pair() as (client, server):
        sender = ReadinessSocketStream(client)
        with trio.CancelScope() as scope:
            scope.cancel()
            await sender.send_all(b"never")
        assert scope.cancelled_caught
        await sender.send_all(b"sent")
        with trio.fail_after(IO_TIMEOUT):
            assert await read_exactly(server, 4) == b"sent"


async def test_a_waiting_receive_can_be_cancelled_and_the_stream_reused() -> None:
    async with connected_pair() as (client, server):
        receiver = ReadinessSocketStream(server)
        with trio.fail_after(IO_TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(receiver.receive_some)
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
            await client.send_all(b"after")
            assert await read_exactly(receiver, 5) == b"after"


async def test_closed_and_broken_streams_raise_trios_errors() -> None:
    async with connected_pair() as (client, server):
        fast = ReadinessSocketStream(client)
        await fast.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await fast.send_all(b"x")
        with pytest.raises(trio.ClosedResourceError):
            await fast.receive_some()
    async with connected_pair() as (client, server):
        fast = ReadinessSocketStream(client)
        server.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        await server.aclose()  # linger 0: the peer is reset
        with trio.fail_after(IO_TIMEOUT), pytest.raises(trio.BrokenResourceError):
            for _ in range(100):
                await fast.send_all(b"x" * 65536)
                await trio.lowlevel.checkpoint()


class RecordingProtocol:
    """Stands in for hypercorn's protocol: records what the server tells it."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def handle(self, event: Any) -> None:
        self.events.append(event)


def tcp_server(stream: trio.SocketStream) -> tuple[RelayTCPServer, RecordingProtocol]:
    """A server on ``stream`` whose protocol is a recording stand-in."""
    server = RelayTCPServer(None, Config(), None, None, stream)
    protocol = RecordingProtocol()
    server.protocol = protocol  # type: ignore[assignment]  # duck-typed: only handle() is called
    return server, protocol


async def test_tcp_server_never_interleaves_two_frames() -> None:
    first, second = os.urandom(LARGE), os.urandom(4096)
    async with connected_pair() as (client, server_side):
        server, protocol = tcp_server(server_side)
        assert isinstance(server.stream, ReadinessSocketStream)
        with trio.fail_after(IO_TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server.protocol_send, RawData(first))
                await trio.testing.wait_all_tasks_blocked()  # the first holds the lock
                nursery.start_soon(server.protocol_send, RawData(second))
                received = await read_exactly(client, len(first) + len(second))
        assert received == first + second
        assert protocol.events == []


async def test_tcp_server_send_is_cancellable_before_it_sends() -> None:
    async with connected_pair() as (client, server_side):
        server, _ = tcp_server(server_side)
        with trio.CancelScope() as scope:
            scope.cancel()
            await server.protocol_send(RawData(b"never"))
        assert scope.cancelled_caught
        await server.protocol_send(RawData(b"sent"))
        with trio.fail_after(IO_TIMEOUT):
            assert await read_exactly(client, 4) == b"sent"


async def test_tcp_server_reports_a_closed_stream_to_the_protocol() -> None:
    async with connected_pair() as (_, server_side):
        server, protocol = tcp_server(server_side)
        await server.stream.aclose()
        await server.protocol_send(RawData(b"x"))
        assert [type(e) for e in protocol.events] == [Closed]


async def test_websocket_client_delivers_large_and_small_messages_in_order() -> None:
    large = os.urandom(2 * 1024 * 1024).hex()  # 4 MiB of text

    async def echo(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        while True:
            try:
                await ws.send_message(await ws.get_message())
            except trio_websocket.ConnectionClosed:
                return

    with trio.fail_after(IO_TIMEOUT * 3):
        async with trio.open_nursery() as nursery:
            serve = partial(trio_websocket.serve_websocket, max_message_size=LARGE * 2)
            server = await nursery.start(serve, echo, "127.0.0.1", 0, None)
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with stream:
                ws = await wrap_client_stream(
                    nursery,
                    ReadinessSocketStream.wrap(stream),
                    f"127.0.0.1:{server.port}",
                    "/",
                    message_queue_size=4,
                    max_message_size=LARGE * 2,
                    receive_buffer_size=65536,
                )
                assert isinstance(ws, RelayWebSocketConnection)
                async with trio.open_nursery() as senders:
                    senders.start_soon(ws.send_message, large)
                    await trio.testing.wait_all_tasks_blocked()
                    senders.start_soon(ws.send_message, "small")
                assert await ws.get_message() == large
                assert await ws.get_message() == "small"
                await ws.aclose()
            nursery.cancel_scope.cancel()


async def test_handoff_put_queues_without_waiting_and_waits_when_full() -> None:
    send, receive = trio.open_memory_channel[int](1)
    async with send, receive:
        await handoff.put(send.send, 1)  # room: queued at once
        with trio.fail_after(IO_TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(handoff.put, send.send, 2)
                await trio.testing.wait_all_tasks_blocked()
                assert send.statistics().tasks_waiting_send == 1  # full: it waits
                assert [await receive.receive(), await receive.receive()] == [1, 2]


async def test_handoff_put_to_a_closed_channel_raises_as_send_does() -> None:
    send, receive = trio.open_memory_channel[int](1)
    await receive.aclose()
    with pytest.raises(trio.BrokenResourceError):
        await handoff.put(send.send, 1)
    await send.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await handoff.put(send.send, 1)


async def test_websocket_client_queue_stays_bounded() -> None:
    """A reader that stops reading holds back the model: the queue never exceeds its size."""
    sent = trio.Event()

    async def burst(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        for i in range(50):
            await ws.send_message(f"message {i}")
        sent.set()
        await ws.get_message()  # until the client closes

    with trio.fail_after(IO_TIMEOUT * 3):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                trio_websocket.serve_websocket, burst, "127.0.0.1", 0, None
            )
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with stream:
                ws = await wrap_client_stream(
                    nursery,
                    ReadinessSocketStream.wrap(stream),
                    f"127.0.0.1:{server.port}",
                    "/",
                    message_queue_size=2,
                    max_message_size=1024,
                    receive_buffer_size=65536,
                )
                await sent.wait()  # all 50 are on their way (they fit the socket buffers)
                await trio.testing.wait_all_tasks_blocked()
                assert ws._send_channel.statistics().current_buffer_used == 2
                received = [await ws.get_message() for _ in range(50)]
                assert received == [f"message {i}" for i in range(50)]
                await ws.aclose()
            nursery.cancel_scope.cancel()
