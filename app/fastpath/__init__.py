"""Narrow adaptations of the network stack for the per-frame hot path (see docs/upstream/).

Each module replaces one piece of trio, hypercorn, trio-websocket or wsproto that the relay's
profile showed per frame, keeps its contract, and is pinned by
tests/unit/fastpath/test_fastpath_fingerprints.py.
"""

from __future__ import annotations

from app.fastpath import hypercorn_server, wsproto_decoder


def install() -> None:
    """Install the adapters that work by replacing a name in a library module.  Idempotent.

    (The socket stream and the upstream connection class are used directly by app.model.upstream.)
    """
    hypercorn_server.install()
    wsproto_decoder.install()
