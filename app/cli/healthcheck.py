"""``python -m app healthcheck``: exit 0 when the relay on this machine answers ``/healthz``.

The container's ``HEALTHCHECK``: a slim image has no curl, and this needs nothing but the
standard library and the settings the server itself reads (``HOST``, ``PORT``).  It imports
none of the server, so running it every half minute costs little.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from typing import Any

from app.cli._common import load_settings

HELP = "exit 0 if the relay on HOST:PORT answers /healthz (the container's health check)"
#: Seconds the relay has to answer; a container engine's own timeout should be longer.
HEALTHCHECK_TIMEOUT = 5.0
#: A server bound to every address is asked on the loopback one.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("healthcheck", help=HELP, description=HELP[0].upper() + HELP[1:])
    parser.add_argument(
        "--path",
        default="/healthz",
        help="the path to ask (default /healthz; /readyz asks whether this process takes calls)",
    )
    parser.set_defaults(handler=run)


def health_url(host: str, port: int, path: str) -> str:
    host = _ANY_ADDRESS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    url = health_url(settings.host, settings.port, args.path)
    # No proxy: HTTP_PROXY in the container's environment must not reroute a loopback check.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=HEALTHCHECK_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"unhealthy: {url}: {reason}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered HTTP {status}", file=sys.stderr)
        return 1
    return 0
