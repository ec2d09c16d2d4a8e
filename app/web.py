"""The HTTP side: pages, the admin JSON API, health and metrics (a quart-trio app).

Every admin route is behind `app.auth.check_admin`.  Handlers only translate HTTP to store calls;
the store owns querying and paging.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import trio
from quart import Response, request
from quart_trio import QuartTrio

from app.auth import AuthError, check_admin
from app.metrics import metrics_registry, render
from app.relay import Relay
from app.store.base import ConversationStore, StoreError

STATIC = Path(__file__).parent / "static"
MAX_PAGE = 100
READY_TIMEOUT = 2.0

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _problem(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The list view of a conversation: everything but the messages."""
    return {key: value for key, value in doc.items() if key != "messages"}


def _parse_time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date or time, got {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name} must include a time zone (e.g. 2026-11-25T00:00:00Z)")
    return parsed


def create_web(relay: Relay) -> QuartTrio:
    web = QuartTrio(__name__, static_folder=str(STATIC), static_url_path="/static")
    metrics = metrics_registry(relay)

    def store() -> ConversationStore:
        if relay.store is None:
            raise StoreError("the store is not open yet")
        return relay.store

    def admin(handler: F) -> F:
        @wraps(handler)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            client = request.scope.get("client")
            try:
                check_admin(
                    request.headers.get("authorization"),
                    client[0] if client else None,
                    relay.settings.admin_token,
                )
                return await handler(*args, **kwargs)
            except AuthError as exc:
                return _problem(exc.status, str(exc))
            except StoreError as exc:
                return _problem(503, f"the conversation store is unavailable: {exc}")
            except ValueError as exc:
                return _problem(400, str(exc))

        return guarded  # type: ignore[return-value]

    @web.get("/")
    async def index() -> Any:
        return await web.send_static_file("index.html")

    @web.get("/admin")
    async def admin_page() -> Any:
        return await web.send_static_file("admin.html")

    @web.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @web.get("/readyz")
    async def readyz() -> Response:
        if relay.registry.draining:
            return _json({"ready": False, "reason": "draining"}, 503)
        if not relay.ready or relay.store is None:
            return _json({"ready": False, "reason": "starting"}, 503)
        try:
            with trio.fail_after(READY_TIMEOUT):
                await relay.store.ping()
        except (StoreError, trio.TooSlowError) as exc:
            reason = str(exc) or "store did not answer in time"
            return _json({"ready": False, "reason": f"store: {reason}"}, 503)
        return _json({"ready": True, "store": relay.store.name})

    @web.get("/metrics")
    async def prometheus() -> Response:
        return Response(render(metrics), content_type="text/plain; version=0.0.4")

    @web.get("/api/admin/dashboard")
    @admin
    async def dashboard() -> Response:
        recorder = relay.recorder
        return _json(
            {
                "ai_conversations_count": await store().count(),
                "active_calls": relay.registry.active,
                "calls_started": relay.registry.calls_started,
                "calls_refused": relay.registry.calls_refused,
                "spool_pending": recorder.pending_count() if recorder else 0,
                "store": store().name,
                "upstream": relay.connector.description,
            }
        )

    @web.get("/api/admin/conversations")
    @admin
    async def conversations() -> Response:
        args = request.args
        limit_text = args.get("limit", "20")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE}")
        page = await store().recent(
            limit=int(limit_text),
            customer_id=args.get("customer_id") or None,
            continuation=args.get("continuation") or None,
        )
        return _json(
            {"items": [summary(doc) for doc in page.items], "continuation": page.continuation}
        )

    @web.get("/api/admin/conversations/<customer_id>/<doc_id>")
    @admin
    async def conversation(customer_id: str, doc_id: str) -> Response:
        doc = await store().get(customer_id, doc_id)
        if doc is None:
            return _problem(404, "no such conversation")
        return _json(doc)

    @web.get("/api/admin/export")
    @admin
    async def export() -> Response:
        since = _parse_time("since", request.args.get("since"))
        until = _parse_time("until", request.args.get("until"))
        documents = store().export(since=since, until=until)

        async def lines() -> AsyncIterator[bytes]:
            # aclosing: a client that goes away mid-download closes the store's page cursor.
            async with aclosing(documents):
                async for doc in documents:
                    yield (json.dumps(doc) + "\n").encode()

        return Response(lines(), content_type="application/x-ndjson")

    return web
