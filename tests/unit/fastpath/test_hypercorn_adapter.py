"""The hypercorn adaptation: pinned, and doing what it claims over real sockets.

If hypercorn changes the code `app.fastpath.hypercorn_adapter` builds on, the fingerprint test
fails and
names the method: re-read it, port the adaptation, then update the fingerprint.  (The close-code
part is exercised end to end by tests/relay/test_lifecycle.py: 1000, 1001 and no close frame.)
"""

from __future__ import annotations

import hashlib
import inspect
from importlib.metadata import version
from pathlib import Path

import pytest
from hypercorn.protocol.ws_stream import Handshake, WSStream

from app.fastpath.hypercorn_adapter import ADAPTED_HYPERCORN_VERSION
from tests.support.harness import http_upgrade, relay_settings, running_relay

FINGERPRINTS = {
    (WSStream, "handle"): "743209f49012b8c7b57b89be980c662a254edf3bbf7de8f95a8f9943e92f6e7c",
    (WSStream, "_handle_events"): (
        "b90f3f595ff9fd4722f15769e9c40d113838a1deb6f3ecc0f63dc8ffc1d7f8e8"
    ),
    (WSStream, "_accept"): "144623ad2e13fc566be426323f5f072de97ffccb58c6a4fc1f344626c9f93be9",
    (Handshake, "accept"): "e163533bf79197932595723bec015f1665ff05081a3dec1c70fd6a3538bd2b1c",
}


def test_hypercorn_is_the_adapted_version() -> None:
    assert version("hypercorn") == ADAPTED_HYPERCORN_VERSION


@pytest.mark.parametrize(("cls", "name"), list(FINGERPRINTS))
def test_adapted_hypercorn_code_is_unchanged(cls: type, name: str) -> None:
    source = inspect.getsource(getattr(cls, name))
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == FINGERPRINTS[(cls, name)], (
        f"hypercorn's {cls.__name__}.{name} changed: review app/fastpath/hypercorn_adapter.py"
    )


@pytest.mark.parametrize("compression", [False, True])
async def test_permessage_deflate_follows_the_setting(tmp_path: Path, compression: bool) -> None:
    async with running_relay(relay_settings(tmp_path, ws_compression=compression)) as relay:
        answer = await http_upgrade(
            relay.port,
            "/api/realtime",
            Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits",
        )
        assert answer.status == 101
        await relay.wait_calls_ended()
    negotiated = answer.headers.get("sec-websocket-extensions", "")
    assert ("permessage-deflate" in negotiated) is compression
