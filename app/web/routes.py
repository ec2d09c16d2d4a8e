"""The HTTP side: the two pages, health and metrics, and the admin JSON API (a quart-trio app).

The admin routes live in `app.web.admin_api`.  Every HTTP response carries the security headers of
`security_headers`: the pages are plain HTML loading the app's own ES modules and one style
sheet, so the Content-Security-Policy can forbid everything else (inline script and style,
other origins, framing); the one thing beyond ``'self'`` is the voice client's websocket back to
the host the page came from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from app.admission.relay import Relay
from app.web.admin_api import create_admin_api
from app.web.common import json_response
from app.web.live_api import create_live_api
from app.web.metrics import metrics_registry, render
from app.web.recording_api import create_recording_api

STATIC = Path(__file__).parent / "static"
#: Bound on the store ping whose result `/readyz` reports (in its body, never its status).
READY_TIMEOUT = 2.0
#: A store ping older than this is repeated by the next `/readyz`.
STORE_PROBE_MAX_AGE = 10.0

# A Host header we are willing to repeat in the policy: a name or address, and a port.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")

_POLICY = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    # The recording player on /admin: its <audio> fetches the recording route itself.
    "media-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=(), payment=(), usb=()",
}


def content_security_policy(host: str | None) -> str:
    """The policy for a page served to ``host`` (the request's Host header).

    ``connect-src 'self'`` covers ws:/wss: to the same host in CSP Level 3 browsers; the explicit
    ws:// and wss:// sources are for older ones.  A Host header that does not look like a host
    is left out rather than echoed.
    """
    connect = "connect-src 'self'"
    if host and _HOST.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    return "; ".join((*_POLICY, connect))


def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(request.host)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def create_web(relay: Relay) -> QuartTrio:
    web = QuartTrio(__name__, static_folder=str(STATIC), static_url_path="/static")
    # No redirect that merges "//" in a path: its Location would be built from the request's
    # Host header, which the client chooses (an open redirect to any host).  Such paths are 404.
    web.url_map.merge_slashes = False
    # Revalidate the pages' modules on every load (ETag), so an upgrade never mixes versions.
    web.config["SEND_FILE_MAX_AGE_DEFAULT"] = None
    metrics = metrics_registry(relay)
    web.after_request(security_headers)
    web.register_blueprint(create_admin_api(relay))
    web.register_blueprint(create_live_api(relay, relay.live))
    web.register_blueprint(create_recording_api(relay))

    @web.get("/")
    async def index() -> Any:
        return await web.send_static_file("index.html")

    @web.get("/admin")
    async def admin_page() -> Any:
        return await web.send_static_file("admin.html")

    @web.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    def not_ready(*, full_counts: bool) -> str | None:
        """Why this process is not ready (None: it is): starting, draining, or, when
        ``full_counts``, holding ``MAX_CALLS`` calls."""
        registry = relay.registry
        if registry.draining:
            return "draining"
        if not relay.ready:
            return "starting"
        if full_counts and registry.active >= registry.max_calls:
            return f"at its limit of {registry.max_calls} calls"
        return None

    @web.get("/readyz")
    async def readyz() -> Response:
        """Whether this process takes calls; the store's and spool's state are in the body only.

        A store outage must never take the voice down: the spool keeps every conversation, so
        a load balancer draining on this answer must not see the store at all.  For a load
        balancer in front of several instances: a full one (``MAX_CALLS``) fails it too.
        """
        registry = relay.registry
        reason = not_ready(full_counts=True)
        with trio.move_on_after(READY_TIMEOUT) as probe:
            await relay.store.probe(max_age=STORE_PROBE_MAX_AGE)
        if probe.cancelled_caught:
            relay.store.probe_timed_out(READY_TIMEOUT)
        body: dict[str, Any] = {
            "ready": reason is None,
            "active_calls": registry.active,
            "max_calls": registry.max_calls,
            "store": relay.store.status(),
            "spool": relay.recorder.spool_status(),
        }
        if reason is not None:
            body["reason"] = reason
        return json_response(body, 200 if reason is None else 503)

    @web.get("/readyz/platform")
    async def platform_readyz() -> Response:
        """Readiness for a platform's probe of the only replica (Container Apps, Kubernetes):
        ready unless starting or draining.

        A full relay stays in the ingress: new calls get their 503 from the endpoint, while the
        pages, the admin API and ``/metrics`` stay reachable exactly when the service is busiest.
        Cheap on purpose (no store ping): the platform asks every few seconds.
        """
        registry = relay.registry
        reason = not_ready(full_counts=False)
        body: dict[str, Any] = {
            "ready": reason is None,
            "active_calls": registry.active,
            "max_calls": registry.max_calls,
        }
        if reason is not None:
            body["reason"] = reason
        return json_response(body, 200 if reason is None else 503)

    @web.get("/metrics")
    async def prometheus() -> Response:
        return Response(render(metrics), content_type="text/plain; version=0.0.4")

    return web
