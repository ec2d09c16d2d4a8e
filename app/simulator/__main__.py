"""``python -m app.simulator --port N [--host 127.0.0.1]``: run the simulator as a server.

Prints one line, ``simulator listening on ws://HOST:PORT``, once it accepts connections (with
``--port 0`` the port is the one picked), and stops cleanly, exit status 0, on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

import trio

from app.simulator.server import serve

DEFAULT_PORT = 8765


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.simulator", description="Deterministic fake Realtime model server."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port, 0 picks a free one (default %(default)s)",
    )
    args = parser.parse_args(argv)
    trio.run(_serve_until_signalled, args.host, args.port)
    return 0


async def _serve_until_signalled(host: str, port: int) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            actual = await nursery.start(serve, host, port)
            shown = f"[{host}]" if ":" in host else host
            print(f"simulator listening on ws://{shown}:{actual}", flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    sys.exit(main())
