"""The admin JSON API: dashboard figures, conversation listings, statistics and the export.

Every route is behind `app.admission.auth.check_admin`.  Handlers translate HTTP to store calls;
the store
owns querying and paging.

The dashboard's figures are independent: one the store cannot give (the count, or the
aggregates when the pass over the window fails) is ``null``, with the reason under
``unavailable``, and the others are still answered.

Aggregates (calls per day, average duration, interruption rate, tools, agents) are computed by
streaming ``store.export(since=...)`` through `app.web.analytics.CallStats` (shared with the
``python -m app stats`` command).  A bounded window keeps that pass affordable, and `StatsCache`
keeps its result while the store's count is unchanged, for at most `STATS_TTL` seconds, so a
dashboard refreshed by several operators costs one pass, not one per refresh.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from quart import Blueprint, Response, request

from app.admission.relay import Relay
from app.store.base import ConversationStore, StoreError
from app.web.analytics import CallStats, collect_stats
from app.web.common import (
    BadRequest,
    admin_refusal,
    json_response,
    parse_time,
    problem,
    whole_number,
)
from app.web.metrics import active_calls
from app.web.stats_cache import StatsCache

__all__ = ["CallStats", "StatsCache", "collect_stats", "create_admin_api"]

MAX_PAGE = 100
#: The dashboard's averages cover this many days (the count covers every stored conversation).
DASHBOARD_DAYS = 30
#: The longest window ``/api/admin/stats`` aggregates over.
MAX_STATS_DAYS = 92
#: The furthest time zones are UTC-12 and UTC+14.
MAX_UTC_OFFSET_MINUTES = 14 * 60
#: The dashboard's figures that come from one pass over the last `DASHBOARD_DAYS` days.
STATS_FIGURES = ("average_duration_seconds", "interruption_rate")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The list view of a conversation: everything but the messages."""
    return {key: value for key, value in doc.items() if key != "messages"}


def create_admin_api(relay: Relay) -> Blueprint:
    api = Blueprint("admin_api", __name__, url_prefix="/api/admin")
    cache = StatsCache()

    def store() -> ConversationStore:
        return relay.store

    def admin(handler: F) -> F:
        @wraps(handler)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            refused = admin_refusal(relay.settings.admin_token)
            if refused is not None:
                return refused
            try:
                return await handler(*args, **kwargs)
            except StoreError as exc:
                return problem(503, f"the conversation store is unavailable: {exc}")
            except BadRequest as exc:
                return problem(400, str(exc))

        return guarded  # type: ignore[return-value]

    @api.get("/dashboard")
    @admin
    async def dashboard() -> Response:
        """The figures, each computed on its own: one the store cannot give is ``null``, and
        ``unavailable`` maps its name to the reason (the rest are still shown)."""
        recorder = relay.recorder
        current = relay.store
        unavailable: dict[str, str] = {}
        count: int | None = None
        recent: CallStats | None = None
        try:
            count = await current.count()
        except StoreError as exc:
            unavailable["ai_conversations_count"] = f"the conversation store failed: {exc}"
        try:
            recent = await cache.get(
                current, days=DASHBOARD_DAYS, utc_offset=timedelta(0), count=count
            )
        except StoreError as exc:
            for name in STATS_FIGURES:
                unavailable[name] = f"the conversation store failed: {exc}"
        return json_response(
            {
                "ai_conversations_count": count,
                "active_calls": active_calls(relay),
                "calls_started": relay.registry.calls_started,
                "calls_refused": relay.registry.calls_refused,
                "spool_pending": recorder.pending_count(),
                "store": current.name,
                "store_state": current.status(),
                "spool": recorder.spool_status(),
                "upstream": relay.connector.description,
                "average_duration_seconds": recent.average_duration if recent else None,
                "interruption_rate": recent.interruption_rate if recent else None,
                "stats_days": DASHBOARD_DAYS,
                "unavailable": unavailable,
            }
        )

    @api.get("/stats")
    @admin
    async def stats() -> Response:
        args = request.args
        days = whole_number("days", args.get("days"), 14, 1, MAX_STATS_DAYS)
        offset = whole_number(
            "utc_offset_minutes",
            args.get("utc_offset_minutes"),
            0,
            -MAX_UTC_OFFSET_MINUTES,
            MAX_UTC_OFFSET_MINUTES,
        )
        count = await store().count()
        result = await cache.get(
            store(), days=days, utc_offset=timedelta(minutes=offset), count=count
        )
        return json_response(result.as_json())

    @api.get("/conversations")
    @admin
    async def conversations() -> Response:
        args = request.args
        limit = whole_number("limit", args.get("limit"), 20, 1, MAX_PAGE)
        try:
            page = await store().recent(
                limit=limit,
                customer_id=args.get("customer_id") or None,
                continuation=args.get("continuation") or None,
            )
        except ValueError as exc:  # the store's word for a continuation token it never issued
            raise BadRequest(str(exc)) from None
        return json_response(
            {"items": [summary(doc) for doc in page.items], "continuation": page.continuation}
        )

    @api.get("/conversations/<customer_id>/<doc_id>")
    @admin
    async def conversation(customer_id: str, doc_id: str) -> Response:
        doc = await store().get(customer_id, doc_id)
        if doc is None:
            return problem(404, "no such conversation")
        return json_response(doc)

    @api.get("/export")
    @admin
    async def export() -> Response:
        since = parse_time("since", request.args.get("since"))
        until = parse_time("until", request.args.get("until"))
        if since is not None and until is not None and since > until:
            raise BadRequest("since must not be after until")
        documents = store().export(since=since, until=until)

        async def lines() -> AsyncIterator[bytes]:
            # aclosing: a client that goes away mid-download closes the store's page cursor.
            async with aclosing(documents):
                async for doc in documents:
                    yield (json.dumps(doc) + "\n").encode()

        return Response(
            lines(),
            content_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="conversations.ndjson"'},
        )

    return api
