"""An upstream URL as it may be shown or sent as a ``Host``: never with its credentials.

An operator may write ``wss://user:password@host/...`` into ``REALTIME_UPSTREAM_URL``; the
relay authenticates with headers only (``api-key`` / ``Authorization``), so the user-info part is
never needed, and it must not reach a caller's error event, the admin dashboard, the start-up
banner, a log line or the upstream's ``Host`` header.  The query is left out of what is shown too
(it may carry a key).  Pure.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

__all__ = ["host_and_port", "shown_url"]


def host_and_port(parts: SplitResult) -> str:
    """``host[:port]`` of a split URL, without any ``user:password@``."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    try:
        port = parts.port
    except ValueError:
        port = None
    return host if port is None else f"{host}:{port}"


def shown_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: what the relay says about where it connects."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{host_and_port(parts)}{parts.path}"
