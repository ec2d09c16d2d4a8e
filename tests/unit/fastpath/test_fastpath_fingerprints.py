"""The fast-path adapters (app/fastpath) are pinned to the code they replace.

If trio, hypercorn or trio-websocket changes a function an adapter re-implements or relies on,
the fingerprint test fails and names it: re-read the new code, port the adapter (or drop it if
the upstream change in docs/upstream/ landed), then update the fingerprint.
"""

from __future__ import annotations

import hashlib
import inspect
import socket
from importlib.metadata import version
from typing import Any

import hypercorn.trio.run
import pytest
import trio
import trio_websocket
from hypercorn.trio.tcp_server import TCPServer
from trio._highlevel_socket import SocketStream
from trio._socket import _SocketType
from wsproto.frame_protocol import FrameProtocol, MessageDecoder

from app.fastpath import hypercorn_adapter, hypercorn_server, wsproto_decoder

ADAPTED_VERSIONS = {
    "trio": "0.35.0",
    "trio-websocket": "0.12.2",
    "hypercorn": "0.18.0",
    "wsproto": "1.3.2",
}

FINGERPRINTS: dict[tuple[Any, str], str] = {
    # ReadinessSocketStream replaces these two and reads _SocketType's _sock.
    (SocketStream, "receive_some"): (
        "94a55ee3c587ffa7e9fa9e4e21754ce7170765af5a969107d4ca97d037a8a946"
    ),
    (SocketStream, "send_all"): "df9f0a360b5bbd20d3b05f9bb9bc1f39fb03098f1786dcab975c9817c9955720",
    (_SocketType, "__init__"): "a8bf543c8bfd9ecf2af566a928e2389d69e298f1f7391c0c96a50148309efc9d",
    (_SocketType, "_nonblocking_helper"): (
        "9e896e3fb79e414017a1ade9972c4825d17bbdcf42656fe8c526fac2392da257"
    ),
    # app.fastpath.handoff: send is checkpoint_if_cancelled + send_nowait + a yield.
    (trio.MemorySendChannel, "send"): (
        "5d148d2d9afef24a4c09b989e0035f82bb51213564c743407c42b6933274c1b2"
    ),
    # RelayTCPServer.
    (TCPServer, "__init__"): "4c1d42457bc197b22f41b54b7dd6a79e195cdc037f9cc55f50e3e4332ebf6988",
    (TCPServer, "protocol_send"): (
        "225856426bff7be02990c0badb90f51f801db14ac5db0f3d0c210cafbeb528ab"
    ),
    (TCPServer, "_read_data"): "7ca747d922c65cf1fb6bd7ceabe82b0b51bb9de218ce159d7b7e093ec279f728",
    (hypercorn.trio.run, "worker_serve"): (
        "8dc8347a9fc357ca334f8c3e4bcf0368176510a96d434f21a5eb4c9ec4103726"
    ),
    # RelayWebSocketConnection and our wrap_client_stream.
    (trio_websocket.WebSocketConnection, "_send"): (
        "2c6048dd9c0d1f1fb38fa9b81ceb81f619ad81408717eb0da45c15cffc4c3a00"
    ),
    (trio_websocket.WebSocketConnection, "_handle_message_event"): (
        "dac74dc105d7a42ebb34c7a21b0c16c4baa09554a09edd1fcf131c414b0a64f3"
    ),
    (trio_websocket.WebSocketConnection, "__init__"): (
        "29c06a80f96dc90a33966411d7ab9cffb14dbbc31498f1243e35aa20488c0b7d"
    ),
    (trio_websocket, "wrap_client_stream"): (
        "e83f031906abdf2265afdfb4cccf75b928aed81193504d8f6da886d5328efdd5"
    ),
    # RelayMessageDecoder, and where FrameProtocol builds its decoder.
    (MessageDecoder, "process_frame"): (
        "665670eb3302d629355ff49083e2318ed5c544cfd7905bf5298c9a82aebd9f03"
    ),
    (FrameProtocol, "__init__"): (
        "037e847db237d08160293b3cc76833d97cb063a2a4e29f4425906f78ab9f4f84"
    ),
}


@pytest.mark.parametrize(("package", "expected"), list(ADAPTED_VERSIONS.items()))
def test_adapted_packages_are_the_adapted_versions(package: str, expected: str) -> None:
    assert version(package) == expected, f"{package} changed: review app/fastpath"


@pytest.mark.parametrize(("owner", "name"), list(FINGERPRINTS))
def test_adapted_code_is_unchanged(owner: Any, name: str) -> None:
    source = inspect.getsource(getattr(owner, name))
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == FINGERPRINTS[(owner, name)], (
        f"{getattr(owner, '__name__', owner)}.{name} changed: review app/fastpath"
    )


async def test_trio_sockets_still_wrap_a_stdlib_socket_as_sock() -> None:
    with trio.socket.socket() as sock:
        assert isinstance(sock._sock, socket.socket)  # type: ignore[attr-defined]


def test_install_puts_the_adapters_in_place() -> None:
    hypercorn_adapter.install()
    # Looked up by name: hypercorn.trio.run imports TCPServer without re-exporting it.
    assert vars(hypercorn.trio.run)["TCPServer"] is hypercorn_server.RelayTCPServer
    built = FrameProtocol(client=False, extensions=[])
    assert isinstance(built._message_decoder, wsproto_decoder.RelayMessageDecoder)
